"""kill -9 at every step of an update: `ask agent --once` is killed with SIGKILL at a named
step (PLUMB_AGENT_CRASH_AT) while it applies snapshot NEW over OLD on a real Plumb runtime,
then started again. After the restart the runtime runs OLD (the apply was not committed;
the attempt is reported as failed) or NEW (it was), never anything else."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import httpx
import pytest

from runtime.agent.agent import CRASH_POINTS
from runtime.agent.state import AgentState
from tests.agent.conftest import PlumbRuntime, agent_command, free_port, good_flow
from tests.agent.fake_server import FakeFleet

# What the runtime runs at the moment of the kill, and after the restart.
EXPECTED = {
    "after_stage": ("old", "old"),
    "after_journal": ("old", "old"),
    "after_deploy": ("new", "old"),
    "before_commit": ("new", "old"),
    "mid_commit": ("new", "old"),
    "after_commit": ("new", "new"),
}


def test_every_crash_point_is_covered() -> None:
    assert set(EXPECTED) == set(CRASH_POINTS)


@pytest.mark.parametrize("step", CRASH_POINTS)
def test_kill_9_during_an_update_leaves_old_or_new_running(
        step: str, fleet: FakeFleet, plumb_runtime: PlumbRuntime, tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    old_tag, new_tag = f"old-{step}", f"new-{step}"
    old = fleet.snapshot(good_flow(old_tag))
    new = fleet.snapshot(good_flow(new_tag))
    fleet.set_target(old)
    done = agent_command(fleet, plumb_runtime.url, state_dir)
    assert done.returncode == 0, done.stderr
    plumb_runtime.wait_debug(old_tag)

    fleet.set_target(new)
    killed = agent_command(fleet, plumb_runtime.url, state_dir, crash_at=step)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    at_kill, after = EXPECTED[step]
    assert plumb_runtime.running_tag() == (old_tag if at_kill == "old" else new_tag)

    # restart; the server no longer names a target, so what runs is the agent's own doing
    fleet.set_target(None)
    checked_in = len(fleet.check_ins)
    restarted = agent_command(fleet, plumb_runtime.url, state_dir)
    assert restarted.returncode == 0, restarted.stderr
    expected_tag = old_tag if after == "old" else new_tag
    plumb_runtime.wait_debug(expected_tag)
    state = AgentState(state_dir)
    assert state.journal() is None
    assert state.pointer("current") == (old if after == "old" else new)
    assert state.pointer("last_good") == state.pointer("current")
    report = fleet.check_ins[checked_in]
    assert report["running_snapshot"] == (old if after == "old" else new)
    if step in ("after_deploy", "before_commit", "mid_commit", "after_journal"):
        assert report["last_result"]["snapshot"] == new
        assert report["last_result"]["ok"] is False
        assert "stopped during the apply" in report["last_result"]["reason"]
        assert report["state"] == "rolled_back"
    elif step == "after_commit":  # the result was not sent before the kill: sent now
        result = report["last_result"]
        assert (result["snapshot"], result["ok"], result["reason"]) == (
            new, True, "healthy for 0.8 s")
        assert result["at"].endswith("Z")


def test_restart_with_the_server_still_naming_the_snapshot(
        fleet: FakeFleet, plumb_runtime: PlumbRuntime, tmp_path: Path) -> None:
    """Killed after staging, nothing was deployed: the restarted agent applies it."""
    state_dir = tmp_path / "state"
    old = fleet.snapshot(good_flow("old-again"))
    new = fleet.snapshot(good_flow("new-again"))
    fleet.set_target(old)
    assert agent_command(fleet, plumb_runtime.url, state_dir).returncode == 0
    fleet.set_target(new)
    killed = agent_command(fleet, plumb_runtime.url, state_dir, crash_at="after_stage")
    assert killed.returncode == -signal.SIGKILL
    assert AgentState(state_dir).pointer("staged") == new
    restarted = agent_command(fleet, plumb_runtime.url, state_dir)
    assert restarted.returncode == 0, restarted.stderr
    plumb_runtime.wait_debug("new-again")
    assert AgentState(state_dir).pointer("staged") is None


def test_kill_9_with_run_plumb_takes_the_runtime_down_and_restart_runs_the_old_flow(
        fleet: FakeFleet, tmp_path: Path) -> None:
    """With --run-plumb the runtime is the agent's child: it dies with the agent (no
    orphan holding the port), and the restarted agent starts it on the old snapshot."""
    state_dir = tmp_path / "state"
    url = f"http://127.0.0.1:{free_port()}"
    old = fleet.snapshot(good_flow("sup-old"))
    new = fleet.snapshot(good_flow("sup-new"))
    fleet.set_target(old)
    first = agent_command(fleet, url, state_dir, "--run-plumb")
    assert first.returncode == 0, first.stderr
    fleet.set_target(new)
    killed = agent_command(fleet, url, state_dir, "--run-plumb", crash_at="after_deploy")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    deadline = time.monotonic() + 15
    while True:  # the child got SIGTERM when its parent died
        try:
            httpx.get(url + "/flows/state", timeout=1)
        except httpx.HTTPError:
            break
        assert time.monotonic() < deadline, "the runtime outlived the killed agent"
        time.sleep(0.2)
    fleet.set_target(None)
    restarted = agent_command(fleet, url, state_dir, "--run-plumb")
    assert restarted.returncode == 0, restarted.stderr
    flow = json.loads((state_dir / "runtime-flow.json").read_text())
    assert next(n["label"] for n in flow if n["type"] == "tab") == "sup-old"
    assert AgentState(state_dir).pointer("current") == old
    assert fleet.results()[-1]["snapshot"] == new and not fleet.results()[-1]["ok"]
