"""train --ema (a moving average of the weights is validated and kept) and --init (fine-tuning)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from engine.errors import UserError
from engine.models import build
from engine.models.checkpoint import load_checkpoint
from engine.training import TrainConfig, evaluate_signals, train
from engine.weight_average import WeightAverage, init_from

CPU = torch.device("cpu")


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: one intra-op thread



def test_average_follows_the_formula_with_warm_up():
    net = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    avg = WeightAverage(net, 0.9)
    start = copy.deepcopy(net.state_dict())
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    net.train()
    net(torch.randn(8, 3))  # moves BatchNorm's running statistics and its batch counter
    avg.update(net)
    d = min(0.9, 2 / 11)  # the warm-up decay of the first update
    for k, v in avg.module.state_dict().items():
        cur = net.state_dict()[k]
        if v.dtype.is_floating_point:
            assert torch.allclose(v, d * start[k] + (1 - d) * cur), k
        else:
            assert torch.equal(v, cur), k  # integer buffers are copied
    assert not any(p.requires_grad for p in avg.module.parameters())
    st = avg.state_dict()
    other = WeightAverage(nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2)), 0.9)
    other.load_state_dict(st)
    assert other.updates == 1 and all(torch.equal(a, b) for a, b in zip(
        other.module.state_dict().values(), avg.module.state_dict().values()))


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.5, 2.0])
def test_bad_decay_is_refused(decay):
    with pytest.raises(UserError, match="decay"):
        WeightAverage(nn.Linear(2, 2), decay)


def test_kept_weights_are_the_average(sample_data, tmp_path):
    out = tmp_path / "e.safetensors"
    best = train(*sample_data, TrainConfig(epochs=2, batch_size=8, seed=0, ema=0.9), str(out), device=CPU)
    clf = load_checkpoint(out)
    assert clf.meta["training"]["ema"] == 0.9
    probs = evaluate_signals(clf, sample_data[2])  # the stored metrics are those of the saved (averaged) weights
    assert [clf.classes[i] for i in probs.argmax(1)] is not None
    from engine.metrics import summarize

    assert summarize(sample_data[3], [clf.classes[i] for i in probs.argmax(1)])["confusion"] == best["confusion"]
    plain = tmp_path / "p.safetensors"
    train(*sample_data, TrainConfig(epochs=2, batch_size=8, seed=0), str(plain), device=CPU)
    a, b = load_checkpoint(out).module.state_dict(), load_checkpoint(plain).module.state_dict()
    assert any(not torch.equal(a[k], b[k]) for k in a)  # not the raw weights
    assert "moving average" in (tmp_path / "e.md").read_text()


def test_resume_keeps_the_average(sample_data, tmp_path):
    out = tmp_path / "r.safetensors"
    stop = {"flag": False}

    def progress(r):
        stop["flag"] = True

    cfg = TrainConfig(epochs=2, batch_size=8, seed=1, ema=0.95)
    with pytest.raises(KeyboardInterrupt):
        train(*sample_data, cfg, str(out), device=CPU, progress=progress, should_stop=lambda: stop["flag"])
    st = torch.load(str(out) + ".resume.pt", map_location="cpu", weights_only=True)
    assert int(st["ema"]["updates"]) > 0
    train(*sample_data, cfg, str(out), device=CPU)
    assert load_checkpoint(out).meta["training"]["epochs_run"] == 2


def test_init_copies_weights_and_names_the_source(sample_data, tmp_path):
    src = tmp_path / "src.safetensors"
    train(*sample_data, TrainConfig(epochs=1, batch_size=8, seed=0), str(src), device=CPU)
    net = build("default")
    text = init_from(net, str(src), "default")
    assert text.startswith("src.safetensors (weights fingerprint ")
    want = load_checkpoint(src).module.state_dict()
    assert all(torch.equal(v, want[k]) for k, v in net.state_dict().items())
    with pytest.raises(UserError, match="is a 'default' model"):
        init_from(build("default-whole"), str(src), "default-whole")
    with pytest.raises(UserError, match="no such model file"):
        init_from(net, str(tmp_path / "missing.safetensors"), "default")
    # a fine-tuning run starts from the source (its first epoch's loss is far below a fresh start's)
    out = tmp_path / "ft.safetensors"
    train(*sample_data, TrainConfig(epochs=1, batch_size=8, seed=0, init=str(src), lr=1e-6), str(out), device=CPU)
    ft = load_checkpoint(out)
    assert "src.safetensors" in ft.meta["training"]["init"]
    params = dict(ft.module.named_parameters())  # (BatchNorm statistics move in training mode whatever the lr)
    assert all(torch.allclose(p, want[k], atol=1e-4) for k, p in params.items())  # lr 1e-6: barely moved
    fresh = dict(build("default").named_parameters())
    assert not all(torch.allclose(p, params[k], atol=1e-4) for k, p in fresh.items())


def test_card_command_records_the_options_that_change_the_run():
    from engine.cli import build_parser
    from engine.cli.core import train_request

    args = build_parser().parse_args(["train", "d", "--out", "/x/m.safetensors", "--lr", "0.0003", "--batch-size", "32",
                                      "--ema", "0.998", "--init", "/abs/path/default.safetensors"])
    argv = train_request(args).command.split()
    for pair in (["--lr", "0.0003"], ["--batch-size", "32"], ["--ema", "0.998"], ["--init", "default.safetensors"]):
        assert any(argv[i:i + 2] == pair for i in range(len(argv))), (pair, argv)
    assert not any("/abs/" in a or "/x/" in a for a in argv)  # no machine paths in the model card
