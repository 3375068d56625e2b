"""Test data for the review tests: real adversarial examples of the bundled samples, and small
synthetic pairs. The attack uses resources/models/default.safetensors when present, else an
untrained default CNN (the outputs are still real perturbed real ECGs, which is all study
mechanics need). Built once per test process."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "resources" / "samples"
DEFAULT_WEIGHTS = ROOT / "resources" / "models" / "default.safetensors"
METHODS = ("pgd", "sap")

_built: dict[str, Path] = {}


def adversarial_dir(base: Path) -> Path:
    """A folder of <record>_<method> WFDB adversarial examples (12 samples × PGD, SAP) whose
    provenance points at resources/samples; built once per process, copied for each caller."""
    key = "adv"
    if key not in _built:
        import torch

        from engine.attacks import AttackInput, AttackParams, run_attack
        from engine.export import write_adversarial
        from engine.models import build
        from engine.models.checkpoint import base_meta, load_checkpoint, save_checkpoint
        from engine.records import read_record

        work = base / "adv-build"
        work.mkdir(parents=True, exist_ok=True)
        if DEFAULT_WEIGHTS.is_file():
            clf = load_checkpoint(DEFAULT_WEIGHTS)
            model_name = "default"
        else:
            torch.manual_seed(0)
            path = work / "untrained.safetensors"
            if not path.exists():
                save_checkpoint(path, build("default"), base_meta("default"))
            clf = load_checkpoint(path)
            model_name = "untrained-default"
        inputs = []
        for hea in sorted(SAMPLES.glob("A*.hea")):
            rec = read_record(hea)
            x, lead = rec.lead_mv()
            inputs.append(AttackInput(rec.name, x, rec.fs, None, 1.0 / lead.gain))
        out = work / "adv"
        for method in METHODS:
            params = AttackParams(steps=1, sap_steps=1)  # cheap: study mechanics need real perturbed ECGs only
            for r in run_attack(clf, inputs, method, params):
                write_adversarial(str(out), r, model=model_name, method=method, params=params,
                                  source=str(SAMPLES / r.record), overwrite=True)
        _built[key] = out
    return _built[key]


def copy_adversarial_dir(base: Path, dest: Path) -> Path:
    src = adversarial_dir(base)
    shutil.copytree(src, dest)
    return dest


def synthetic_pairs(n_per_method: int, methods=METHODS, n: int = 600, seed: int = 0,
                    labels=("N", "A", "O", "~")):
    """Small synthetic pairs (distinct sources), with reference labels and model predictions."""
    from engine.review.study import Pair

    rng = np.random.default_rng(seed)
    pairs = []
    for m in methods:
        for i in range(n_per_method):
            x = np.cumsum(rng.normal(0, 0.02, n)).astype(np.float32)
            lab = labels[i % len(labels)]
            adv_pred = labels[(i + 1) % len(labels)]
            pairs.append(Pair(pair_id=f"{m}{i:04d}", method=m, x_orig=x, x_adv=x + 0.01, fs=300.0,
                              source_record=f"/data/S{i:04d}_{m}src", adversarial_record=f"/adv/S{i:04d}_{m}",
                              reference_label=lab, orig_pred=lab, adv_pred=adv_pred, model="toy"))
    return pairs


def env_with_root() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env
