"""The attack registry: every attack declared once, and everything generated from it.

An attack is one module with an `Attack` subclass (engine.attacks.base) plus one `AttackSpec`
entry in `ATTACKS` below: its name, menu label, help, the parameters it reads (declared in
engine.attacks.params), which of them count as steps, and its module and class. From this the
runner picks the class, the CLI builds `--method` and one option per parameter, the GUI builds
its menu, widgets and saved settings, and attack-eval writes and compares its results header.
This module does not import torch (the GUI reads it in its own thread); `AttackSpec.cls` imports
the attack's module on first use.
"""

from __future__ import annotations

import argparse
import importlib
import json
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import UserError
from .params import (ALPHA, EOT_DRAWS, EOT_SIGMA, EPS, ITERATIONS, PAPER_CODE, QUERIES, RANDOM_START, RESTARTS,
                     SAP_STEPS, SEED, SMOOTH, STEPS, AttackParams, Param)

# spellings accepted for target classes, besides the class codes themselves
TARGET_ALIASES = {"normal": "N", "af": "A", "afib": "A", "atrial-fibrillation": "A", "other": "O",
                  "noisy": "~", "noise": "~"}


@dataclass(frozen=True)
class AttackSpec:
    """What the rest of the program knows about one attack.

    `params`: the declared parameters it reads; `step_attrs`: those whose sum is the number of
    progress steps of one batch (`steps`, when given, computes that number instead, e.g. iterations
    × restarts; it must agree with the sum at the defaults); `header_fields`: non-numeric AttackParams fields it reads
    (written to results headers); `target`: "module:Class" of its engine.attacks.base.Attack.
    """

    name: str
    label: str
    help: str
    target: str
    params: tuple[Param, ...]
    step_attrs: tuple[str, ...] = ("steps",)
    header_fields: tuple[str, ...] = ()
    steps: Callable[[AttackParams], int] | None = None
    paper: bool = False  # one of the paper's two attacks (the default set of a robustness sweep)
    adv_training: bool = False  # offered by `train --adversarial` (engine.adv_training)
    card: bool = False  # swept over ε by default in the robustness card

    @property
    def cls(self) -> type:
        """The Attack subclass (imports its module, and torch, on first use)."""
        module, name = self.target.split(":")
        return getattr(importlib.import_module(module), name)

    def total_steps(self, p: AttackParams) -> int:
        if self.steps is not None:
            return int(self.steps(p))
        by_attr = {q.attr: q for q in self.params}
        return sum(int(p.value(by_attr[a])) for a in self.step_attrs)


def _register(*specs: AttackSpec) -> dict[str, AttackSpec]:
    return {s.name: s for s in specs}


