"""Shared fixtures. The real Node-RED oracle lives in tests/nodered/server.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.nodered.server import NodeRed, ensure_installed

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def node_red_root() -> Path:
    """Node-RED 4.x with the Modbus and OPC UA contrib packages, installed once and cached."""
    return ensure_installed()


@pytest.fixture(scope="session")
def node_red(node_red_root: Path) -> Iterator[NodeRed]:
    """A running Node-RED shared by the session (admin API on, editor off, loopback only)."""
    server = NodeRed(node_red_root).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def node_red_examples(node_red_root: Path) -> list[Path]:
    """The example flows shipped inside the installed node-red package (read, never copied)."""
    folder = node_red_root / "node_modules" / "@node-red" / "nodes" / "examples"
    files = sorted(folder.rglob("*.json"))
    assert len(files) > 100, f"expected Node-RED's ~113 examples under {folder}"
    return files


def shipped_examples() -> list[Path]:
    return sorted(EXAMPLES.glob("*.json"))
