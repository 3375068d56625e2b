"""Training: a short real run whose loss falls, resume after interruption, metadata, limits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.datasets import open_dataset, read_name_list
from engine.errors import UserError
from engine.metrics import summarize
from engine.models.checkpoint import load_checkpoint
from engine.signals_cache import load_dataset_signals
from engine.training import DUPLICATES, TrainConfig, _balanced_index, evaluate_signals, train

CPU = torch.device("cpu")


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: one intra-op thread



def _run(data, out, cfg, **kw):
    reports = []
    best = train(*data, cfg, str(out), device=CPU, progress=reports.append, **kw)
    return best, reports


def test_balancing_duplicates_af_and_noisy():
    assert DUPLICATES == {"N": 1, "A": 2, "O": 1, "~": 6}
    idx = _balanced_index(["N", "A", "O", "~"])
    assert np.bincount(idx).tolist() == [1, 2, 1, 6]


def test_short_run_loss_falls_and_metadata(sample_data, tmp_path):
    out = tmp_path / "m.safetensors"
    cfg = TrainConfig(epochs=4, batch_size=8, lr=3e-3, seed=0)
    best, reports = _run(sample_data, out, cfg, provenance={"dataset": "resources/samples", "command": "test"})
    assert [r.epoch for r in reports] == [1, 2, 3, 4]
    losses = [r.train_loss for r in reports]
    assert all(np.isfinite(losses))
    assert losses[-1] < losses[0], losses
    for r in reports:
        assert r.epochs == 4 and r.elapsed_s > 0 and r.eta_s >= 0 and set(r.val) >= {"accuracy", "f1_mean_nao"}
    assert reports[-1].eta_s == 0
    # the kept checkpoint is the best epoch's, with provenance and metrics
    clf = load_checkpoint(out)
    t = clf.meta["training"]
    assert t["dataset"] == "resources/samples" and t["command"] == "test"
    for key in ("epochs_planned", "best_epoch", "batch_size", "lr", "seed", "train_records", "val_records",
                "app_version", "device", "train_time_s", "epochs_run", "balancing", "optimizer"):
        assert key in t, key
    assert t["epochs_run"] == 4 and t["train_records"] == 8 and t["val_records"] == 4
    best_epoch = max(reports, key=lambda r: (r.val["f1_mean_nao"], -r.epoch)).epoch
    assert t["best_epoch"] == best_epoch == clf.meta["metrics"]["epoch"]
    assert clf.meta["metrics"]["validation"] == best
    assert best["f1_mean_nao"] == pytest.approx(max(r.val["f1_mean_nao"] for r in reports))
    # re-evaluating the kept weights reproduces the stored validation result
    probs = evaluate_signals(clf, sample_data[2])
    again = summarize(sample_data[3], [clf.classes[i] for i in probs.argmax(1)])
    assert again["confusion"] == best["confusion"]
    assert not (tmp_path / "m.safetensors.resume.pt").exists()


def test_resume_after_interruption(sample_data, tmp_path):
    out = tmp_path / "r.safetensors"
    resume = tmp_path / "r.safetensors.resume.pt"
    cfg = TrainConfig(epochs=3, batch_size=8, seed=1)
    stop = {"flag": False}
    first = []

    def progress(r):
        first.append(r.epoch)
        stop["flag"] = True  # interrupt as soon as epoch 1 is done

    with pytest.raises(KeyboardInterrupt):
        train(*sample_data, cfg, str(out), device=CPU, progress=progress, should_stop=lambda: stop["flag"])
    assert first == [1]
    assert resume.is_file() and out.is_file()
    state = torch.load(resume, map_location="cpu", weights_only=True)
    assert state["epoch"] == 1
    # without --overwrite, an existing output is only accepted when resuming it
    with pytest.raises(UserError, match="already exists"):
        train(*sample_data, cfg, str(out), device=CPU, resume=False)
    best, reports = _run(sample_data, out, cfg)
    assert [r.epoch for r in reports] == [2, 3]  # continued, did not start over
    assert reports[-1].elapsed_s >= state["spent_s"]
    assert not resume.exists()
    clf = load_checkpoint(out)
    assert clf.meta["training"]["epochs_run"] == 3
    assert best and "f1_mean_nao" in best and clf.meta["metrics"]["validation"] == best


def test_resume_refuses_a_run_of_other_settings_or_data(sample_data, tmp_path):
    """An interrupted run is continued only with its own recipe and data: another learning rate,
    augmentation or validation split would silently mix two runs in one checkpoint and card.
    How long it runs (epochs, time budget) may change."""
    out = tmp_path / "m.safetensors"
    resume = tmp_path / "m.safetensors.resume.pt"
    cfg = TrainConfig(epochs=3, batch_size=8, seed=1)
    stop = {"flag": False}

    def progress(r):
        stop["flag"] = True

    with pytest.raises(KeyboardInterrupt):
        train(*sample_data, cfg, str(out), device=CPU, progress=progress, should_stop=lambda: stop["flag"])
    before = resume.read_bytes()
    tx, ty, vx, vy = sample_data
    for other, data, frag in [(TrainConfig(epochs=3, batch_size=8, seed=1, lr=3e-4), sample_data, "lr 0.001 now 0.0003"),
                              (TrainConfig(epochs=3, batch_size=8, seed=1, augment=("noise",)), sample_data, "augment"),
                              (cfg, (tx[:-1], ty[:-1], vx, vy), "train_counts")]:
        with pytest.raises(UserError, match=frag) as info:
            train(*data, other, str(out), device=CPU)
        assert "--no-resume" in str(info.value)
        assert resume.read_bytes() == before  # nothing was trained or written
    best, reports = _run(sample_data, out, TrainConfig(epochs=4, batch_size=8, seed=1))  # longer: accepted
    assert [r.epoch for r in reports] == [2, 3, 4]


def test_fine_tuning_keeps_the_starting_checkpoints_widths_and_depth(sample_data, tmp_path):
    """--init of a narrower/deeper checkpoint without repeating --channels/--depth builds that
    network (it failed with 'weights do not fit'); the new checkpoint records them."""
    first = tmp_path / "a.safetensors"
    args = {"channels": [8, 8, 12], "depth": 2}
    _run(sample_data, first, TrainConfig(arch="default-whole", epochs=1, batch_size=8, arch_args=args))
    second = tmp_path / "b.safetensors"
    _run(sample_data, second, TrainConfig(arch="default-whole", epochs=1, batch_size=8, init=str(first), lr=1e-4))
    clf = load_checkpoint(second)
    assert clf.meta["arch_args"] == args and clf.meta["training"]["init"].startswith("a.safetensors")
    # widths given that do not fit the starting weights are still refused
    with pytest.raises(UserError, match="do not fit"):
        train(*sample_data, TrainConfig(arch="default-whole", epochs=1, batch_size=8, init=str(first),
                                        arch_args={"channels": [8, 8, 16]}), str(tmp_path / "c.safetensors"),
              device=CPU)


def test_stale_resume_file_is_a_clear_error(sample_data, tmp_path):
    out = tmp_path / "s.safetensors"
    torch.save({"model": {"x": torch.zeros(2)}, "opt": {}, "epoch": 1, "best_f1": 0.1, "best_epoch": 1},
               str(out) + ".resume.pt")
    with pytest.raises(UserError, match="resume"):
        train(*sample_data, TrainConfig(epochs=2, batch_size=8), str(out), device=CPU)


def test_time_limit_stops_early(sample_data, tmp_path):
    out = tmp_path / "t.safetensors"
    best, reports = _run(sample_data, out, TrainConfig(epochs=50, batch_size=4, max_minutes=0.0005))
    assert 1 <= len(reports) < 50
    assert load_checkpoint(out).meta["training"]["epochs_run"] == len(reports)


def test_refuses_bad_training_data(sample_data, tmp_path):
    tx, ty, vx, vy = sample_data
    with pytest.raises(UserError, match="unknown class"):
        train(tx, ty[:-1] + ["X"], vx, vy, TrainConfig(epochs=1), str(tmp_path / "a.safetensors"), device=CPU)
    with pytest.raises(UserError, match="both the training and validation"):
        train(tx, ty, [], [], TrainConfig(epochs=1), str(tmp_path / "b.safetensors"), device=CPU)
    (tmp_path / "c.safetensors").write_bytes(b"keep")
    with pytest.raises(UserError, match="already exists"):
        train(tx, ty, vx, vy, TrainConfig(epochs=1), str(tmp_path / "c.safetensors"), device=CPU)
    assert (tmp_path / "c.safetensors").read_bytes() == b"keep"


@pytest.mark.shared
def test_short_run_on_shared_records(physionet, tmp_path):
    """40 real training records (stratified by hand: all classes), 3 epochs: the loss falls."""
    ds = open_dataset(physionet)
    by = {c: [n for n in read_name_list(physionet / "RECORDS") if ds.label(n) == c] for c in "NAO~"}
    tr = by["N"][:16] + by["A"][:8] + by["O"][:10] + by["~"][:6]
    va = by["N"][16:20] + by["A"][8:10] + by["O"][10:13] + by["~"][6:8]
    sigs = load_dataset_signals(ds, tr + va, 300.0)
    data = (sigs[:40], [ds.label(n) for n in tr], sigs[40:], [ds.label(n) for n in va])
    best, reports = _run(data, tmp_path / "sh.safetensors", TrainConfig(epochs=3, batch_size=16, lr=3e-3))
    losses = [r.train_loss for r in reports]
    assert len(losses) == 3 and losses[-1] < losses[0], losses
    assert best["n"] == 11


def test_thread_chooser_keeps_the_faster_setting(monkeypatch):
    from engine.training import ThreadChooser

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("ECGADV_THREADS", raising=False)
    torch.set_num_threads(2)
    for fast in (1, 2):
        ch = ThreadChooser(CPU, probe=4)
        seen = []
        for i in range(6):
            ch.before(i)
            seen.append(torch.get_num_threads())
            ch.after(i, 1.0 if torch.get_num_threads() == fast else 5.0, 100)
        assert seen[:4] == [1, 2, 1, 2] and seen[4:] == [fast, fast] and ch.chosen == fast
        ch.restore()
        assert torch.get_num_threads() == 2
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # the user's explicit choice is left alone
    ch = ThreadChooser(CPU)
    for i in range(6):
        ch.before(i)
        assert torch.get_num_threads() == 2
    assert ThreadChooser(torch.device("meta")).options == []


def test_train_refuses_a_bad_init_or_fp16_on_cpu_before_reading_records(capsys, tmp_path):
    """`train --init <not a checkpoint>`, `--init <another architecture>` and `--amp fp16` on a CPU
    were refused only after every record had been read (minutes on the full dataset)."""
    from conftest import ROOT, SAMPLES, cli_inproc

    text = tmp_path / "notes.safetensors"
    text.write_text("not a checkpoint")
    fixed = ROOT / "resources" / "models" / "default.safetensors"  # a fixed-30-s 'default' model, not default-whole
    for extra, frag in ((["--init", text], "notes.safetensors"),
                        (["--init", fixed, "--arch", "default-whole"], "is a 'default' model"),
                        (["--amp", "fp16", "--device", "cpu"], "fp16")):
        rc, out, err = cli_inproc(capsys, "train", SAMPLES, "--out", tmp_path / "m.safetensors", "--epochs", "1",
                                  *extra)
        assert rc == 2 and frag in err, err
        assert "reading" not in err, err  # refused before the records were read
        assert not (tmp_path / "m.safetensors").exists()
