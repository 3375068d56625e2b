"""Dependencies run one way: the GUI never imports the CLI (engine.cli); class descriptions come
from engine.datasets (declared once next to CLASSES)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module if node.level == 0 else "gui." + node.module  # relative: inside gui
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names)
    return out


def test_gui_never_imports_the_cli():
    bad = {str(p.relative_to(ROOT)): sorted(m for m in _imports(p) if m == "engine.cli" or m.startswith("engine.cli."))
           for p in (ROOT / "gui").rglob("*.py")}
    assert not {k: v for k, v in bad.items() if v}


def test_the_import_finder_sees_a_cli_import(tmp_path):
    f = tmp_path / "x.py"
    f.write_text("def f():\n    from engine.cli import _Parser\n    from engine.cli.review import add_open_args\n")
    assert {"engine.cli", "engine.cli.review"} <= _imports(f)


def test_class_descriptions_are_read_from_the_engine():
    from engine.datasets import CLASS_DESCRIPTIONS, CLASSES
    from gui.panels.common import CLASS_NAMES, SHORT_NAMES

    assert tuple(CLASS_DESCRIPTIONS) == CLASSES
    assert CLASS_NAMES == {c: d[0] for c, d in CLASS_DESCRIPTIONS.items()}
    assert SHORT_NAMES == {c: d[1] for c, d in CLASS_DESCRIPTIONS.items()}


def test_review_open_parser_is_shared(capsys):
    import pytest

    from engine.review.open_args import open_parser

    args = open_parser().parse_args(["s.db", "--reviewer", "AB"])
    assert (args.study, args.reviewer, args.screenshot) == ("s.db", "AB", None)
    with pytest.raises(SystemExit) as e:
        open_parser().parse_args([])
    assert e.value.code == 2 and capsys.readouterr().err.startswith("error: ")
