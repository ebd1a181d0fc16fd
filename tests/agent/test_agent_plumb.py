"""The agent against the fake fleet server and a real Plumb runtime (`ask run`): register,
apply and commit a good snapshot, roll back a bad one by itself, refuse tampered or
foreign-signed bundles, keep running while the server is away."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from runtime.agent.agent import Agent, AgentError
from runtime.agent.state import AgentState
from runtime.agent.targets import PlumbTarget
from tests.agent.conftest import (
    PlumbRuntime,
    good_flow,
    make_agent,
    missing_type_flow,
    throwing_flow,
)
from tests.agent.fake_server import FakeFleet


def commit(agent: Agent, fleet: FakeFleet, tag: str) -> str:
    """Make the flow tagged `tag` the device's committed snapshot."""
    snapshot = fleet.snapshot(good_flow(tag))
    fleet.set_target(snapshot)
    assert agent.run(once=True) == 0
    assert agent.state.pointer("current") == snapshot
    return snapshot


def test_registers_once_pins_the_key_and_keeps_the_credential_private(
        fleet: FakeFleet, plumb_runtime: PlumbRuntime, tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    agent = make_agent(fleet, PlumbTarget(plumb_runtime.url), state_dir)
    assert agent.run(once=True) == 0
    agent.close()
    assert len(fleet.registrations) == 1
    registration = fleet.registrations[0]
    assert registration["name"] == "dev-1" and registration["tags"] == ["line-3"]
    assert registration["runtime_version"].startswith("plumb ")
    identity = AgentState(state_dir).identity()
    assert identity is not None and identity.device_id in fleet.devices.values()
    assert stat.S_IMODE(os.stat(state_dir / "credential").st_mode) == 0o600
    assert "BEGIN PUBLIC KEY" in (state_dir / "server-key.pem").read_text()

    again = make_agent(fleet, PlumbTarget(plumb_runtime.url), state_dir)
    again.config.provision_token = None  # not needed any more
    assert again.run(once=True) == 0
    again.close()
    assert len(fleet.registrations) == 1
    body = fleet.last_check_in()
    assert body["state"] == "idle" and body["agent_version"]
    assert set(body["health"]) == {"flows_started", "node_errors", "crashes", "running_since"}


def test_unregistered_without_token_and_bad_token_are_clear_errors(
        fleet: FakeFleet, plumb_runtime: PlumbRuntime, tmp_path: Path) -> None:
    agent = make_agent(fleet, PlumbTarget(plumb_runtime.url), tmp_path / "a")
    agent.config.provision_token = None
    with pytest.raises(AgentError, match="not registered"):
        agent.run(once=True)
    agent.close()
    agent = make_agent(fleet, PlumbTarget(plumb_runtime.url), tmp_path / "b")
    agent.config.provision_token = "plumb_p_wrong"
    with pytest.raises(AgentError, match="refused the registration"):
        agent.run(once=True)
    agent.close()


def test_good_snapshot_runs_is_committed_and_reported(
        fleet: FakeFleet, plumb_agent: Agent, plumb_runtime: PlumbRuntime) -> None:
    snapshot = commit(plumb_agent, fleet, "good-1")
    plumb_runtime.wait_debug("good-1")
    state = plumb_agent.state
    assert state.pointer("last_good") == snapshot and state.pointer("staged") is None
    assert state.journal() is None
    report = fleet.last_check_in()
    assert report["running_snapshot"] == snapshot
    assert report["last_result"]["snapshot"] == snapshot and report["last_result"]["ok"]
    assert report["health"]["flows_started"] and report["health"]["node_errors"] == 0
    assert report["health"]["running_since"].endswith("Z")
    # reported once: the next check-in carries no result
    assert plumb_agent.run(once=True) == 0
    assert "last_result" not in fleet.last_check_in()
    assert fleet.last_check_in()["state"] == "idle"


def test_snapshot_whose_node_fails_at_start_is_rolled_back_by_the_agent(
        fleet: FakeFleet, plumb_agent: Agent, plumb_runtime: PlumbRuntime) -> None:
    good = commit(plumb_agent, fleet, "good-2")
    bad = fleet.snapshot(throwing_flow("bad-2"))
    fleet.set_target(bad)
    assert plumb_agent.run(once=True) == 1
    plumb_runtime.wait_debug("good-2")  # the old snapshot runs again
    result = fleet.results()[-1]
    assert result["snapshot"] == bad and result["ok"] is False
    assert "boom at start" in result["reason"] and "rolled back" in result["reason"]
    assert fleet.last_check_in()["state"] == "rolled_back"
    assert fleet.last_check_in()["running_snapshot"] == good
    assert plumb_agent.state.pointer("current") == good
    # the server still names it: it is not applied again (no retry loop)
    fetches = len(fleet.fetches)
    assert plumb_agent.run(once=True) == 0
    assert len(fleet.fetches) == fetches and plumb_runtime.running_tag() == "good-2"


def test_flow_the_runtime_refuses_is_reported_and_the_old_one_keeps_running(
        fleet: FakeFleet, plumb_agent: Agent, plumb_runtime: PlumbRuntime) -> None:
    commit(plumb_agent, fleet, "good-3")
    bad = fleet.snapshot(missing_type_flow("bad-3"))
    fleet.set_target(bad)
    assert plumb_agent.run(once=True) == 1
    result = fleet.results()[-1]
    assert result["ok"] is False and "no-such-node-type" in result["reason"]
    plumb_runtime.wait_debug("good-3")


@pytest.mark.parametrize("how", ["tampered", "foreign key", "bad signature"])
def test_bundle_not_signed_by_the_pinned_key_is_refused(
        fleet: FakeFleet, plumb_agent: Agent, plumb_runtime: PlumbRuntime, how: str) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    commit(plumb_agent, fleet, "good-4")
    rev = plumb_agent.target.running_rev()
    if how == "foreign key":
        snapshot = fleet.snapshot(good_flow("evil"), key=Ed25519PrivateKey.generate())
    else:
        snapshot = fleet.snapshot(good_flow("evil"))
        if how == "tampered":
            fleet.bundles[snapshot]["flows"][1]["payload"] = "tampered"
        else:
            fleet.bundles[snapshot]["signature"] = "00" * 64
    fleet.set_target(snapshot)
    assert plumb_agent.run(once=True) == 1
    result = fleet.results()[-1]
    assert result["snapshot"] == snapshot and result["ok"] is False
    assert ("does not match its id" if how == "tampered" else "not signed by the pinned")\
        in result["reason"]
    assert plumb_agent.target.running_rev() == rev  # nothing was deployed
    assert plumb_agent.state.load_snapshot(snapshot) is None  # nor stored


def test_server_unreachable_keeps_the_snapshot_running_then_reconnects(
        fleet: FakeFleet, plumb_agent: Agent, plumb_runtime: PlumbRuntime) -> None:
    snapshot = commit(plumb_agent, fleet, "good-5")
    fleet.stop()
    started = time.monotonic()
    assert plumb_agent.step() == 1  # logged, backed off
    assert plumb_agent.step() == 1
    assert time.monotonic() - started < 10
    assert 0 < plumb_agent._backoff <= plumb_agent.config.max_backoff * 1.2
    plumb_runtime.wait_debug("good-5")
    fleet.start()  # the same port again
    assert plumb_agent.step() == 0 and plumb_agent._backoff == 0
    assert fleet.last_check_in()["running_snapshot"] == snapshot


def test_decommissioned_device_keeps_running(fleet: FakeFleet, plumb_agent: Agent,
                                              plumb_runtime: PlumbRuntime) -> None:
    commit(plumb_agent, fleet, "good-6")
    fleet.refuse_devices = True
    assert plumb_agent.step() == 1
    plumb_runtime.wait_debug("good-6")


def test_runtime_restarted_with_another_flow_gets_current_again(
        fleet: FakeFleet, plumb_agent: Agent, plumb_runtime: PlumbRuntime) -> None:
    commit(plumb_agent, fleet, "good-7")
    import httpx

    httpx.post(plumb_runtime.url + "/flows", json=good_flow("someone-else"), timeout=10)
    assert plumb_runtime.running_tag() == "someone-else"
    assert plumb_agent.run(once=True) == 0
    plumb_runtime.wait_debug("good-7")


def test_credentials_and_env_reach_the_deployed_nodes(
        fleet: FakeFleet, plumb_agent: Agent, plumb_runtime: PlumbRuntime) -> None:
    flow = [*good_flow("env-8"),
            {"id": "fnenv", "type": "function", "z": "tab1", "name": "envreader",
             "func": "msg.payload = env.get('PLANT_LINE'); return msg;", "outputs": 1,
             "wires": [["dbg"]]}]
    flow[1]["wires"] = [["dbg", "fnenv"]]
    snapshot = fleet.snapshot(flow, env={"PLANT_LINE": "line-8"},
                              credentials={"fnenv": {"secret": "s3cret"}})
    fleet.set_target(snapshot)
    assert plumb_agent.run(once=True) == 0
    plumb_runtime.wait_debug("env-8")
    deadline = time.monotonic() + 10
    while "line-8" not in plumb_runtime.debug_values():
        assert time.monotonic() < deadline, plumb_runtime.debug_values()[-5:]
        time.sleep(0.1)
    deployed = {n["id"]: n for n in plumb_runtime.flow()}
    assert deployed["fnenv"]["credentials"] == {"secret": "s3cret"}
    # the bundle on disk holds clear-text credentials: only the agent's user reads it
    path = plumb_agent.state.snapshot_path(snapshot)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_a_queue_of_targets_is_applied_in_order(
        fleet: FakeFleet, plumb_agent: Agent, plumb_runtime: PlumbRuntime) -> None:
    first = fleet.snapshot(good_flow("q-1"))
    second = fleet.snapshot(good_flow("q-2"))
    fleet.queue(first, second)
    assert plumb_agent.run(once=True) == 0
    assert plumb_agent.run(once=True) == 0
    assert plumb_agent.state.pointer("current") == second
    assert plumb_agent.state.pointer("previous") == first
    plumb_runtime.wait_debug("q-2")