# The attacks, in menu order; the first is the default.
ATTACKS: dict[str, AttackSpec] = _register(
    AttackSpec("sap", "SAP — smoothed (paper)",
               "smooth adversarial perturbation (Han et al. 2020): a PGD start, then Gaussian-smoothed steps",
               "engine.attacks.sap:SAP", (EPS, ALPHA, STEPS, SAP_STEPS, RANDOM_START, SEED, PAPER_CODE),
               step_attrs=("steps", "sap_steps"), header_fields=("kernel_sizes", "kernel_sigmas"), paper=True,
               adv_training=True, card=True),
    AttackSpec("pgd", "PGD — L∞, square-wave",
               "projected gradient descent with sign steps (square-wave perturbations)",
               "engine.attacks.pgd:PGD", (EPS, ALPHA, STEPS, RANDOM_START, SEED, PAPER_CODE), paper=True,
               adv_training=True, card=True),
    AttackSpec("apgd-ce", "APGD-CE — Auto-PGD, cross-entropy",
               "Auto-PGD (Croce & Hein 2020) on the cross-entropy: step size and momentum without tuning, "
               "restarts; --smooth optimises SAP's θ through the Gaussian kernels",
               "engine.attacks.apgd:APGDCE", (EPS, ITERATIONS, RESTARTS, SMOOTH, SEED),
               step_attrs=("iterations",), header_fields=("kernel_sizes", "kernel_sigmas"),
               steps=lambda p: p.iterations * p.restarts, adv_training=True, card=True),
    AttackSpec("apgd-dlr", "APGD-DLR — Auto-PGD, logit-ratio loss",
               "Auto-PGD on the difference-of-logits-ratio loss (scale-invariant; targeted with --target)",
               "engine.attacks.apgd:APGDDLR", (EPS, ITERATIONS, RESTARTS, SMOOTH, SEED),
               step_attrs=("iterations",), header_fields=("kernel_sizes", "kernel_sigmas"),
               steps=lambda p: p.iterations * p.restarts),
    AttackSpec("square", "Square — black-box, query budget",
               "Square Attack (Andriushchenko et al. 2020), score-based black-box: random ±ε time windows, "
               "only the model's probabilities, at most --queries per record",
               "engine.attacks.square:Square", (EPS, QUERIES, SMOOTH, SEED),
               step_attrs=("queries",), header_fields=("kernel_sizes", "kernel_sigmas"), card=True),
    AttackSpec("ensemble", "Ensemble — APGD-CE, APGD-DLR-T, Square",
               "AutoAttack-style: per record the first of apgd-ce, targeted apgd-dlr and square that succeeds; "
               "robust accuracy is what survives all three",
               "engine.attacks.ensemble:Ensemble", (EPS, ITERATIONS, RESTARTS, QUERIES, SMOOTH, SEED),
               step_attrs=("iterations", "iterations", "queries"), header_fields=("kernel_sizes", "kernel_sigmas"),
               steps=lambda p: 2 * p.iterations * p.restarts + p.queries),
    AttackSpec("eot-pgd", "EOT-PGD — through smoothing noise",
               "PGD on a smoothed classifier (Salman et al. 2019): each step ascends -log of the mean softmax over "
               "--draws Gaussian draws of sd --sigma mV (expectation over transformation); judge it against the "
               "smoothed prediction with smooth-attack",
               "engine.attacks.eot:EOTPGD", (EPS, ALPHA, STEPS, EOT_SIGMA, EOT_DRAWS, RANDOM_START, SEED)),
)
DEFAULT_METHOD = next(iter(ATTACKS))
PAPER_METHODS: tuple[str, ...] = tuple(sorted(n for n, s in ATTACKS.items() if s.paper))
ADV_TRAINING_METHODS: tuple[str, ...] = tuple(n for n, s in ATTACKS.items() if s.adv_training)
CARD_METHODS: tuple[str, ...] = tuple(n for n, s in ATTACKS.items() if s.card)


def spec(method: str) -> AttackSpec:
    """The declaration of `method`, or UserError listing the attacks."""
    try:
        return ATTACKS[method]
    except (KeyError, TypeError):
        raise UserError(f"unknown attack method {method!r} (choose from {', '.join(ATTACKS)})") from None


def all_params() -> tuple[Param, ...]:
    """Every declared parameter of every attack, once each (registration order)."""
    seen: dict[str, Param] = {}
    for s in ATTACKS.values():
        for p in s.params:
            seen.setdefault(p.attr, p)
    return tuple(seen.values())


def param(attr: str) -> Param:
    """The declaration of parameter `attr` (e.g. 'eps_mv')."""
    for p in all_params():
        if p.attr == attr:
            return p
    raise KeyError(attr)


# -- command line -------------------------------------------------------------------------------

def arg_type(p: Param):
    """An argparse `type=` that parses and range-checks (nan/inf refused), naming the range."""
    def convert(text: str):
        try:
            return p.check(text, name="value")
        except UserError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    convert.__name__ = p.attr
    return convert


def _dest(p: Param) -> str:
    return p.flag.lstrip("-").replace("-", "_")


def add_attack_args(parser: argparse.ArgumentParser, method: bool = True, skip: tuple[str, ...] = ()) -> None:
    """`--method` (unless `method` is False) and one option per declared parameter, except the
    attrs in `skip`. Options default to None: `params_from_args` fills in the declared default."""
    if method:
        parser.add_argument("--method", default=DEFAULT_METHOD, choices=list(ATTACKS),
                            help="attack: " + "; ".join(f"{s.name}: {s.help}" for s in ATTACKS.values())
                            + f" (default {DEFAULT_METHOD})")
    for p in all_params():
        if p.attr in skip:
            continue
        if p.kind is bool:
            parser.add_argument(p.flag, dest=_dest(p), action="store_true", default=None, help=p.help)
            continue
        unit = f" {p.unit}" if p.unit else ""
        parser.add_argument(p.flag, dest=_dest(p), type=arg_type(p), default=None, metavar=p.unit.upper() or "N",
                            help=f"{p.help}; {p.range_text()} (default {p.default:g}{unit})")
    parser.add_argument("--target", default=None,
                        help="targeted attack toward this class (class code, or Normal, AF, Other, Noisy)")
    parser.add_argument("--paper-protocol", action="store_true",
                        help="the paper's protocol: records predicted AF are attacked toward Normal, every other "
                             "record untargeted (not with --target)")


