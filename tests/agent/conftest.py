"""Fixtures for the agent: the fake fleet server, a real Plumb runtime (`ask run` on a free
loopback port), flows whose runs can be told apart, and agents wired to them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from runtime.agent.agent import Agent, AgentConfig
from runtime.agent.state import AgentState
from runtime.agent.targets import PlumbTarget, Target
from tests.agent.fake_server import FakeFleet

REPO = Path(__file__).resolve().parents[2]
DEADLINE = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def good_flow(tag: str) -> list[dict[str, Any]]:
    """Injects `tag` every 0.2 s into a debug node named `tag`: its debug output proves
    that this flow, and no other, runs."""
    return [{"id": "tab1", "type": "tab", "label": tag},
            {"id": "inj", "type": "inject", "z": "tab1", "payload": tag, "payloadType": "str",
             "once": True, "onceDelay": 0.1, "repeat": "0.2", "topic": "", "wires": [["dbg"]]},
            {"id": "dbg", "type": "debug", "z": "tab1", "name": tag, "active": True,
             "tosidebar": True, "console": True, "complete": "payload", "wires": []}]


def throwing_flow(tag: str) -> list[dict[str, Any]]:
    """Deploys fine, then its function node fails while starting (its initialize throws)."""
    return [*good_flow(tag),
            {"id": "fn", "type": "function", "z": "tab1", "name": "broken",
             "func": "return msg;", "initialize": "throw new Error('boom at start');",
             "finalize": "", "outputs": 1, "wires": [[]]}]


def missing_type_flow(tag: str) -> list[dict[str, Any]]:
    return [*good_flow(tag),
            {"id": "odd", "type": "no-such-node-type", "z": "tab1", "wires": []}]


class PlumbRuntime:
    """`ask run` on a free loopback port, as a process of its own (it outlives agents)."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> PlumbRuntime:
        flow = self.folder / "initial.json"
        flow.write_text(json.dumps(good_flow("initial")))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "assistant.cli", "run", str(flow), "--port", str(self.port),
             "-q"], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url + "/flows/state", timeout=1)
                return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("ask run did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=15)

    def flow(self) -> list[dict[str, Any]]:
        body: list[dict[str, Any]] = httpx.get(self.url + "/flows", timeout=5).json()
        return body

    def running_tag(self) -> str | None:
        """The tag of the deployed flow (its tab's label); None while it does not answer."""
        try:
            flow = self.flow()
        except httpx.HTTPError:
            return None
        return next((str(n.get("label")) for n in flow if n.get("type") == "tab"), None)

    def debug_values(self) -> list[Any]:
        try:
            events = httpx.get(self.url + "/plumb/events", timeout=5).json()["events"]
        except httpx.HTTPError:
            return []
        return [e["value"] for e in events if e["kind"] == "debug"]

    def wait_debug(self, tag: str, timeout: float = 10.0) -> None:
        """Debug output of the flow tagged `tag` arrives (it runs, not only sits there)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.running_tag() == tag and tag in self.debug_values():
                return
            time.sleep(0.1)
        raise AssertionError(f"no debug output of {tag!r}; running {self.running_tag()!r}")


@pytest.fixture(scope="module")
def plumb_runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlumbRuntime]:
    runtime = PlumbRuntime(tmp_path_factory.mktemp("runtime")).start()
    try:
        yield runtime
    finally:
        runtime.stop()


@pytest.fixture
def fleet() -> Iterator[FakeFleet]:
    server = FakeFleet(check_in_seconds=0.3).start()
    try:
        yield server
    finally:
        server.stop()


def make_agent(fleet: FakeFleet, target: Target, state_dir: Path, *, soak: float = 0.8,
               **options: Any) -> Agent:
    config = AgentConfig(server=fleet.url, provision_token="plumb_p_test", name="dev-1",
                         tags=["line-3"], soak=soak, max_backoff=2.0, **options)
    return Agent(config, AgentState(state_dir), target)


@pytest.fixture
def plumb_agent(fleet: FakeFleet, plumb_runtime: PlumbRuntime,
                tmp_path: Path) -> Iterator[Agent]:
    agent = make_agent(fleet, PlumbTarget(plumb_runtime.url), tmp_path / "state")
    try:
        yield agent
    finally:
        agent.stop()
        agent.close()


def agent_command(fleet: FakeFleet, runtime_url: str, state_dir: Path, *extra: str,
                  crash_at: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`ask agent --once` as its own process (the crash tests kill it with SIGKILL)."""
    env = {k: v for k, v in os.environ.items() if k != "PLUMB_AGENT_CRASH_AT"}
    if crash_at:
        env["PLUMB_AGENT_CRASH_AT"] = crash_at
    return subprocess.run(
        [sys.executable, "-m", "assistant.cli", "agent", "--server", fleet.url,
         "--token", "plumb_p_test", "--state-dir", str(state_dir), "--runtime-url",
         runtime_url, "--soak", "0.8", "--once", *extra],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
