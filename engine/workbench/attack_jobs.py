"""Attack workflow jobs: attack records, expand bands, attack a dataset split, sweep ε.

The one implementation of these workflows: the CLI's `attack`, `band`, `attack-eval` and
`robustness` commands and the GUI's attack and dataset panels all run these jobs (re-exported by
`engine.workbench.jobs`). Same contract as every job: `fn(progress, should_stop)`, where
`progress(done, total, msg="", data=None)` reports and `should_stop()` cancels. Signals are mV;
ε and α are in mV (AttackParams). Under torchrun (`dist`, engine.attack_eval.Dist) the dataset
jobs return None on ranks other than 0, whose result rank 0 merges.
"""

from __future__ import annotations

import os
from typing import Any, Callable

from ..errors import UserError
from .selection import split_records

Job = Callable[[Callable[..., None], Callable[[], bool]], Any]


def attack_params(params):
    """AttackParams from a plain dict of its fields (as a panel or saved settings hold them;
    `paper_protocol: True` selects the paper's AF → N map); an AttackParams passes through."""
    from ..attacks import AttackParams
    from ..attacks.base import PAPER_TARGET_MAP

    if isinstance(params, AttackParams):
        return params
    fields = dict(params)
    if fields.pop("paper_protocol", False):
        fields["target_map"] = PAPER_TARGET_MAP
    return AttackParams(**fields)


def attack_records(clf, records: list, method: str, params, batch_size: int = 16) -> Job:
    """Attack opened records (engine.workbench.jobs.OpenedRecord) → list of AttackResult, in
    batches of `batch_size` records; progress counts the steps of the batch in flight."""
    def fn(progress, should_stop):
        from ..attacks import AttackInput, run_attack
        from ..attacks.runner import check_attack

        if batch_size < 1:
            raise UserError("the batch size must be at least 1")
        p = attack_params(params)
        inputs = [AttackInput(r.name, r.x_mv, r.fs, r.label, r.quantum_mv) for r in records]
        check_attack(clf, inputs, method, p)  # bad settings: one error line, nothing announced before it
        total = p.total_steps(method)
        what = records[0].name if len(records) == 1 else f"{len(records)} records"

        def prog(done, n):
            progress(done, n, f"{method.upper()} step {done}/{n}")

        progress(0, total, f"{method.upper()} attack on {what}")
        return run_attack(clf, inputs, method, p, batch_size=batch_size, progress=prog, should_stop=should_stop)
    return fn


def attack(clf, rec, method: str, params) -> Job:
    """Attack one opened record → (AttackResult, AttackParams)."""
    def fn(progress, should_stop):
        p = attack_params(params)
        return attack_records(clf, [rec], method, p)(progress, should_stop)[0], p
    return fn


def _band_progress(progress, label: str):
    """(batch progress, stage callback) for expand_band, reporting under `label`."""
    steps = {"noise": "1/3 noise", "concatenation": "2/3 concatenation", "uniform": "3/3 uniform"}
    now = ["noise"]

    def prog(done, n):
        progress(done, n, f"{label} {steps.get(now[0], now[0])}: batch {done}/{n}")

    def stage(name):
        now[0] = name
        progress(0, 0, f"{label} {steps.get(name, name)}", {"band_stage": name})

    return prog, stage


def band(clf, result, params, trials: int, noise_sd_mv: float, seed: int = 0, **options) -> Job:
    """engine.band.expand_band around one attack result → BandResult; `options` go to BandParams
    (style, max_pairs, max_splices_per_pair, uniform_trials, batch_size)."""
    def fn(progress, should_stop):
        from ..band import BandParams, expand_band

        bp = BandParams(trials=int(trials), noise_sd_mv=float(noise_sd_mv), seed=int(seed), **options)
        prog, stage = _band_progress(progress, "band")
        progress(0, 1, "band expansion")
        return expand_band(clf, result, params, bp, progress=prog, should_stop=should_stop, stage=stage)
    return fn


def band_styles(clf, result, params, trials: int, noise_sd_mv: float, seed: int = 0, **options) -> Job:
    """Both band procedures (engine.band.STYLES) around one attack result, side by side →
    {style: {"band": BandResult, "report": noise / concat / uniform, "centre_margin" (logit margin of
    the band's centre, > 0 when adversarial; None without a band), "yields_more"}}."""
    def fn(progress, should_stop):
        from ..band import STYLES, BandParams
        from ..band_eval import style_band

        out = {}
        for i, style in enumerate(STYLES):
            bp = BandParams(trials=int(trials), noise_sd_mv=float(noise_sd_mv), seed=int(seed),
                            **{**options, "style": style})
            prog, stage = _band_progress(progress, f"band {i + 1}/{len(STYLES)} ({style})")
            b, report = style_band(clf, result, params, bp, progress=prog, should_stop=should_stop, stage=stage)
            out[style] = {"band": b, "report": report}
        return out
    return fn


def check_expandable(result, params, method: str) -> None:
    """UserError unless `result` is an adversarial example a band can be expanded around."""
    tgt = params.target_for(result.orig_pred)
    if result.success is None:
        raise UserError(f"{result.record}: the model already predicts the target {tgt}; "
                        "there is no adversarial example to expand")
    if not result.success:
        want = f"reach the target {tgt}" if tgt else f"change the prediction ({result.orig_pred})"
        raise UserError(f"{result.record}: the {method} attack did not {want} at ε {params.eps_mv:g} mV; "
                        f"no band to expand (try a larger --eps or more {_effort_flags(method)})")


