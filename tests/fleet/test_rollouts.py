"""Rollouts: waves, the derived status, terminal states, the health gate (pass, fail,
timeout), restarts, vanishing and decommissioned devices, the controller, and the role
each route needs (rollouts that stop: test_rollout_control.py). Devices are simulated
through the check-in endpoint; the controller is driven by `tick` at chosen times (no
sleeping)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from runtime.fleet import controller, devices, pipelines, rollouts
from runtime.fleet.app import create_fleet_app
from runtime.fleet.audit import SYSTEM
from runtime.fleet.db import session_factory, transaction
from runtime.fleet.models import (
    Approval,
    AuditEvent,
    DeploymentState,
    Device,
    DeviceDeployment,
    Role,
    Rollout,
    RolloutControl,
    Stage,
)
from runtime.fleet.models.rollouts import TERMINAL
from runtime.fleet.rollouts import Progress, RolloutStatus, TransitionError, derive_status
from runtime.fleet.settings import FleetSettings
from runtime.fleet.waves import (
    Exponential,
    ExponentialWaves,
    RolloutParams,
    WaveStep,
    expand_waves,
)
from tests.fleet.rollout_helpers import Fleet, SimDevice, prepare

S = DeploymentState
Headers = Callable[[Role], dict[str, str]]


def healthy(fleet: Fleet, device: SimDevice, new: str, soak: float) -> None:
    """The device runs `new`, reports it, and again once the soak is over."""
    fleet.check_in(device, new)
    fleet.check_in(device, new, after=soak)


# --- waves and status (pure) --------------------------------------------------------------

DEFAULT = [{"devices": 1}, {"percent": 10}, {"percent": 50}, {"percent": 100}]


@pytest.mark.parametrize(("spec", "total", "sizes"), [
    (DEFAULT, 100, [1, 9, 40, 50]),
    (DEFAULT, 3, [1, 1, 1]),             # 10% of 3 rounds up to 1: no empty wave
    (DEFAULT, 1, [1]),
    (DEFAULT, 0, []),
    ([{"percent": 7}], 100, [7, 93]),    # not 8: no float noise; the rest is one more wave
    ([{"devices": 5}], 3, [3]),
    ([{"devices": 2}, {"devices": 1}, {"percent": 100}], 4, [2, 2]),  # never backwards
    ([{"exponential": {"first": 1, "factor": 2}}], 20, [1, 2, 4, 8, 5]),
    ([{"exponential": {"first": 2, "factor": 1.5}}], 10, [2, 3, 5]),
    ([{"exponential": {"first": 3, "factor": 1}}], 7, [3, 3, 1]),
])
def test_waves_expand_over_the_group(spec: list[dict[str, Any]], total: int,
                                     sizes: list[int]) -> None:
    assert expand_waves(spec, total) == sizes
    assert sum(sizes) == total and all(size > 0 for size in sizes)


def test_wave_specs_are_validated() -> None:
    assert expand_waves(ExponentialWaves(exponential=Exponential(first=1, factor=3)), 13) \
        == [1, 3, 9]
    assert expand_waves([WaveStep(percent=50)], 4) == [2, 2]
    bad: dict[str, Any]
    for bad in ({"waves": [{"devices": 1, "percent": 5}]}, {"waves": [{}]},
                {"waves": []}, {"waves": {"exponential": {"first": 1, "factor": 0.5}}},
                {"abort_percent": 120}, {"soak_seconds": -1}, {"surprise": 1}):
        with pytest.raises(ValueError):
            RolloutParams.model_validate(bad)


def counts(**states: int) -> Progress:
    progress = Progress([sum(states.values())])
    for state, count in states.items():
        progress.add(0, S(state), count)
    return progress


@pytest.mark.parametrize(("needs", "decision", "control", "states", "status"), [
    (True, None, "run", {"pending": 3}, "awaiting_approval"),
    (True, "rejected", "run", {"aborted": 3}, "rejected"),
    (True, "approved", "run", {"pending": 2, "deploying": 1}, "running"),
    (False, None, "pause", {"pending": 2, "healthy": 1}, "paused"),
    (False, None, "run", {"healthy": 2, "failed": 1}, "running"),
    (False, None, "run", {"succeeded": 2, "failed": 1, "skipped": 1}, "succeeded"),
    (False, None, "run", {"failed": 1, "rolling_back": 1, "aborted": 2}, "failed"),
    (False, None, "run", {"failed": 1, "rolled_back": 1}, "failed"),
    (False, None, "run", {"failed": 2}, "failed"),
    (False, None, "abort", {"aborted": 2, "rolling_back": 1}, "aborted"),
    (True, None, "abort", {"aborted": 3}, "aborted"),
])
def test_the_status_is_derived(needs: bool, decision: Any, control: str,
                               states: dict[str, int], status: str) -> None:
    assert derive_status(needs, decision, RolloutControl(control), counts(**states)) \
        == RolloutStatus(status)


# --- transitions ------------------------------------------------------------------------

def test_terminal_states_never_change(fleet: Fleet, member: dict[str, str]) -> None:
    group, _old, new, devs = prepare(fleet, 1)
    rollout = fleet.start(member, snapshot_id=new, group_id=group)
    with transaction(session_factory(fleet.db)) as session:
        deployment = session.scalars(select(DeviceDeployment)).one()
        with pytest.raises(TransitionError):  # not a step a pending device can take
            rollouts.transition(session, deployment, S.healthy, "skip ahead", SYSTEM)
        rollouts.transition(session, deployment, S.aborted, "test", SYSTEM)
    for state in TERMINAL:
        for new_state in DeploymentState:
            with transaction(session_factory(fleet.db)) as session:
                deployment = session.scalars(select(DeviceDeployment)).one()
                deployment.state = state  # put it there by force, to try every way out
                session.flush()
                before = session.scalars(select(AuditEvent.seq)).all()
                with pytest.raises(TransitionError, match="it is terminal"):
                    rollouts.transition(session, deployment, new_state, "no", SYSTEM)
                assert deployment.state is state
                assert session.scalars(select(AuditEvent.seq)).all() == before
    changed = fleet.events("deployment.state_changed")
    assert [(e.details["from"], e.details["to"]) for e in changed] == [("pending", "aborted")]
    assert changed[0].target_id == devs[0].id
    assert changed[0].details["rollout"] == rollout["id"]


# --- the happy path -----------------------------------------------------------------------

def test_a_rollout_goes_wave_by_wave_to_success(fleet: Fleet, member: dict[str, str],
                                                user_headers: Headers) -> None:
    group, old, new, devs = prepare(fleet, 4)
    viewer = user_headers(Role.viewer)
    rollout = fleet.start(member, snapshot_id=new, group_id=group, soak_seconds=10,
                          waves=[{"devices": 1}, {"percent": 50}, {"percent": 100}])
    assert rollout["status"] == "running" and rollout["wave_sizes"] == [1, 1, 2]
    assert rollout["counts"]["pending"] == 4 and rollout["opened_waves"] == 0
    # Nothing is asked of any device until the controller opens the first wave.
    assert fleet.check_in(devs[0])["target"] is None
    fleet.tick()
    first = fleet.check_in(devs[0])
    assert first["target"] == {"snapshot": new, "url": f"/api/v1/agent/snapshots/{new}"}
    assert first["check_in_seconds"] == fleet.settings.active_check_in_seconds
    idle = fleet.check_in(devs[3])
    assert idle == {"target": None, "check_in_seconds": fleet.settings.check_in_seconds}
    fleet.check_in(devs[0], new)
    assert fleet.states(rollout["id"])[devs[0].id] == "soaking"
    fleet.tick(after=5)  # soaking: the next wave waits
    assert fleet.rollout(rollout["id"], viewer)["opened_waves"] == 1
    fleet.check_in(devs[0], new, after=5)
    assert fleet.states(rollout["id"])[devs[0].id] == "healthy"
    fleet.tick()
    assert fleet.states(rollout["id"])[devs[1].id] == "deploying"
    healthy(fleet, devs[1], new, 10)
    fleet.tick()
    for device in devs[2:]:
        healthy(fleet, device, new, 10)
    detail = fleet.rollout(rollout["id"], viewer)
    assert detail["status"] == "running" and detail["counts"]["healthy"] == 4
    fleet.tick()
    detail = fleet.rollout(rollout["id"], viewer)
    assert detail["status"] == "succeeded" and detail["finished_at"] is not None
    assert detail["counts"]["succeeded"] == 4
    assert [w["counts"]["succeeded"] for w in detail["wave_progress"]] == [1, 1, 2]
    assert all(w["opened"] for w in detail["wave_progress"])
    assert [e.details["wave"] for e in fleet.events("rollout.wave_opened")] == [0, 1, 2]
    assert len(fleet.events("rollout.completed")) == 1
    assert fleet.events("rollout.failed") == []
    # Settled: further ticks change nothing, devices back to the normal pace.
    assert fleet.tick(after=1000).rollouts == 0
    assert fleet.check_in(devs[0])["check_in_seconds"] == fleet.settings.check_in_seconds
    with session_factory(fleet.db)() as session:
        assert {d.target_snapshot_id for d in session.scalars(select(Device))} == {new}
    del old


def test_the_device_list_pages_and_filters(fleet: Fleet, member: dict[str, str]) -> None:
    group, _old, new, devs = prepare(fleet, 5)
    rollout = fleet.start(member, snapshot_id=new, group_id=group,
                          waves=[{"devices": 2}, {"percent": 100}])
    fleet.tick()
    page = fleet.rollout(rollout["id"], member, offset=1, limit=2)
    assert page["devices"]["count"] == 5
    assert [d["device_id"] for d in page["devices"]["data"]] == [devs[1].id, devs[2].id]
    assert [d["wave"] for d in page["devices"]["data"]] == [0, 1]
    deploying = fleet.rollout(rollout["id"], member, state="deploying")["devices"]
    assert deploying["count"] == 2 and {d["state"] for d in deploying["data"]} == {"deploying"}
    assert deploying["data"][0]["device_name"].startswith("dev-")
    listing = fleet.client.get("/api/v1/rollouts", headers=member,
                               params={"status": "running"}).json()
    assert listing["count"] == 1 and listing["data"][0]["counts"]["deploying"] == 2
    assert fleet.client.get("/api/v1/rollouts", headers=member,
                            params={"status": "failed"}).json()["count"] == 0


# --- the health gate ----------------------------------------------------------------------

@pytest.mark.parametrize("report", [
    {"health": {"flows_started": True, "node_errors": 2, "crashes": 0}},
    {"health": {"flows_started": False, "node_errors": 0, "crashes": 0}},
    {"health": {"flows_started": True, "node_errors": 0, "crashes": 1}},
])
def test_bad_health_on_the_target_fails_the_device(fleet: Fleet, member: dict[str, str],
                                                   report: dict[str, Any]) -> None:
    group, old, new, devs = prepare(fleet, 2)
    rollout = fleet.start(member, snapshot_id=new, group_id=group, soak_seconds=30,
                          abort_percent=100, waves=[{"percent": 100}])
    fleet.tick()
    fleet.check_in(devs[0], new)  # soaking
    answer = fleet.check_in(devs[0], new, after=1, **report)
    states = fleet.states(rollout["id"])
    assert states[devs[0].id] == "failed"
    # ...and it is told to go back to what it ran before.
    assert answer["target"] == {"snapshot": old, "url": f"/api/v1/agent/snapshots/{old}"}
    # Bad health on the old snapshot (not yet switched) does not count against the new.
    fleet.check_in(devs[1], old, health={"flows_started": False})
    assert fleet.states(rollout["id"])[devs[1].id] == "deploying"
    reason = fleet.rollout(rollout["id"], member)["devices"]["data"][0]["reason"]
    assert reason.startswith("bad health")


def test_a_device_mid_apply_is_not_judged_yet(fleet: Fleet, member: dict[str, str]) -> None:
    group, _old, new, devs = prepare(fleet, 1)
    rollout = fleet.start(member, snapshot_id=new, group_id=group, soak_seconds=0)
    fleet.tick()
    fleet.check_in(devs[0], new, state="applying",
                   health={"flows_started": False, "node_errors": 0, "crashes": 0})
    assert fleet.states(rollout["id"])[devs[0].id] == "deploying"
    fleet.check_in(devs[0], new)
    assert fleet.states(rollout["id"])[devs[0].id] == "healthy"


def test_a_failed_apply_fails_the_device(fleet: Fleet, member: dict[str, str]) -> None:
    group, old, new, devs = prepare(fleet, 1)
    rollout = fleet.start(member, snapshot_id=new, group_id=group)
    fleet.tick()
    fleet.check_in(devs[0], old, state="rolled_back",
                   last_result={"snapshot": new, "ok": False, "reason": "node missing"})
    assert fleet.states(rollout["id"])[devs[0].id] == "failed"
    fleet.tick()
    detail = fleet.rollout(rollout["id"], member)
    assert detail["status"] == "failed" and detail["finished_at"] is not None
    assert "node missing" in detail["devices"]["data"][0]["reason"]
    assert len(fleet.events("rollout.failed")) == 1


def test_a_device_that_never_reports_times_out(fleet: Fleet, member: dict[str, str]) -> None:
    group, _old, new, devs = prepare(fleet, 2)
    rollout = fleet.start(member, snapshot_id=new, group_id=group, deploy_timeout_seconds=60,
                          soak_seconds=0, waves=[{"percent": 100}], abort_percent=100)
    fleet.tick()
    fleet.check_in(devs[1], new)  # healthy at once (no soak)
    fleet.tick(after=59)
    assert fleet.states(rollout["id"])[devs[0].id] == "deploying"
    fleet.tick(after=1)
    assert fleet.states(rollout["id"])[devs[0].id] == "failed"
    assert "within 60s" in fleet.rollout(rollout["id"], member, state="failed")[
        "devices"]["data"][0]["reason"]


def test_a_soaking_device_that_goes_silent_fails(fleet: Fleet, member: dict[str, str]) -> None:
    group, _old, new, devs = prepare(fleet, 1)
    rollout = fleet.start(member, snapshot_id=new, group_id=group, deploy_timeout_seconds=60,
                          soak_seconds=600)
    fleet.tick()
    fleet.check_in(devs[0], new)
    fleet.tick(after=59)
    assert fleet.states(rollout["id"])[devs[0].id] == "soaking"
    fleet.tick(after=1)
    assert fleet.states(rollout["id"])[devs[0].id] == "failed"


def test_a_stale_failure_from_an_earlier_rollout_does_not_count(
        fleet: Fleet, member: dict[str, str]) -> None:
    group, old, new, devs = prepare(fleet, 1)
    stale = {"snapshot": new, "ok": False, "reason": "earlier"}
    fleet.check_in(devs[0], old, last_result=stale)  # before any rollout
    rollout = fleet.start(member, snapshot_id=new, group_id=group, soak_seconds=0)
    fleet.tick()
    fleet.check_in(devs[0], old, last_result=stale)  # the agent repeats it
    assert fleet.states(rollout["id"])[devs[0].id] == "deploying"
    fleet.check_in(devs[0], new, last_result={"snapshot": new, "ok": True})
    assert fleet.states(rollout["id"])[devs[0].id] == "healthy"


# --- restarts, decommissioning, the controller ---------------------------------------------

def test_a_restarted_server_goes_on_where_it_was(
        fleet: Fleet, member: dict[str, str], settings: FleetSettings, db: Engine) -> None:
    group, _old, new, devs = prepare(fleet, 3)
    rid = fleet.start(member, snapshot_id=new, group_id=group, soak_seconds=0,
                      waves=[{"devices": 1}, {"percent": 100}])["id"]
    fleet.tick()
    fleet.check_in(devs[0], new)
    # A new server on the same database: nothing carried over but the rows.
    second = create_fleet_app(settings, engine=db, run_controller=False)
    with TestClient(second) as client:
        again = Fleet(second, client, db, settings, now=fleet.now)
        assert again.rollout(rid, member)["status"] == "running"
        again.tick()
        assert again.states(rid) == {devs[0].id: "healthy", devs[1].id: "deploying",
                                     devs[2].id: "deploying"}
        for device in devs[1:]:
            again.check_in(device, new)
        again.tick()
        assert again.rollout(rid, member)["status"] == "succeeded"
    assert [e.details["wave"] for e in fleet.events("rollout.wave_opened")] == [0, 1]


def test_decommissioned_and_deleted_devices_are_skipped(
        fleet: Fleet, member: dict[str, str]) -> None:
    group, _old, new, devs = prepare(fleet, 4)
    rid = fleet.start(member, snapshot_id=new, group_id=group, soak_seconds=0,
                      abort_percent=1, waves=[{"devices": 2}, {"percent": 100}])["id"]
    fleet.tick()
    fleet.check_in(devs[0], new)
    with transaction(session_factory(fleet.db)) as session:
        # One in flight, decommissioned; one waiting for its wave, deleted outright.
        in_flight, waiting = session.get(Device, devs[1].id), session.get(Device, devs[2].id)
        assert in_flight is not None and waiting is not None
        devices.decommission_device(session, SYSTEM, in_flight)
        session.delete(waiting)
    fleet.check_in(devs[1], expect=401)
    fleet.tick()
    fleet.check_in(devs[3], new)
    fleet.tick()
    detail = fleet.rollout(rid, member)
    assert detail["status"] == "succeeded", detail
    assert detail["counts"]["succeeded"] == 2 and detail["counts"]["skipped"] == 2
    assert detail["counts"]["failed"] == 0
    with session_factory(fleet.db)() as session:
        gone = session.scalars(select(DeviceDeployment).where(
            DeviceDeployment.device_id.is_(None))).one()
        assert gone.state is S.skipped and gone.wave == 1


def test_a_stage_rollout_sets_the_stage_snapshot(fleet: Fleet, owner: dict[str, str],
                                                 member: dict[str, str]) -> None:
    group, _old, new, devs = prepare(fleet, 1)
    with transaction(session_factory(fleet.db)) as session:
        pipeline = pipelines.create_pipeline(session, SYSTEM, "p")
        stage = pipelines.add_stage(session, SYSTEM, pipeline, name="dev", group_id=group,
                                    rollout_defaults=RolloutParams(soak_seconds=0)).id
    rollout = fleet.start(member, snapshot_id=new, stage_id=stage)
    assert rollout["soak_seconds"] == 0 and rollout["status"] == "running"
    fleet.tick()
    fleet.check_in(devs[0], new)
    fleet.tick()
    with session_factory(fleet.db)() as session:
        row = session.get(Stage, stage)
        assert row is not None and row.snapshot_id == new


def test_the_controller_ticks_in_the_background(settings: FleetSettings, db: Engine,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    ticked = threading.Event()
    seen: list[Any] = []

    def fake_tick(sessions: Any, given: FleetSettings, now: Any = None) -> None:
        seen.append(given)
        ticked.set()

    monkeypatch.setattr(controller, "tick", fake_tick)

    async def run() -> None:
        worker = controller.RolloutController(session_factory(db), settings)
        worker.start()
        assert await asyncio.to_thread(ticked.wait, 10)
        await worker.stop()
        await worker.stop()  # a second stop is harmless

    asyncio.run(run())
    assert seen and seen[0] is settings


def test_updates_are_published_over_mqtt(monkeypatch: pytest.MonkeyPatch) -> None:
    from paho.mqtt import publish

    calls: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(publish, "multiple",
                        lambda messages, **kwargs: calls.append((messages, kwargs)))
    controller.publish_updates("mqtt.local:1884", ["a", "b"])
    controller.publish_updates("mqtt.local:1884", [])
    assert len(calls) == 1
    messages, kwargs = calls[0]
    assert [m[0] for m in messages] == ["plumb/devices/a/update", "plumb/devices/b/update"]
    assert all(m[1] == b"" for m in messages)
    assert kwargs["hostname"] == "mqtt.local" and kwargs["port"] == 1884

    def unreachable(messages: Any, **kwargs: Any) -> None:
        raise ConnectionRefusedError("no broker")

    monkeypatch.setattr(publish, "multiple", unreachable)
    controller.publish_updates("nowhere", ["a"])  # logged, not raised


# --- roles --------------------------------------------------------------------------------

ROUTES = [("post", "", "start_rollout", Role.member),
          ("get", "", None, Role.viewer),
          ("get", "/{id}", None, Role.viewer),
          ("post", "/{id}/pause", None, Role.member),
          ("post", "/{id}/resume", None, Role.member),
          ("post", "/{id}/abort", None, Role.member),
          ("post", "/{id}/approve", None, Role.owner),
          ("post", "/{id}/reject", None, Role.owner)]


@pytest.fixture
def one_rollout(fleet: Fleet, db: Engine) -> tuple[int, str, int]:
    group, _old, new, _devs = prepare(fleet, 1)
    with transaction(session_factory(db)) as session:
        rollout = rollouts.create_rollout(session, SYSTEM, snapshot_id=new, group_id=group)
    return rollout.id, new, group


@pytest.mark.parametrize(("method", "path", "_what", "lowest"), ROUTES)
def test_each_route_needs_its_role(fleet: Fleet, user_headers: Headers, method: str,
                                   path: str, _what: Any, lowest: Role,
                                   one_rollout: tuple[int, str, int]) -> None:
    rid, new, group = one_rollout
    url = "/api/v1/rollouts" + path.replace("{id}", str(rid))
    body = {"snapshot_id": new, "group_id": group} if path == "" else None
    assert getattr(fleet.client, method)(url).status_code == 401
    for role in Role:
        response = (fleet.client.post(url, headers=user_headers(role), json=body)
                    if method == "post" else fleet.client.get(url, headers=user_headers(role)))
        if role.at_least(lowest):
            # Allowed: whatever the rollout's state says (409 when it cannot be done now).
            assert response.status_code in (200, 201, 409), (role, response.text)
        else:
            assert response.status_code == 403, (role, response.text)
            assert response.json()["role_needed"] == lowest.value


def test_rollout_rows_carry_no_status_column() -> None:
    # The status is derived: no column can drift from the devices' states.
    assert "status" not in Rollout.__table__.columns
    assert "approved" not in Rollout.__table__.columns
    assert Approval.__table__.columns["approved"] is not None
