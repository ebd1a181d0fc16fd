"""The agent running Plumb's runtime itself (--run-plumb): a runtime that dies during the
soak fails the update, one that keeps dying after a commit (a crash loop) goes back to the
snapshot before. And MQTT: an update notice makes the agent check in at once."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from runtime.agent.agent import Agent
from runtime.agent.targets import PlumbProcess, PlumbTarget
from tests.agent.conftest import PlumbRuntime, free_port, good_flow, make_agent
from tests.agent.fake_server import FakeFleet


class Running:
    """An agent looping in a thread."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.thread = threading.Thread(target=agent.run, daemon=True)

    def __enter__(self) -> Agent:
        self.agent.start()
        self.thread.start()
        return self.agent

    def __exit__(self, *_exc: object) -> None:
        self.agent.stop()
        self.thread.join(timeout=30)
        self.agent.close()


def wait(predicate: object, timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def supervised(fleet: FakeFleet, tmp_path: Path) -> Iterator[tuple[Agent, PlumbRuntime]]:
    port = free_port()
    process = PlumbProcess(tmp_path / "runtime-flow.json", port, tmp_path / "runtime.log",
                           limit=2, window=60)
    agent = make_agent(fleet, PlumbTarget(f"http://127.0.0.1:{port}", process=process),
                       tmp_path / "state")
    view = PlumbRuntime(tmp_path)  # only to read the child's API
    view.port = port
    yield agent, view


def kill_runtime(agent: Agent) -> None:
    target = agent.target
    assert isinstance(target, PlumbTarget) and target.process is not None
    child = target.process.process
    assert child is not None
    os.kill(child.pid, signal.SIGKILL)
    wait(lambda: child.poll() is not None, 10, "the runtime to die")


def test_runtime_crash_during_the_soak_fails_the_update(
        fleet: FakeFleet, supervised: tuple[Agent, PlumbRuntime]) -> None:
    agent, runtime = supervised
    old = fleet.snapshot(good_flow("sup-old"))
    new = fleet.snapshot(good_flow("sup-new"))
    with Running(agent):
        fleet.set_target(old)
        wait(lambda: agent.state.pointer("current") == old, what="the first commit")
        runtime.wait_debug("sup-old")
        agent.config.soak = 20.0
        fleet.set_target(new)
        wait(lambda: agent.applying == new and runtime.running_tag() == "sup-new",
             what="the soak of the new snapshot")
        kill_runtime(agent)
        wait(lambda: any(r["snapshot"] == new for r in fleet.results()), 40, "a result")
        runtime.wait_debug("sup-old", timeout=30)
    result = next(r for r in fleet.results() if r["snapshot"] == new)
    assert result["ok"] is False and "crash" in result["reason"]
    assert agent.state.pointer("current") == old


def test_crash_loop_after_a_commit_goes_back_to_the_snapshot_before(
        fleet: FakeFleet, supervised: tuple[Agent, PlumbRuntime]) -> None:
    agent, runtime = supervised
    old = fleet.snapshot(good_flow("loop-old"))
    new = fleet.snapshot(good_flow("loop-new"))
    with Running(agent):
        fleet.queue(old, new)
        wait(lambda: agent.state.pointer("current") == new, 60, "both commits")
        fleet.set_target(None)
        runtime.wait_debug("loop-new", timeout=30)
        for _ in range(2):  # the runtime keeps dying
            kill_runtime(agent)
            if agent.state.pointer("current") == new:
                wait(lambda: runtime.running_tag() is not None
                     or agent.state.pointer("current") == old, 30, "the restart")
        wait(lambda: agent.state.pointer("current") == old, 30, "the rollback")
        runtime.wait_debug("loop-old", timeout=30)
        wait(lambda: any(r["snapshot"] == new and not r["ok"] for r in fleet.results()),
             10, "the report")
    result = [r for r in fleet.results() if r["snapshot"] == new][-1]
    assert "crash loop" in result["reason"]
    assert agent.state.pointer("last_good") == old


MOSQUITTO_OK = True
try:
    from tests.runtime.test_mqtt_nodes import MOSQUITTO, Mosquitto
except ImportError:  # pragma: no cover
    MOSQUITTO_OK = False


@pytest.mark.skipif(not MOSQUITTO_OK or MOSQUITTO is None, reason="mosquitto is not installed")
def test_mqtt_update_notice_makes_the_agent_check_in_at_once(
        fleet: FakeFleet, plumb_runtime: PlumbRuntime, tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path)
    broker.start()
    try:
        fleet.check_in_seconds = 60.0  # no regular check-in during the test
        agent = make_agent(fleet, PlumbTarget(plumb_runtime.url), tmp_path / "state",
                           mqtt=f"127.0.0.1:{broker.port}")
        snapshot = fleet.snapshot(good_flow("mqtt-1"))
        with Running(agent):
            wait(lambda: len(fleet.check_ins) >= 1, 20, "the first check-in")
            assert agent.identity is not None
            topic = f"plumb/devices/{agent.identity.device_id}/update"
            fleet.set_target(snapshot)
            publisher = mqtt.Client(CallbackAPIVersion.VERSION2)
            publisher.connect("127.0.0.1", broker.port)
            publisher.loop_start()
            try:
                started = time.monotonic()
                deadline = started + 20
                while agent.state.pointer("current") != snapshot:
                    assert time.monotonic() < deadline, "the notice was not acted on"
                    publisher.publish(topic, b"", qos=1)  # until the agent has subscribed
                    time.sleep(0.5)
            finally:
                publisher.loop_stop()
                publisher.disconnect()
            assert time.monotonic() - started < 20
        plumb_runtime.wait_debug("mqtt-1")
    finally:
        broker.stop()
