"""The declarations (attacks, their parameters, architectures, class names) are walked and checked,
and the source tree is searched for hand-made copies of them: a list of attack names, architecture
names or class names, or a parameter default written again, outside the registry modules fails."""

from __future__ import annotations

import argparse
import ast
import itertools
import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from engine.attacks import registry as reg
from engine.attacks.params import BUILTIN_PARAMS, AttackParams, Param
from engine.datasets import CLASSES
from engine.errors import UserError
from engine.models import ARCHITECTURES, INPUT_SPECS

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("engine", "gui", "main.py")
# the modules that declare things (they are allowed to name them)
REGISTRIES = {"engine/attacks/registry.py", "engine/attacks/params.py", "engine/models/__init__.py",
              "engine/datasets.py"}
# copies known today in files other helpers are converting to the registries: (path, kind).
# Remove an entry once its file reads the registry; a new copy anywhere else fails the test.
PENDING = {
    ("engine/review/tasks.py", "class names"),  # task C answers and rhythm names
    ("engine/cli/review.py", "attack names"),  # --methods help text
    ("engine/training.py", "class names"),  # per-class oversampling (DUPLICATES)
}


# -- the registries ------------------------------------------------------------------------------

def test_attack_registry_is_consistent():
    assert reg.ATTACKS and reg.DEFAULT_METHOD in reg.ATTACKS
    from engine.attacks.base import Attack
    from engine.attacks.runner import ATTACKS as RUNNER

    assert list(RUNNER) == list(reg.ATTACKS)
    for name, s in reg.ATTACKS.items():
        assert s.name == name and s.label and s.help
        assert issubclass(s.cls, Attack) and s.cls.name == name and RUNNER[name] is s.cls
        assert all(isinstance(p, Param) for p in s.params)
        assert set(s.step_attrs) <= {p.attr for p in s.params}
        assert all(f in {f.name for f in fields(AttackParams)} for f in s.header_fields)
        assert s.total_steps(AttackParams()) == sum(getattr(AttackParams(), a) for a in s.step_attrs)


def test_every_parameter_default_is_declared_once_and_in_range():
    defaults = AttackParams()
    for p in reg.all_params():
        assert p.check(p.default) == p.default, p.attr  # the default lies in its own range
        assert getattr(defaults, p.attr) == p.default, p.attr  # AttackParams reads the declaration
        assert p.flag.startswith("--") and p.help
    assert {p.attr for p in BUILTIN_PARAMS} == {p.attr for p in reg.all_params()}


@pytest.mark.parametrize("p", reg.all_params(), ids=lambda p: p.attr)
def test_parameter_ranges_refuse_outside_values(p: Param):
    if p.kind is bool:
        with pytest.raises(UserError, match="on or off"):
            p.check("yes")
        return
    bad = [p.hi * 2 + 1, p.lo - 1, "nan", "inf", "abc"] + ([p.lo] if p.lo_open else [])
    for v in bad:
        with pytest.raises(UserError) as info:
            p.check(v)
        assert p.range_text() in str(info.value) and "\n" not in str(info.value)
    assert p.check(str(p.hi)) == p.hi


def test_cli_options_are_generated_from_the_declarations():
    ap = argparse.ArgumentParser()
    reg.add_attack_args(ap)
    flags = {a.option_strings[0]: a for a in ap._actions if a.option_strings}
    assert flags["--method"].choices == list(reg.ATTACKS) and flags["--method"].default == reg.DEFAULT_METHOD
    for p in reg.all_params():
        assert p.flag in flags
        if p.kind is not bool:
            assert p.range_text() in flags[p.flag].help
    args = ap.parse_args(["--eps", "0.02", "--steps", "3"])
    params = reg.params_from_args(args, "pgd", ["N", "A"])
    assert params.eps_mv == 0.02 and params.steps == 3 and params.alpha_mv == AttackParams().alpha_mv


