"""Every package ``__init__.py`` under nimctl/ is a docstring only (the root may hold
``__version__``): importing a package must cost nothing at start-up, and code lives in the module
named for its job."""

from __future__ import annotations

import ast
from pathlib import Path

import nimctl

ROOT = Path(nimctl.__file__).resolve().parent


def _code_in(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            continue  # the docstring
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            continue
        found.append(f"{path.relative_to(ROOT.parent)}:{node.lineno} {type(node).__name__}")
    return found


def test_package_inits_hold_only_a_docstring():
    inits = sorted(p for p in ROOT.rglob("__init__.py") if p.parent != ROOT)
    assert len(inits) > 10
    assert [c for p in inits for c in _code_in(p)] == []
    undocumented = [str(p.relative_to(ROOT.parent)) for p in inits if not ast.get_docstring(ast.parse(p.read_text()))]
    assert undocumented == []


def test_the_root_holds_only_the_version():
    tree = ast.parse((ROOT / "__init__.py").read_text(encoding="utf-8"))
    code = [n for n in tree.body if not isinstance(n, ast.Expr) and not isinstance(n, ast.ImportFrom)]
    assert [ast.unparse(n).split(" =")[0] for n in code] == ["__version__"]
