"""`ask serve` as a user starts it: a real process on a loopback port, the smallest real
model (llama.cpp, SmolLM2-135M from PyPI), a streamed request whose code the model writes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from flowschema.validator import validate_flow
from tests.server.conftest import MODEL_REQUEST, free_port
from tests.server.test_api import events_of

MODEL = "smollm2-135m"


def _installed() -> bool:
    from assistant.models.install import ModelState, state
    from assistant.models.registry import get_spec

    return state(get_spec(MODEL)) == ModelState.INSTALLED


pytestmark = pytest.mark.skipif(not _installed(),
                                reason=f"model {MODEL} is not installed (`ask models install "
                                       f"{MODEL}`; scripts/test.sh does it)")


def test_ask_serve_streams_a_real_models_code_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "assistant.cli", "serve", "--port", str(port), "--data-dir",
         str(tmp_path), "--model", MODEL],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PLUMB_FLEET_TICK_SECONDS": "0.5"})
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=120) as http:
            deadline = time.monotonic() + 90
            while True:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                try:
                    status = http.get("/api/v1/status").json()
                    if status["model_state"] == "loaded":
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the model did not load"
                time.sleep(0.2)
            assert status["model"] == MODEL
            page = http.get("/")
            assert page.status_code == 200 and "<html" in page.text.lower()
            answer = http.post("/api/v1/generate",
                               json={"request": MODEL_REQUEST, "stream": True})
            events = events_of(answer.text)
        names = [name for name, _ in events]
        assert names[0] == "started" and names[-1] == "done"
        assert "token" in names, "the model's code was not streamed"
        streamed = "".join(data["text"] for name, data in events if name == "token")
        result = events[-2][1]
        assert events[-2][0] == "result"
        assert result["outcome"] == "flow"
        assert validate_flow(result["flow"]).valid
        function = next(n for n in result["flow"] if n["type"] == "function")
        # What was streamed is what the model wrote for this node (or its repair).
        assert streamed.strip() and function["func"].strip()
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    # uvicorn shuts down gracefully, then re-raises the signal it caught.
    assert process.returncode in (0, -signal.SIGTERM)
    output = process.stdout.read() if process.stdout else ""
    assert "Traceback" not in output, output