def test_header_holds_only_the_run_attacks_parameters_and_old_headers_resume():
    p = AttackParams(sap_steps=7)
    pgd = reg.header_params("pgd", p)
    assert "sap_steps" not in pgd and "kernel_sizes" not in pgd and pgd["eps_mv"] == p.eps_mv
    assert reg.header_params("sap", p)["sap_steps"] == 7
    # a header written before: every AttackParams field, for a PGD run with other SAP settings
    old = {"eps_mv": 0.01, "alpha_mv": 0.001, "steps": 20, "sap_steps": 99, "target": None, "random_start": False,
           "seed": 0, "kernel_sizes": [5], "kernel_sigmas": [1.0]}
    assert reg.params_differences("pgd", old, reg.header_params("pgd", AttackParams())) == []
    diff = reg.params_differences("sap", old, reg.header_params("sap", AttackParams()))
    assert any(d.startswith("sap_steps 99") for d in diff) and any(d.startswith("kernel_sizes") for d in diff)
    # a key an old file lacks counts as its default; a per-class map absent from the file counts as none
    assert reg.params_differences("pgd", {k: v for k, v in old.items() if k != "seed"},
                                  reg.header_params("pgd", AttackParams())) == []
    assert reg.params_differences("pgd", old, reg.header_params("pgd", AttackParams(target_map=(("A", "N"),))))


def test_architecture_registry_is_consistent():
    from torch import nn

    from engine.models import DEFAULT_ARCH, build
    from engine.models.checkpoint import BUILTIN

    from engine.models import BUNDLED

    assert DEFAULT_ARCH in ARCHITECTURES and set(BUILTIN) == set(BUNDLED) >= set(ARCHITECTURES)
    for name, m in BUNDLED.items():  # every architecture's own weights, and variants of declared ones
        assert m.name == name and m.arch in ARCHITECTURES and m.label and m.help and m.weights.endswith(".safetensors")
        assert name not in ARCHITECTURES or (m.arch == name and m.weights == ARCHITECTURES[name].weights)
    for name, a in ARCHITECTURES.items():
        assert a.name == name and a.label and a.help and a.default_epochs > 0
        assert INPUT_SPECS[name] == a.input.as_dict()
        assert issubclass(a.cls, nn.Module)
        m = build(name, n_classes=len(CLASSES))
        assert m(__import__("torch").zeros(1, 1, 3000)).shape == (1, len(CLASSES))
    with pytest.raises(UserError, match="choose from"):
        build("nope")


def test_cpu_twin_support_follows_the_declaration():
    from engine.models import build
    from engine.models.cpu_twin import make_twin

    for name, a in ARCHITECTURES.items():
        twin = make_twin(build(name).eval(), 3000)
        assert (twin is not None) == a.cpu_twin, name


