"""flowschema is the contract everything imports; it must import nothing of the rest."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PLUMB_PACKAGES = {"assistant", "runtime", "corpus", "evals", "tests", "bench"}


def test_flowschema_imports_no_other_plumb_package() -> None:
    offenders = []
    for path in (REPO / "flowschema").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in PLUMB_PACKAGES]
    assert not offenders
