"""Record-level attack pipeline: prepare, attack in batches, project onto the ADC grid, re-classify.

Signals enter at the record's rate in mV and come back at the model's rate (the rate of every
PhysioNet 2017 record). The attack moves away from the model's original prediction (untargeted)
or toward `params.target`. Success follows the paper: untargeted, the prediction changed;
targeted, it reached the target (records already predicted as the target get success None).
With `params.paper_code` on a paper-cnn (engine.paper_mode) records are placed as the paper's
code places them and the loss refers to each record's true label; success is judged the same way.
Success is judged after projecting the adversarial signal onto the record's ADC grid
(1/gain mV), so a saved example stays adversarial when read back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from ..errors import UserError
from ..models.classifier import Classifier, Placement, pad_batch
from ..paper_mode import check_paper_code, paper_fit, uses_paper_code
from .base import Attack, AttackParams
from .params import is_adversarial
from .measures import perturbation_measures
from .registry import ATTACKS as _SPECS
from .registry import DEFAULT_METHOD, check_params, spec

# name → Attack class, generated from the registry (engine.attacks.registry declares the attacks)
ATTACKS: dict[str, type[Attack]] = {name: s.cls for name, s in _SPECS.items()}


@dataclass
class AttackInput:
    """One record's lead: x_mv (n,) at fs; quantum_mv is its ADC resolution (1/gain)."""

    name: str
    x_mv: np.ndarray
    fs: float
    true: str | None = None
    quantum_mv: float = 0.001


@dataclass
class AttackResult:
    """Outcome for one record. Signals are (n,) mV at the model's rate `fs`."""

    record: str
    true: str | None
    orig_pred: str
    orig_probs: dict
    adv_pred: str
    adv_probs: dict
    success: bool | None
    measures: dict
    fs: float
    x0: np.ndarray = field(repr=False)
    x_adv: np.ndarray = field(repr=False)
    placement: Placement = field(repr=False)
    extras: dict = field(default_factory=dict)  # per-record facts an attack reports (e.g. queries)

    @property
    def delta(self) -> np.ndarray:
        return self.x_adv - self.x0

    @property
    def correct(self) -> bool | None:
        return None if self.true is None else self.true == self.orig_pred

    def to_json(self) -> dict:
        return {"record": self.record, "true": self.true, "orig_pred": self.orig_pred,
                "orig_probs": self.orig_probs, "adv_pred": self.adv_pred, "adv_probs": self.adv_probs,
                "success": self.success, **self.measures, **self.extras}


def quantise(x0: np.ndarray, x_adv: np.ndarray, quantum: float, eps: float) -> np.ndarray:
    """Round x_adv onto the ADC grid (multiples of `quantum` mV) while keeping |x_adv − x0| ≤ ε."""
    if quantum <= 0:
        return x_adv
    q = np.round(x_adv.astype(np.float64) / quantum) * quantum
    d = q - x0.astype(np.float64)
    # x0 is float32 (≈1e-7 mV off the grid), so |d| of a sample exactly at ε can read ε + 1e-8;
    # a tolerance far below one quantum keeps those at ε instead of stepping them back.
    over = np.abs(d) > eps + 1e-3 * quantum
    if over.any():  # step one quantum back toward x0
        q[over] -= np.sign(d[over]) * quantum
        # ε under half a quantum and x0 off the grid (a resampled record): no grid value may lie
        # within ε of x0, and the step back lands beyond ε on the other side; such a sample keeps
        # x0, so |x_adv − x0| ≤ ε always holds (it read 0.003 mV at ε 0.002 mV on MIT-BIH 100)
        still = np.abs(q - x0.astype(np.float64)) > eps + 1e-3 * quantum
        q[still] = x0.astype(np.float64)[still]
    return q.astype(np.float32)


def _probs_dict(clf: Classifier, p: np.ndarray) -> dict:
    return {c: float(v) for c, v in zip(clf.classes, p)}


def check_eps_vs_adc(clf: Classifier, inputs: list[AttackInput], eps_mv: float) -> None:
    """UserError when ε is too small for a record's ADC grid, onto which every example is rounded
    (quantise): under one step a record at the model's rate cannot change a sample, and under half
    a step a resampled one hardly any, so the attack would report a failure it never attempted."""
    for inp in inputs:
        q = float(inp.quantum_mv or 0.0)
        if not q > 0:
            continue
        on_grid = abs(float(inp.fs) - float(clf.fs)) < 1e-9
        limit = q if on_grid else q / 2
        if eps_mv < limit * (1 - 1e-6):
            raise UserError(f"{inp.name}: ε {eps_mv:g} mV is under {'one' if on_grid else 'half an'} ADC step of the "
                            f"record ({q:g} mV); the example, rounded onto that grid, could change "
                            f"{'no' if on_grid else 'hardly any'} sample: use ε ≥ {limit:g} mV")


