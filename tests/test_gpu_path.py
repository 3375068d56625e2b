"""The GPU path of training (engine.training_gpu), run on CPU: data resident on the device, the
same examples as the CPU path, mixed precision (bf16 autocast), validation each epoch, best
checkpoint and model card; plus the GPU benchmark's CPU behaviour."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import ROOT, SAMPLE_NAMES, SAMPLES, assert_user_error, run_bench, run_cli

from engine.datasets import CLASSES
from engine.errors import UserError
from engine.metrics import summarize
from engine.models.checkpoint import load_checkpoint
from engine.training import TrainConfig, _random_window, card_path_for, train
from engine.training_gpu import ResidentData, amp_setup, centred

CPU = torch.device("cpu")
SMALL = {"channels": [8, 8], "kernel": 5}  # a small default CNN: the same path, fast on CPU


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: one intra-op thread



def test_resident_batches_are_the_cpu_paths_examples():
    """Same rng, same draws: windows of long records, placements of short ones, the gain."""
    L, upm = 1000, 1000.0
    rs = np.random.default_rng(1)
    sigs = [rs.standard_normal(n).astype(np.float32) for n in (400, 999, 1000, 1001, 1700, 2000)]
    data = ResidentData(sigs, L, upm, CPU)
    idx = np.array([5, 0, 3, 3, 1, 4, 2])
    for seed in range(5):
        got = data.batch(idx, np.random.default_rng(seed), 0.15).numpy()
        r2 = np.random.default_rng(seed)
        want = np.stack([_random_window(sigs[i], L, r2) for i in idx])
        want *= (1.0 + 0.15 * r2.uniform(-1, 1, size=(len(idx), 1))).astype(np.float32)
        np.testing.assert_allclose(got, want * upm, rtol=1e-6, atol=1e-3)
    # a record longer than two input lengths keeps its central two lengths
    long = np.arange(5000, dtype=np.float32)
    d = ResidentData([long], L, 1.0, CPU)
    assert d.x.shape == (1, 2 * L) and d.x[0, 0] == 1500 and d.x[0, -1] == 3499
    # validation rows: centred as inference places them, in model units
    v = centred([sigs[0], sigs[4]], L, upm, CPU).numpy()
    assert v.shape == (2, L) and v[0, :300].sum() == 0 and np.allclose(v[0, 300:700], sigs[0] * upm)
    assert np.allclose(v[1], sigs[4][350:1350] * upm)


def test_precision_choices():
    assert amp_setup("auto", CPU) == (None, False)
    assert amp_setup("off", CPU) == (None, False)
    assert amp_setup("bf16", CPU) == (torch.bfloat16, False)
    with pytest.raises(UserError, match="needs a CUDA device"):
        amp_setup("fp16", CPU)
    with pytest.raises(UserError, match="unknown precision"):
        amp_setup("fp8", CPU)


def test_resident_bf16_training_on_cpu_writes_checkpoint_and_card(sample_data, tmp_path):
    out = tmp_path / "r.safetensors"
    reports = []
    cfg = TrainConfig(epochs=3, batch_size=8, lr=3e-3, arch_args=SMALL, resident=True, amp="bf16")
    best = train(*sample_data, cfg, str(out), device=CPU, progress=reports.append,
                 provenance={"dataset": "samples", "command": "test"})
    assert [r.epoch for r in reports] == [1, 2, 3]  # validation each epoch
    assert all(np.isfinite(r.train_loss) for r in reports)
    kept = load_checkpoint(out)
    tr = kept.meta["training"]
    assert tr["precision"] == "bf16 autocast" and tr["data"] == "resident on the device"
    assert tr["best_epoch"] == max(range(1, 4), key=lambda e: (reports[e - 1].val["f1_mean_nao"], -e))
    # the kept epoch's validation metrics are what inference gives on the validation records
    probs = kept.predict_signals(sample_data[2])
    again = summarize(list(sample_data[3]), [CLASSES[i] for i in probs.argmax(1)])
    assert again["confusion"] == best["confusion"] == kept.meta["metrics"]["validation"]["confusion"]
    card = (tmp_path / "r.md").read_text()
    assert card_path_for(str(out)) == str(tmp_path / "r.md")
    assert "# Model card" in card and "Validation metrics" in card and str(tmp_path) not in card
    assert not (tmp_path / "r.safetensors.resume.pt").exists()


def test_whole_record_models_refuse_the_resident_path(sample_data, tmp_path):
    with pytest.raises(UserError, match="fixed-input models only"):
        train(*sample_data, TrainConfig(arch="default-whole", epochs=1, resident=True), str(tmp_path / "w.safetensors"),
              device=CPU)


def test_paper_cnn_resident_step_on_cpu(sample_data, tmp_path):
    """The real paper CNN (18000 µV samples) through the resident path: 4 records, 1 step; in bf16
    where the CPU computes it natively (emulated, one record's forward pass took over 4 minutes on an
    AVX2-only CPU: the small network's test above covers bf16 there)."""
    from engine.training_gpu import cpu_bf16_native

    amp = "bf16" if cpu_bf16_native() else "off"
    tx, ty, vx, vy = sample_data
    keep = [i for i, y in enumerate(ty) if y in ("N", "O")][:4]  # no balancing duplicates: one batch
    data = ([tx[i] for i in keep], [ty[i] for i in keep], vx[:2], vy[:2])
    out = tmp_path / "p.safetensors"
    train(*data, TrainConfig(arch="paper-cnn", epochs=1, batch_size=4, resident=True, amp=amp), str(out),
          device=CPU)
    kept = load_checkpoint(out)
    assert kept.meta["arch"] == "paper-cnn"
    assert kept.meta["training"]["precision"] == ("bf16 autocast" if amp == "bf16" else "fp32")
    assert (tmp_path / "p.md").is_file()


def test_emulated_bf16_is_announced(samples, tmp_path, monkeypatch):
    """--amp bf16 on a CPU without native bf16 says it may be slow before any record is read."""
    import engine.training_gpu as tg
    from engine.datasets import open_dataset
    from engine.errors import Cancelled
    from engine.workbench import TrainRequest, jobs

    monkeypatch.setattr(tg, "cpu_bf16_native", lambda: False)
    said = []

    def progress(done, total, msg="", data=None):
        said.append(msg)
        if msg.startswith("reading"):
            raise Cancelled("enough")

    req = TrainRequest(dataset=open_dataset(str(samples)), out=str(tmp_path / "m.safetensors"), amp="bf16",
                       device="cpu")
    with pytest.raises(Cancelled):
        jobs.train(req)(progress, lambda: False)
    assert tg.BF16_EMULATED in said


def test_cli_train_gpu_resident_flag_and_card_check(tmp_path):
    out = tmp_path / "c.safetensors"
    (tmp_path / "c.md").write_text("someone's notes")
    proc = run_cli("train", str(SAMPLES), "--out", str(out), "--gpu-resident", "--amp", "bf16", "--epochs", "1")
    assert_user_error(proc, "c.md")
    assert (tmp_path / "c.md").read_text() == "someone's notes"
    proc = run_cli("train", str(SAMPLES), "--out", str(out), "--amp", "fp8")
    assert proc.returncode == 2 and "fp8" in proc.stderr
    (tmp_path / "c.md").unlink()
    proc = run_cli("train", str(SAMPLES), "--out", str(out), "--gpu-resident", "--amp", "bf16", "--epochs", "1",
                   "--json", timeout=300)
    assert proc.returncode == 0, proc.stderr
    kept = load_checkpoint(out)
    assert "--gpu-resident --amp bf16" in kept.meta["training"]["command"]
    assert kept.meta["training"]["data"] == "resident on the device"
    assert "--gpu-resident" in (tmp_path / "c.md").read_text()


def test_gpu_bench_skips_without_cuda():
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    proc = run_bench("bench_gpu.py", timeout=120)
    assert proc.returncode == 0 and "no CUDA device: skipped" in proc.stdout


def test_gpu_data_pack_round_trip_is_byte_exact(tmp_path):
    import filecmp
    import importlib.util
    import shutil

    spec = importlib.util.spec_from_file_location("gpu_data", ROOT / "bench" / "gpu_data.py")
    gd = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gd)
    src = tmp_path / "src"
    src.mkdir()
    for n in SAMPLE_NAMES[:3]:
        for ext in (".hea", ".mat"):
            shutil.copy(SAMPLES / (n + ext), src)
    shutil.copy(SAMPLES / "REFERENCE.csv", src)
    assert gd.pack(str(src), str(tmp_path / "p.ecgpack"))["records"] == 3
    gd.unpack(str(tmp_path / "p.ecgpack"), str(tmp_path / "dst"))
    files = sorted(p.name for p in src.iterdir())
    assert files == sorted(p.name for p in (tmp_path / "dst").iterdir())
    assert filecmp.cmpfiles(src, tmp_path / "dst", files, shallow=False)[0] == files
    with pytest.raises(SystemExit, match="already exists"):
        gd.pack(str(src), str(tmp_path / "p.ecgpack"))