def _effort_flags(method: str) -> str:
    """The options that make `method` try harder: those its progress steps count (--steps/--sap-steps
    for SAP, --iterations for APGD, --queries for Square), declared in engine.attacks.registry."""
    from ..attacks.registry import spec

    s = spec(method)
    flags = {q.attr: q.flag for q in s.params}
    return "/".join(dict.fromkeys(flags[a] for a in s.step_attrs if a in flags)) or "--steps"


# ---- a dataset split ---------------------------------------------------------------------------

def _names(ds, split, limit, progress, dist):
    quiet = dist is not None and dist.rank != 0  # rank 0 says it once
    return split_records(ds, split, limit, need_labels=True,
                         warn=(lambda m: None) if quiet else (lambda m: progress(0, 1, m)))


def target_text(params) -> str:
    return ("paper protocol (AF → N, others untargeted)" if params.target_map else
            f"targeted → {params.target}" if params.target else "untargeted")


def attack_eval(ds, split: str, clf, method: str, params, limit: int | None, results: str | None = None,
                **options) -> Job:
    """engine.attack_eval.run_eval over the split's labelled records → {"model", "method", "split",
    "eps_mv", "target", **summary} (None on torchrun ranks other than 0). Without `results` the
    per-record rows go to a temporary JSONL file (a GUI run); `options` go to run_eval (batch_size,
    out_dir, lead, overwrite, restart, dist)."""
    def fn(progress, should_stop):
        import tempfile

        from ..attack_eval import run_eval

        params_ = attack_params(params)
        names = _names(ds, split, limit, progress, options.get("dist"))
        state = {"done": 0, "total": len(names)}

        def rec_prog(done, total):
            state.update(done=done, total=total)
            progress(done, total, f"{method.upper()} attack evaluation: {done}/{total} records")

        def step_prog(step, n):
            progress(state["done"], state["total"], f"{method.upper()} attack evaluation: "
                                                    f"{state['done']}/{state['total']} records (step {step}/{n})")

        def run(path):
            return run_eval(clf, ds, names, method=method, params=params_, results=path, split=split,
                            progress=rec_prog, step_progress=step_prog, should_stop=should_stop, **options)

        if results is None:
            with tempfile.TemporaryDirectory(prefix="ecgadv-eval-") as tmp:
                summary = run(os.path.join(tmp, "attack-eval.jsonl"))
        else:
            summary = run(results)
        if summary is None:
            return None
        return {"model": clf.name, "method": method, "split": split, "eps_mv": params_.eps_mv,
                "target": target_text(params_), **summary}
    return fn


def robustness(ds, split: str, clf, method, params, eps, limit: int | None, *,
               alpha_ratio: float | None = None, alpha_mv: float | None = None, **options) -> Job:
    """engine.robustness.run_robustness, one ε at a time so a curve can grow while it runs
    (`data={"table": rows so far}` in progress) → the sweep document (None on torchrun ranks other
    than 0). `method`: one name or a list; `eps`: ε values in mV, a list or comma-separated text.
    The α rule: `alpha_mv` fixes α, else α = ε × `alpha_ratio` (default: the params' α/ε).
    `options` go to run_robustness (results_dir, batch_size, lead, dist, restart)."""
    def fn(progress, should_stop):
        from ..errors import Cancelled
        from ..robustness import parse_eps_list, run_robustness

        eps_list = parse_eps_list(eps.replace(";", ",")) if isinstance(eps, str) else [float(e) for e in eps]
        methods = [method] if isinstance(method, str) else list(method)
        params_ = attack_params(params)
        ratio = alpha_ratio if alpha_ratio is not None else params_.alpha_mv / params_.eps_mv
        names = _names(ds, split, limit, progress, options.get("dist"))
        doc = None
        for i, e in enumerate(eps_list):
            if should_stop():
                raise Cancelled("cancelled")

            def prog(cell, done, total, _i=i):
                progress(_i * total + done, len(eps_list) * total,
                         f"robustness {cell} ({_i + 1}/{len(eps_list)} ε): {done}/{total} records")

            part = run_robustness(clf, ds, names, methods=methods, eps_list=[float(e)], base=params_,
                                  alpha_ratio=ratio, alpha_mv=alpha_mv, split=split, progress=prog,
                                  should_stop=should_stop, **options)
            if part is None:  # another rank: rank 0 keeps the table
                continue
            if doc is None:
                doc = {**part, "eps_mv": [], "table": []}
            doc["eps_mv"].append(float(e))
            doc["table"] += part["table"]
            progress(i + 1, len(eps_list), f"ε {e:g} mV done", data={"table": list(doc["table"])})
        if doc is None:
            return None
        order = {m: k for k, m in enumerate(methods)}  # method by method, as run_robustness orders them
        doc["table"].sort(key=lambda r: (order[r["method"]], eps_list.index(r["eps_mv"])))
        doc.update(method=methods[0] if len(methods) == 1 else methods, split=split)
        return doc
    return fn
