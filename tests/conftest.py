"""Shared fixtures: bundled samples, ../shared/data (skipped when absent), a throwaway cache, tiny models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# One signal cache per test session, never the user's (~/.cache) one.
_CACHE = tempfile.mkdtemp(prefix="ecgadv-test-cache-")
os.environ["ECGADV_CACHE"] = _CACHE

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "resources" / "samples"
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PHYSIONET = SHARED / "physionet2017"
WFDB_SAMPLES = SHARED / "wfdb-samples"
DEFAULT_WEIGHTS = ROOT / "resources" / "models" / "default.safetensors"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from cli_process import run_main  # noqa: E402

SAMPLE_NAMES = sorted(p.stem for p in SAMPLES.glob("A*.hea"))


@pytest.fixture(scope="session")
def samples() -> Path:
    """resources/samples: 12 real PhysioNet 2017 records + REFERENCE.csv."""
    return SAMPLES


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or skip with a clear message when this checkout has none."""
    if not SHARED.is_dir():
        pytest.skip(f"shared real data not present at {SHARED} (only in the development workspace)")
    return SHARED


@pytest.fixture(scope="session")
def wfdb_samples(shared_data) -> Path:
    if not WFDB_SAMPLES.is_dir():
        pytest.skip(f"{WFDB_SAMPLES} not present")
    return WFDB_SAMPLES


@pytest.fixture(scope="session")
def physionet(shared_data) -> Path:
    if not (PHYSIONET / "REFERENCE-v3.csv").is_file():
        pytest.skip(f"{PHYSIONET} not present")
    return PHYSIONET


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """An untrained (seeded) default-architecture checkpoint: fast, valid, enough for contract tests."""
    import torch

    from engine.models import build
    from engine.models.checkpoint import base_meta, save_checkpoint

    path = tmp_path_factory.mktemp("models") / "tiny.safetensors"
    torch.manual_seed(0)
    meta = base_meta("default")
    meta["training"] = {"source": "untrained test fixture"}
    save_checkpoint(path, build("default"), meta)
    return path


@pytest.fixture(scope="session")
def sample_labels() -> dict[str, str]:
    from engine.datasets import read_labels

    return read_labels(SAMPLES / "REFERENCE.csv")


def run_bench(script: str, *args, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python bench/SCRIPT ARGS` in the repository root (a real process: exit code, stdout, stderr)."""
    return subprocess.run([sys.executable, str(ROOT / "bench" / script), *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`python main.py ARGS` in the repository root (a real process: exit code, stdout, stderr)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("OMP_NUM_THREADS", "1")  # tiny workloads: one thread is as fast, and robust under load
    return run_main([str(a) for a in args], env, timeout)  # forked from a server that has torch loaded


def assert_user_error(proc: subprocess.CompletedProcess, *fragments: str) -> str:
    """Exit code 2, nothing on stdout, one line on stderr starting with 'error:', no traceback."""
    err = proc.stderr
    assert proc.returncode == 2, (proc.returncode, proc.stdout, err)
    assert "Traceback" not in err and "Traceback" not in proc.stdout, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one stderr line, got: {err!r}"
    assert lines[0].startswith("error:"), lines[0]
    for frag in fragments:
        assert frag.lower() in lines[0].lower(), (frag, lines[0])
    assert proc.stdout.strip() == "", proc.stdout
    return lines[0]


def cli_inproc(capsys, *args) -> tuple[int, str, str]:
    """Run one CLI command in this process → (exit code, stdout, stderr)."""
    from engine.cli import main as cli_main

    capsys.readouterr()
    try:
        rc = cli_main([str(a) for a in args])
    except SystemExit as exc:  # argparse's own errors
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err


def inproc_user_error(capsys, *args) -> str:
    """The command (run in process) fails as bad input: exit 2, nothing on stdout, last stderr line
    'error: ...', no traceback (progress notes such as 'note: ... skipped' may come before it).
    Returns that line."""
    rc, out, err = cli_inproc(capsys, *args)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2, (rc, out, err)
    assert "Traceback" not in err and lines and lines[-1].startswith("error:"), err
    assert out.strip() == "", out
    return lines[-1]


def one_json(stdout: str) -> dict:
    """Exactly one JSON document (one line) on stdout."""
    lines = [ln for ln in stdout.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected exactly one JSON line on stdout, got {len(lines)}: {stdout[:500]!r}"
    doc = json.loads(lines[0])
    assert isinstance(doc, dict)
    return doc


def pytest_sessionfinish(session, exitstatus):
    import shutil

    shutil.rmtree(_CACHE, ignore_errors=True)


def pytest_configure(config):
    # wfdb 4.3 calls pandas APIs that pandas 3 deprecates; not ours to fix, and noisy.
    config.addinivalue_line("filterwarnings", "ignore:The inplace keyword")
    # as the GUI entry points do (gui.app.run_gui, the reviewer): the Qt tests need it on Python < 3.12
    from gui import apply_pyside_workaround, paint_on_gui_thread

    apply_pyside_workaround()
    paint_on_gui_thread()


@pytest.fixture(autouse=True)
def _collect_garbage_in_the_main_thread():
    """Collect each test's garbage (old windows, menus) in the main thread: a cyclic collection
    that happens to run in a worker thread makes Shiboken defer the Qt deletions to the main
    thread, where they deadlocked against that worker in two clean-clone runs. The survivors are then
    frozen (gc.freeze): a full collection over the whole suite's heap took most of the suite's time by
    its end (py-spy: 96 % of the samples late in a clean-clone run), and frozen objects are never
    collected again, in any thread, so the guarantee above still holds."""
    yield
    import gc

    gc.collect()
    gc.freeze()


@pytest.fixture
def one_thread():
    """One intra-op PyTorch thread for the test (as fast as two for tiny batches, and robust on a
    busy machine); modules opt in with `pytestmark = pytest.mark.usefixtures("one_thread")`."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


TRAIN_VAL = ["A00002", "A00013", "A00027", "A00034"]  # bundled samples held out in training tests: one per class


@pytest.fixture(scope="module")
def sample_data(samples):
    """The bundled samples as a tiny training set: (train signals, train labels, validation
    signals, validation labels), signals in mV at 300 Hz; TRAIN_VAL is the validation part."""
    from engine.datasets import open_dataset
    from engine.signals_cache import load_dataset_signals

    ds = open_dataset(samples)
    tr = [n for n in SAMPLE_NAMES if n not in TRAIN_VAL]
    sigs = load_dataset_signals(ds, tr + TRAIN_VAL, 300.0)
    return (sigs[:len(tr)], [ds.label(n) for n in tr], sigs[len(tr):], [ds.label(n) for n in TRAIN_VAL])
