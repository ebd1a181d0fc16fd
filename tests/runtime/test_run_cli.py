"""`ask run`: a flow runs in the foreground, answers the admin API, prints debug output and
stops cleanly on Ctrl-C; a flow that cannot run is refused with the reasons."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("uvicorn")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ask(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "assistant.cli", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def test_run_serves_the_api_prints_debug_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    flow = [{"id": "t", "type": "tab"},
            {"id": "inj", "type": "inject", "z": "t", "payload": "ping", "payloadType": "str",
             "wires": [["dbg"]]},
            {"id": "dbg", "type": "debug", "z": "t", "name": "out", "wires": []}]
    path = tmp_path / "flow.json"
    path.write_text(json.dumps(flow))
    port = _free_port()
    proc = _ask("run", str(path), "--port", str(port))
    try:
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/flows/state") as r:
                    assert json.loads(r.read()) == {"state": "start"}
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("ask run did not start: " + (proc.stderr.read() if proc.stderr else ""))
        request = urllib.request.Request(f"http://127.0.0.1:{port}/inject/inj", method="POST")
        with urllib.request.urlopen(request) as r:
            assert r.status == 200
        time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert 'debug out: "ping"' in err and "stopped" in err


def test_run_refuses_a_flow_it_cannot_run(tmp_path: Path) -> None:
    path = tmp_path / "flow.json"
    path.write_text(json.dumps([{"id": "t", "type": "tab"},
                                {"id": "x", "type": "no-such-node", "z": "t", "wires": []}]))
    proc = _ask("run", str(path), "--port", str(_free_port()))
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert "no-such-node" in err and "missing_types" in err
