"""Shared helpers for the attack tests: the model to attack, the sample records, cached runs.

The model is ECGADV_TEST_MODEL when set (a checkpoint file, or "tiny"), else the installed default
(resources/models/default.safetensors) when present, else a tiny default-architecture model trained for 2 epochs on the
12 bundled samples (a few seconds; BatchNorm statistics re-estimated). Expensive runs are cached per test session (lru_cache), so
every test module shares them.
"""

from __future__ import annotations

import functools
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from engine.attacks import AttackInput, AttackParams, run_attack
from engine.datasets import open_dataset
from engine.models.checkpoint import load_checkpoint
from engine.records import read_record  # noqa: E402

SAMPLES = ROOT / "resources" / "samples"
DEFAULT_MODEL = ROOT / "resources" / "models" / "default.safetensors"

# One thread by default: on a shared 2-core machine two OpenMP threads per process fight the
# other jobs for the cores and small convolutions run ~10x slower; ECGADV_TEST_THREADS overrides.
torch.set_num_threads(int(os.environ.get("ECGADV_TEST_THREADS", "1")))


@functools.lru_cache(maxsize=None)
def model_path() -> str:
    env = os.environ.get("ECGADV_TEST_MODEL")  # a checkpoint file, or "tiny" to force the fallback
    if env == "tiny":
        return tiny_model_path()
    if env and os.path.isfile(env):
        return env
    if DEFAULT_MODEL.is_file():
        try:
            load_checkpoint(DEFAULT_MODEL)
            return str(DEFAULT_MODEL)
        except Exception:  # half-written or foreign: fall back to the tiny model
            pass
    return tiny_model_path()


@functools.lru_cache(maxsize=None)
def tiny_model_path() -> str:
    from engine.training import TrainConfig, train

    ds = open_dataset(SAMPLES)
    xs, ys = [], []
    for n in ds.names:
        x, _ = read_record(ds.path(n)).lead_mv()
        xs.append(x)
        ys.append(ds.label(n))
    import atexit
    import shutil

    folder = tempfile.mkdtemp(prefix="ecgadv-test-model-")
    atexit.register(shutil.rmtree, folder, True)
    path = os.path.join(folder, "tiny.safetensors")
    train(xs, ys, xs, ys, TrainConfig(arch="default", epochs=2, batch_size=32, seed=0), path,
          device=torch.device("cpu"))
    # Two epochs leave BatchNorm's running statistics near their initial values, so in eval mode
    # activations shrink layer by layer and the logits barely depend on the input (no attack can
    # move them). Re-estimate the statistics on the samples: a sensitive, if weak, classifier.
    from engine.models.checkpoint import save_checkpoint
    from engine.models.classifier import fit_length

    clf = load_checkpoint(path)
    bns = [m for m in clf.module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the calibration pass
    clf.module.train()
    with torch.no_grad():
        clf.logits(torch.from_numpy(np.stack([fit_length(x, clf.length)[0] for x in xs])))
    for m in bns:
        m.momentum = 0.1
    clf.module.eval()
    save_checkpoint(path, clf.module, clf.meta, overwrite=True)
    return path


def is_real_default() -> bool:
    return model_path() == str(DEFAULT_MODEL)


def load_model():
    """A fresh Classifier on CPU (tests may change its state)."""
    return load_checkpoint(model_path())


@functools.lru_cache(maxsize=None)
def _inputs() -> tuple:
    ds = open_dataset(SAMPLES)
    out = []
    for n in ds.names:
        rec = read_record(ds.path(n), label=ds.label(n))
        x, lead = rec.lead_mv()
        out.append(AttackInput(name=n, x_mv=x, fs=rec.fs, true=ds.label(n), quantum_mv=1.0 / lead.gain))
    return tuple(out)


def sample_inputs(names: list[str] | None = None) -> list[AttackInput]:
    ins = list(_inputs())
    return ins if names is None else [i for i in ins if i.name in names]


@functools.lru_cache(maxsize=None)
def paper_sap_results() -> tuple:
    """SAP with the paper's schedule (ε 0.01 mV, α 0.001, 20 + 40 steps) on all 12 samples."""
    return tuple(run_attack(load_model(), sample_inputs(), "sap", AttackParams()))


@functools.lru_cache(maxsize=None)
def adversarial_example():
    """(result, params): a successful SAP example; the ε grows until one record is fooled."""
    for r in paper_sap_results():
        if r.success:
            return r, AttackParams()
    clf = load_model()
    for eps in (0.05, 0.5):
        params = AttackParams(eps_mv=eps, alpha_mv=eps / 5, steps=10, sap_steps=10)
        for r in run_attack(clf, sample_inputs()[:6], "sap", params):
            if r.success:
                return r, params
    raise AssertionError("no sample record could be made adversarial")


def fooled_rate(results) -> tuple[int, int]:
    """(fooled, attacked) among correctly classified records, the paper's definition."""
    att = [r for r in results if r.correct and r.success is not None]
    return sum(1 for r in att if r.success), len(att)


def grid_ok(x: np.ndarray, quantum: float = 0.001) -> bool:
    k = np.asarray(x, dtype=np.float64) / quantum
    return bool(np.all(np.abs(k - np.round(k)) < 1e-3))