def resolve_target(name: str | None, classes: list[str] | tuple[str, ...]) -> str | None:
    """A class of `classes` from its code or an alias (case-insensitive), or UserError."""
    if name is None:
        return None
    if name in classes:
        return name
    alias = TARGET_ALIASES.get(str(name).strip().lower())
    if alias in classes:
        return alias
    raise UserError(f"unknown target class {name!r} (choose from {', '.join(classes)})")


def params_from_args(args: Any, method: str | None = None, classes: list[str] | None = None,
                     **override: Any) -> AttackParams:
    """AttackParams from parsed options (`add_attack_args`), every value range-checked (UserError
    naming the range). `override` replaces options by attr (e.g. eps_mv for one robustness cell);
    `classes` resolves `--target` aliases and checks the targets."""
    from .params import PAPER_TARGET_MAP

    if method is not None:
        spec(method)
    values: dict[str, Any] = {}
    options: list[tuple[str, Any]] = []
    builtin = set(AttackParams.__dataclass_fields__)
    for p in all_params():
        v = override[p.attr] if p.attr in override else getattr(args, _dest(p), None)
        v = p.default if v is None else p.check(v, p.flag)
        if p.attr in builtin:
            values[p.attr] = v
        else:
            options.append((p.attr, v))
    target = getattr(args, "target", None)
    target_map: tuple = ()
    if getattr(args, "paper_protocol", False):
        if target is not None:
            raise UserError("--paper-protocol sets the targets itself; leave out --target")
        target_map = PAPER_TARGET_MAP
    if classes is not None:
        target = resolve_target(target, classes)
    params = AttackParams(**values, target=target, target_map=target_map, options=tuple(options))
    if classes is not None:
        params.check_targets(list(classes))
    return params


def check_params(method: str, params: AttackParams) -> None:
    """UserError unless every parameter `method` reads lies in its declared range."""
    for p in spec(method).params:
        p.check(params.value(p), p.flag)


# -- results header -----------------------------------------------------------------------------

def _plain(v: Any) -> Any:
    return json.loads(json.dumps(v))


def header_params(method: str, params: AttackParams) -> dict:
    """The parameters of `method` that decide its results, as plain JSON: its declared numeric
    parameters (those marked in_header), its own non-numeric fields, the target and (when set)
    the per-class target map. Resuming a results file compares exactly these."""
    s = spec(method)
    doc: dict[str, Any] = {p.attr: params.value(p) for p in s.params if p.in_header}
    for f in s.header_fields:
        doc[f] = getattr(params, f)
    doc["target"] = params.target
    if params.target_map:
        doc["target_map"] = params.target_map
    return _plain(doc)


def _header_default(method: str, key: str) -> Any:
    """What a results file written before `key` existed implicitly used."""
    s = spec(method)
    for p in s.params:
        if p.attr == key:
            return _plain(p.default)
    if key in AttackParams.__dataclass_fields__:
        f = AttackParams.__dataclass_fields__[key]
        return _plain(f.default)
    return None


def params_differences(method: str, found: dict, want: dict) -> list[str]:
    """'name X in the file vs Y now' for each parameter of `method` that differs between a results
    header's params (`found`, possibly written by an older version with every field) and this
    run's `header_params` (`want`). Parameters the attack does not read are ignored; one missing
    from an old file counts as its default."""
    target_map_default: list = []
    diff = []
    for k, v in want.items():
        old = found.get(k, target_map_default if k == "target_map" else _header_default(method, k))
        if old != v:
            diff.append(f"{k} {old!r} in the file vs {v!r} now")
    if "target_map" not in want and found.get("target_map"):
        diff.append(f"target_map {found['target_map']!r} in the file vs [] now")
    return diff
