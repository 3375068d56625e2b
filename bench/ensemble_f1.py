"""Mean F1 N/A/O of every model and of every average of their class probabilities, on one split:
does averaging models close the gap to the F1 target? (README, "Recipes tried").

    python bench/ensemble_f1.py ../shared/data/physionet2017 --split strat-val \
        --models default-whole deep_s2.safetensors deep_s3.safetensors

Each --models entry is a bundled model name or a checkpoint file; all must share their classes
and sampling rate. Prints one line per model and per combination of two or more (equal weights).
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.datasets import open_dataset  # noqa: E402
from engine.errors import UserError  # noqa: E402
from engine.metrics import summarize  # noqa: E402
from engine.models.checkpoint import resolve_model  # noqa: E402
from engine.workbench.jobs import _predict, _signals, select_records  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset")
    ap.add_argument("--split", default="strat-val")
    ap.add_argument("--models", nargs="+", required=True)
    ap.add_argument("--limit", type=int, default=None)
    a = ap.parse_args(argv)
    try:
        ds = open_dataset(a.dataset)
        names = select_records(ds, a.split, a.limit, warn=lambda m: print(m, file=sys.stderr)).names
        models = [resolve_model(m, "cpu") for m in a.models]
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if len({(tuple(m.classes), m.fs) for m in models}) != 1:
        print("error: the models differ in classes or sampling rate", file=sys.stderr)
        return 2
    truth = [ds.label(n) for n in names]
    sigs = _signals(ds, names, models[0].fs, None, lambda *a: None, lambda: False)
    probs = [_predict(m, sigs, lambda *a: None, lambda: False) for m in models]
    classes = models[0].classes
    print(f"{len(names)} records of {a.split}; mean F1 over N, A, O")
    for r in range(1, len(probs) + 1):
        for combo in itertools.combinations(range(len(probs)), r):
            p = sum(probs[i] for i in combo)
            f1 = summarize(truth, [classes[int(i)] for i in p.argmax(1)])["f1_mean_nao"]
            print(f"{' + '.join(a.models[i] for i in combo)}: {f1:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