def check_attack(clf: Classifier, inputs: list[AttackInput], method: str, params: AttackParams) -> None:
    """UserError (one line) when `method` with `params` cannot run on `clf` and `inputs`: every
    parameter the attack reads against its declared range, the targets against the model's classes,
    and the paper-code mode's needs (engine.paper_mode)."""
    spec(method)
    check_params(method, params)
    params.check_targets(clf.classes)
    check_eps_vs_adc(clf, inputs, params.eps_mv)
    if uses_paper_code(method, params):
        check_paper_code(clf, inputs)


def run_attack(clf: Classifier, inputs: list[AttackInput], method: str = DEFAULT_METHOD,
               params: AttackParams | None = None, batch_size: int = 16,
               progress: Callable[[int, int], None] | None = None,
               should_stop: Callable[[], bool] | None = None) -> list[AttackResult]:
    """Attack every input; `progress(done_steps, total_steps)` counts attack steps over all batches.

    Raises engine.errors.Cancelled when `should_stop()` turns true (checked every step).
    """
    attack_spec = spec(method)
    params = params or AttackParams()
    check_attack(clf, inputs, method, params)
    paper = uses_paper_code(method, params)  # engine.paper_mode: first-18000 crop, true labels
    torch.manual_seed(params.seed)
    per_batch = attack_spec.total_steps(params)
    n_batches = (len(inputs) + batch_size - 1) // batch_size
    results: list[AttackResult] = []
    for b in range(n_batches):
        chunk = inputs[b * batch_size:(b + 1) * batch_size]
        x_model = [clf.to_model_rate(inp.x_mv, inp.fs) for inp in chunk]
        # the model inputs (fixed models: centred to their length; whole-record models: the records,
        # left-aligned and zero-padded to the longest of the batch, the mask True on real samples)
        # (paper-code mode: the first `length` samples of a longer record, engine.paper_mode)
        fit = (lambda x: paper_fit(x, clf.length)) if paper else clf.fit
        fitted = [fit(x) for x in x_model]
        xb = pad_batch([f[0] for f in fitted])
        mb = pad_batch([f[1].mask() for f in fitted], False)
        p0 = clf.predict_proba(xb, mask=mb)
        y0 = p0.argmax(1)

        def prog(step, total, _b=b):
            if progress:
                progress(_b * per_batch + step, n_batches * per_batch)

        attack = attack_spec.cls(clf, params, progress=prog, should_stop=should_stop)
        attack.quanta = torch.tensor([inp.quantum_mv for inp in chunk])  # lets an attack judge success on the grid
        # the loss refers to the model's prediction, or (paper-code mode) to the true label
        labels = (np.array([clf.classes.index(inp.true) for inp in chunk], dtype=np.int64) if paper else y0)
        delta = attack(torch.from_numpy(xb), torch.from_numpy(mb), torch.from_numpy(labels)).cpu().numpy()
        adv_batch, advs = [], []
        for i, inp in enumerate(chunk):
            pl = fitted[i][1]
            x_adv = x_model[i].copy()
            sl = slice(pl.src_start, pl.src_start + pl.n)
            x_adv[sl] = quantise(x_model[i][sl], x_model[i][sl] + delta[i, pl.dst_start:pl.dst_start + pl.n],
                                 inp.quantum_mv, params.eps_mv)
            advs.append(x_adv)
            adv_batch.append(fit(x_adv)[0])
        p1 = clf.predict_proba(pad_batch(adv_batch), mask=mb)
        for i, inp in enumerate(chunk):
            orig, adv = clf.classes[int(y0[i])], clf.classes[int(p1[i].argmax())]
            success: bool | None = is_adversarial(adv, orig, params.target_for(orig))
            pl = fitted[i][1]
            sl = slice(pl.src_start, pl.src_start + pl.n)
            meas = perturbation_measures(x_model[i][sl], advs[i][sl] - x_model[i][sl], params.eps_mv)
            results.append(AttackResult(record=inp.name, true=inp.true, orig_pred=orig,
                                        orig_probs=_probs_dict(clf, p0[i]), adv_pred=adv,
                                        adv_probs=_probs_dict(clf, p1[i]), success=success, measures=meas,
                                        fs=clf.fs, x0=x_model[i], x_adv=advs[i], placement=pl,
                                        extras=dict(getattr(attack, "extras", None) or {}).get(i, {})))
    return results
