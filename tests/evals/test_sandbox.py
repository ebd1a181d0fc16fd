"""Node-RED as Plumb runs it cannot reach beyond loopback, whatever a flow asks for."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from evals.nodered import NodeRed, free_port

pytestmark = pytest.mark.nodered


def test_flows_cannot_reach_beyond_loopback(node_red: NodeRed) -> None:
    # A local listener proves the guard still lets loopback through.
    port = free_port()
    server = socket.socket()
    server.bind(("127.0.0.1", port))
    server.listen()
    accepted: list[bool] = []
    threading.Thread(target=lambda: (server.accept(), accepted.append(True)), daemon=True).start()
    flow = [
        {"id": "t", "type": "tab", "label": "sandbox"},
        {
            "id": "i",
            "type": "inject",
            "z": "t",
            "x": 1,
            "y": 1,
            "once": True,
            "onceDelay": 0.1,
            "wires": [["h", "h2"]],
        },
        {
            "id": "h",
            "type": "http request",
            "z": "t",
            "method": "GET",
            "ret": "txt",
            "url": "http://192.168.1.10/status",
            "x": 2,
            "y": 1,
            "wires": [[]],
        },
        {
            "id": "h2",
            "type": "http request",
            "z": "t",
            "method": "GET",
            "ret": "txt",
            "url": f"http://127.0.0.1:{port}/ok",
            "x": 2,
            "y": 2,
            "wires": [[]],
        },
    ]
    mark = len(node_red.snapshot())
    assert node_red.deploy(flow).started
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (
        accepted and any("Plumb sandbox" in line for line in node_red.snapshot(mark))
    ):
        time.sleep(0.1)
    server.close()
    assert any(
        "Plumb sandbox: connection to 192.168.1.10 refused" in line
        for line in node_red.snapshot(mark)
    ), node_red.snapshot(mark)[-10:]
    assert accepted, "loopback connections must still work"
