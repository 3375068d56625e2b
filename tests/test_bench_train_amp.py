"""bench/bench_train_amp.py: fp32 vs bf16 training-step times on this CPU (README's bf16 note)."""

import json

from conftest import run_bench


def _run(*args):
    return run_bench("bench_train_amp.py", *args)


def test_both_precisions_timed_with_the_ratio_of_the_same_run():
    r = _run("--batch", "2", "--batches", "1", "--threads", "1", "--arch", "default-whole", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    fp32, bf16 = doc["train_step_default-whole_fp32"], doc["train_step_default-whole_bf16"]
    assert fp32["value"] > 0 and bf16["value"] > 0 and fp32["unit"] == "ms/example"
    assert abs(bf16["ratio"] - bf16["value"] / fp32["value"]) < 1e-9
    e32, e16 = doc["epochs_in_42min_default-whole_fp32"]["value"], doc["epochs_in_42min_default-whole_bf16"]["value"]
    assert abs(e16 / e32 - fp32["value"] / bf16["value"]) < 1e-6
    assert isinstance(doc["info"]["native_bf16"], bool) and doc["info"]["examples_per_epoch"] == 9589
    assert not any(k.startswith("train_step_paper") for k in doc)


def test_bad_option_is_exit_2_without_traceback():
    r = _run("--batches", "0")
    assert r.returncode == 2 and r.stderr.startswith("error: ") and "Traceback" not in r.stderr
    r = _run("--arch", "resnet")
    assert r.returncode == 2 and "Traceback" not in r.stderr
