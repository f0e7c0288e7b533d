"""DESIGN.md §2: apps depend one way, accounts ← webhooks ← crm ← retention ← segmentation ← campaigns ← reporting.

An app imports only from apps to its left; a lower app that must react to a higher one exposes a service or a
signal instead. Checked on the source, so a new upward import fails here before it tangles the layers.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LAYERS = ("accounts", "webhooks", "crm", "retention", "segmentation", "campaigns", "reporting")
ROOT = Path(__file__).resolve().parent.parent


def _imported_apps(path: Path) -> set[tuple[int, str]]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found.update((node.lineno, name.split(".")[0]) for name in names)
    return found


@pytest.mark.parametrize("app", LAYERS)
def test_an_app_imports_only_from_the_apps_below_it(app):
    above = set(LAYERS[LAYERS.index(app) + 1 :])
    upward = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in sorted((ROOT / app).rglob("*.py"))
        for line, name in sorted(_imported_apps(path))
        if name in above
    ]
    assert upward == []
