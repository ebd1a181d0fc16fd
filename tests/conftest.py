"""Shared fixtures. The real Node-RED oracle lives in tests/nodered/server.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evals.nodered import NodeRed, ensure_installed

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


class NetworkGuard:
    """Records (and refuses) every connection attempt to a non-loopback address."""

    def __init__(self) -> None:
        self.attempts: list[str] = []

    def check(self, address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else str(address)
        if isinstance(host, str) and (host.startswith("127.") or host in ("::1", "localhost")):
            return
        if isinstance(address, (str, bytes)):  # unix sockets
            return
        self.attempts.append(str(address))
        raise OSError(f"network access to {address} is not allowed in Plumb's tests")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> NetworkGuard:
    """Fail loudly if the code under test reaches beyond loopback (downloads, telemetry)."""
    import socket

    guard = NetworkGuard()
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            guard.check(address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            guard.check(address)
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        guard.check((host,))
        return real_getaddrinfo(host, *args, **kwargs)

    real_getaddrinfo = socket.getaddrinfo
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return guard
