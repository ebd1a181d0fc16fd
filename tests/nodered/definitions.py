"""Node-RED's own editor definitions of every installed node type (tests only)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from evals.nodered import ensure_installed

EXTRACTOR = Path(__file__).with_name("extract_definitions.js")


def editor_definitions(root: Path | None = None) -> dict[str, Any]:
    """Node-RED's own editor definitions of every installed type (defaults, ports, ...)."""
    modules = (root or ensure_installed()) / "node_modules"
    out = subprocess.run(
        ["node", str(EXTRACTOR), str(modules)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result