def test_the_registry_modules_do_not_import_torch():
    code = ("import sys; import engine.attacks.registry, engine.attacks.params, engine.models, engine.attacks; "
            "from engine.attacks import AttackParams; AttackParams().total_steps('sap'); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


# -- no copies in the source tree -----------------------------------------------------------------

def _sources():
    for top in SCANNED:
        path = ROOT / top
        for f in ([path] if path.is_file() else sorted(path.rglob("*.py"))):
            yield f.relative_to(ROOT).as_posix(), f.read_text(encoding="utf-8")


def _docstrings(tree) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def _strings(elts) -> list[str]:
    """String constants of a collection, and the first strings of its (key, label) pairs."""
    out = []
    for e in elts:
        if isinstance(e, (ast.Tuple, ast.List)) and e.elts:
            e = e.elts[0]
        if isinstance(e, ast.Constant) and isinstance(e.value, str):
            out.append(e.value)
    return out


def find_copies(path: str, source: str) -> set[tuple[str, str, int]]:
    """(kind, text, line) for every list of names or restated default found in `source`."""
    groups = {"attack names": (list(reg.ATTACKS), 2), "architecture names": (list(ARCHITECTURES), 2),
              "class names": (list(CLASSES), len(CLASSES))}
    defaults = {p.attr: p.default for p in reg.all_params() if p.kind is not bool and p.attr != "seed"}
    tree = ast.parse(source)
    docs = _docstrings(tree)
    found = set()

    def check_group(strings: list[str], line: int) -> None:
        for kind, (names, need) in groups.items():
            if len(set(strings) & set(names)) >= need:
                found.add((kind, ",".join(s for s in strings if s in names), line))

    for node in ast.walk(tree):
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            check_group(_strings(node.elts), node.lineno)
        elif isinstance(node, ast.Dict):
            check_group(_strings([k for k in node.keys if k is not None]), node.lineno)
            for k, v in zip(node.keys, node.values):
                if isinstance(k, ast.Constant) and isinstance(k.value, str) and isinstance(v, ast.Constant):
                    attr = k.value.rsplit("/", 1)[-1]
                    if attr in defaults and v.value == defaults[attr]:
                        found.add(("default", f"{k.value}={v.value}", node.lineno))
        elif isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg in defaults and isinstance(kw.value, ast.Constant) and kw.value.value == defaults[kw.arg]:
                    found.add(("default", f"{kw.arg}={kw.value.value}", node.lineno))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args.args[len(node.args.args) - len(node.args.defaults):] + node.args.kwonlyargs
            for a, d in zip(args, node.args.defaults + [d for d in node.args.kw_defaults]):
                if a.arg in defaults and isinstance(d, ast.Constant) and d.value == defaults[a.arg]:
                    found.add(("default", f"{a.arg}={d.value}", node.lineno))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            for kind, (names, _) in groups.items():
                if kind == "class names":
                    continue
                for a, b in itertools.permutations(names, 2):
                    if re.search(rf"(?<![\w-]){re.escape(a)}\s*(,|\||/| or )\s*{re.escape(b)}(?![\w-])", node.value):
                        found.add((kind, node.value[:60], node.lineno))
    return found


def test_the_copy_finder_finds_copies():
    src = ('M = ["pgd", "sap"]\nA = ("default", "paper-cnn")\nC = ("N", "A", "O", "~")\n'
           'x = f(eps_mv=0.01)\nS = {"attack/steps": 20}\nh = "sap|pgd"\ndef g(sap_steps=40): pass\n'
           'H = "default, paper-cnn or a file"\n')
    kinds = sorted(k for k, _, _ in find_copies("x.py", src))
    assert kinds == sorted(["attack names", "architecture names", "class names", "default", "default",
                            "attack names", "default", "architecture names"])
    assert not find_copies("x.py", '"""PGD, SAP: pgd, sap in a docstring"""\nx = f(steps=3)\n')


def test_no_copies_of_the_declarations_outside_the_registries():
    copies = {}
    for path, source in _sources():
        if path in REGISTRIES:
            continue
        for kind, text, line in find_copies(path, source):
            if (path, kind) not in PENDING:
                copies.setdefault(path, []).append(f"line {line}: {kind} ({text})")
    assert not copies, "declarations copied by hand (read engine.attacks.registry / engine.models / " \
                       f"engine.datasets.CLASSES instead): {copies}"


def test_adding_an_attack_is_one_module_plus_its_registration(samples, monkeypatch, capsys, tmp_path):
    """A new attack (here a one-step FGSM with its own parameter, written as a module of its own)
    becomes a --method choice with its option, runs through the runner and writes its header
    parameters, with nothing else changed."""
    mod = tmp_path / "fgsm_attack.py"
    mod.write_text(
        "import torch\n"
        "from engine.attacks.base import Attack\n"
        "from engine.attacks.params import Param\n"
        "SCALE = Param('fgsm_scale', '--fgsm-scale', 'Scale', '', 1.0, 0.0, 1.0, 'share of ε used')\n"
        "class FGSM(Attack):\n"
        "    name = 'fgsm'\n"
        "    def perturb(self, x0, mask, labels):\n"
        "        d = torch.zeros_like(x0, requires_grad=True)\n"
        "        g = self.loss_grad(x0 + d, labels, d)\n"
        "        self.tick()\n"
        "        return (self.p.eps_mv * self.p.option(SCALE) * g.sign() * mask).detach()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import fgsm_attack

    from engine.attacks.params import EPS
    from engine.cli import main as cli

    monkeypatch.setitem(reg.ATTACKS, "fgsm", reg.AttackSpec(
        "fgsm", "FGSM", "one signed-gradient step", "fgsm_attack:FGSM", (EPS, fgsm_attack.SCALE),
        step_attrs=()))
    code = cli(["attack", str(samples / "A00001"), "--method", "fgsm", "--fgsm-scale", "0.5", "--eps", "0.2",
                "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    doc = __import__("json").loads(out)
    assert doc["method"] == "fgsm" and doc["results"][0]["linf_mv"] == pytest.approx(0.1, abs=0.002)
    params = reg.params_from_args(argparse.Namespace(fgsm_scale=0.25), "fgsm")
    assert reg.header_params("fgsm", params) == {"eps_mv": EPS.default, "fgsm_scale": 0.25, "target": None}
    with pytest.raises(SystemExit):
        cli(["attack", str(samples / "A00001"), "--method", "fgsm", "--fgsm-scale", "2"])
    assert "between 0 and 1" in capsys.readouterr().err


def test_robustness_defaults_to_the_papers_two_attacks():
    from engine.attacks.registry import ATTACKS, PAPER_METHODS
    from engine.cli import build_parser

    assert PAPER_METHODS == ("pgd", "sap") and all(ATTACKS[m].paper for m in PAPER_METHODS)
    args = build_parser().parse_args(["robustness", "DS", "--eps", "0.01"])
    assert args.method == "pgd,sap"
