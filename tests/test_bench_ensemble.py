"""bench/ensemble_f1.py: per-model and averaged-probability F1 on a split (README's ensemble figures)."""

from conftest import run_bench


def _run(*args):
    return run_bench("ensemble_f1.py", *args)


def test_every_model_and_combination_is_scored(samples):
    r = _run(samples, "--split", "all", "--models", "default-whole", "default")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("12 records of all")
    scored = dict(line.rsplit(": ", 1) for line in lines[1:])
    assert set(scored) == {"default-whole", "default", "default-whole + default"}
    assert all(0.0 <= float(v) <= 1.0 for v in scored.values())


def test_averaging_a_model_with_itself_changes_nothing(samples):
    r = _run(samples, "--split", "all", "--models", "default", "default")
    assert r.returncode == 0, r.stderr
    values = [line.rsplit(": ", 1)[1] for line in r.stdout.splitlines()[1:]]
    assert len(values) == 3 and len(set(values)) == 1


def test_bad_input_is_one_line_exit_2(tmp_path, samples):
    r = _run(tmp_path / "none", "--models", "default")
    assert r.returncode == 2 and r.stderr.startswith("error: ") and "Traceback" not in r.stderr
    r = _run(samples, "--split", "all", "--models", "default", tmp_path / "missing.safetensors")
    assert r.returncode == 2 and "Traceback" not in r.stderr
