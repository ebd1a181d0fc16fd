"""Rollouts that stop: the abort threshold (with its minimum of finished devices) and the
automatic rollback of updated devices, devices with nothing to go back to, pause, resume
and abort by hand, concurrent writers, and approval of rollouts to protected stages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm.exc import StaleDataError

from runtime.fleet import controller, pipelines, rollouts
from runtime.fleet.audit import SYSTEM
from runtime.fleet.db import session_factory, transaction
from runtime.fleet.models import Role, Rollout
from tests.fleet.conftest import make_user
from tests.fleet.rollout_helpers import Fleet, prepare

Headers = Callable[[Role], dict[str, str]]


# --- the abort threshold and rollback -----------------------------------------------------

def test_the_threshold_waits_for_min_devices_then_rolls_back(
        fleet: Fleet, member: dict[str, str]) -> None:
    group, old, new, devs = prepare(fleet, 8)
    rollout = fleet.start(member, snapshot_id=new, group_id=group, soak_seconds=0,
                          deploy_timeout_seconds=100, abort_percent=50, abort_min_devices=3,
                          waves=[{"devices": 4}, {"percent": 100}])
    rid = rollout["id"]
    fleet.tick()
    fleet.check_in(devs[0], new, health={"flows_started": True, "node_errors": 1})
    fleet.tick()  # 1 of 1 finished failed: 100%, but fewer than 3 finished
    assert fleet.rollout(rid, member)["status"] == "running"
    fleet.check_in(devs[1], new)   # healthy
    fleet.check_in(devs[2], new)   # soaking... no: soak 0, healthy
    fleet.tick()  # 1 of 3 failed: 33% < 50%
    assert fleet.rollout(rid, member)["status"] == "running"
    fleet.check_in(devs[3], old, last_result={"snapshot": new, "ok": False})
    report = fleet.tick()  # 2 of 4 failed: 50% -> the rollout fails
    detail = fleet.rollout(rid, member)
    assert detail["status"] == "failed"
    assert "2 of 4" in detail["reason"]
    states = fleet.states(rid)
    assert [states[d.id] for d in devs[:4]] == ["failed", "rolling_back", "rolling_back",
                                                "failed"]
    assert {states[d.id] for d in devs[4:]} == {"aborted"}  # the second wave never opened
    assert sorted(report.notified) == sorted([devs[1].id, devs[2].id])
    assert fleet.check_in(devs[1])["target"]["snapshot"] == old
    fleet.check_in(devs[1], old)
    assert fleet.states(rid)[devs[1].id] == "rolled_back"
    fleet.tick(after=100)  # devs[2] never goes back
    states = fleet.states(rid)
    assert states[devs[2].id] == "rollback_failed"
    detail = fleet.rollout(rid, member)
    assert detail["status"] == "failed" and detail["finished_at"] is not None
    assert detail["opened_waves"] == 1
    assert len(fleet.events("rollout.failed")) == 1


def test_failures_below_the_threshold_still_succeed(fleet: Fleet, member: dict[str, str]
                                                    ) -> None:
    group, _old, new, devs = prepare(fleet, 5)
    rollout = fleet.start(member, snapshot_id=new, group_id=group, soak_seconds=0,
                          abort_percent=50, waves=[{"percent": 100}])
    fleet.tick()
    fleet.check_in(devs[0], new, health={"flows_started": False})
    for device in devs[1:]:
        fleet.check_in(device, new)
    fleet.tick()
    detail = fleet.rollout(rollout["id"], member)
    assert detail["status"] == "succeeded"
    assert detail["counts"]["succeeded"] == 4 and detail["counts"]["failed"] == 1


def test_a_vanished_device_times_out_and_trips_the_threshold(
        fleet: Fleet, member: dict[str, str]) -> None:
    group, old, new, devs = prepare(fleet, 4)
    rollout = fleet.start(member, snapshot_id=new, group_id=group, soak_seconds=0,
                          deploy_timeout_seconds=60, abort_percent=50, abort_min_devices=2,
                          waves=[{"devices": 2}, {"percent": 100}])
    fleet.tick()
    fleet.check_in(devs[0], new)   # healthy; devs[1] is never heard from again
    fleet.tick(after=30)
    assert fleet.rollout(rollout["id"], member)["status"] == "running"
    fleet.tick(after=30)
    states = fleet.states(rollout["id"])
    assert states[devs[1].id] == "failed" and states[devs[0].id] == "rolling_back"
    assert {states[d.id] for d in devs[2:]} == {"aborted"}
    fleet.check_in(devs[0], old)
    fleet.tick()
    detail = fleet.rollout(rollout["id"], member)
    assert detail["status"] == "failed" and detail["finished_at"] is not None
    assert detail["counts"]["rolled_back"] == 1


def test_a_device_with_nothing_to_go_back_to(fleet: Fleet, member: dict[str, str]) -> None:
    group = fleet.group("fresh")
    new = fleet.snapshot("new")
    devs = fleet.devices(group, 2, running=None)
    rollout = fleet.start(member, snapshot_id=new, group_id=group, soak_seconds=0,
                          abort_percent=50, waves=[{"percent": 100}])
    fleet.tick()
    fleet.check_in(devs[0], new)
    fleet.check_in(devs[1], None, last_result={"snapshot": new, "ok": False})
    fleet.tick()
    states = fleet.states(rollout["id"])
    assert states == {devs[0].id: "rollback_failed", devs[1].id: "failed"}
    assert fleet.rollout(rollout["id"], member)["finished_at"] is not None


# --- by hand ------------------------------------------------------------------------------

def test_pause_holds_the_next_wave_and_resume_opens_it(
        fleet: Fleet, member: dict[str, str]) -> None:
    group, _old, new, devs = prepare(fleet, 3)
    rid = fleet.start(member, snapshot_id=new, group_id=group, soak_seconds=0,
                      waves=[{"devices": 1}, {"devices": 2}, {"devices": 3}])["id"]
    assert fleet.client.post(f"/api/v1/rollouts/{rid}/resume",
                             headers=member).status_code == 409
    fleet.tick()
    paused = fleet.client.post(f"/api/v1/rollouts/{rid}/pause", headers=member)
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    assert fleet.client.post(f"/api/v1/rollouts/{rid}/pause",
                             headers=member).status_code == 409
    fleet.check_in(devs[0], new)  # in flight: goes on through its gate
    fleet.tick()
    assert fleet.states(rid)[devs[0].id] == "healthy"
    assert fleet.states(rid)[devs[1].id] == "pending"
    resumed = fleet.client.post(f"/api/v1/rollouts/{rid}/resume", headers=member)
    assert resumed.json()["status"] == "running"
    fleet.tick()
    assert fleet.states(rid)[devs[1].id] == "deploying"
    assert [e.action for e in fleet.events("rollout.paused") + fleet.events("rollout.resumed")
            ] == ["rollout.paused", "rollout.resumed"]


def test_abort_by_hand_rolls_back_the_updated_devices(
        fleet: Fleet, member: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    group, old, new, devs = prepare(fleet, 3)
    fleet.settings.mqtt_broker = "broker.test:1883"
    published: list[tuple[str, list[str]]] = []
    monkeypatch.setattr("runtime.fleet.routers.rollouts.publish_updates",
                        lambda broker, ids: published.append((broker, list(ids))))
    monkeypatch.setattr(controller, "publish_updates",
                        lambda broker, ids: published.append((broker, list(ids))))
    rid = fleet.start(member, snapshot_id=new, group_id=group, soak_seconds=0,
                      waves=[{"devices": 2}, {"percent": 100}])["id"]
    fleet.tick()
    assert published == [("broker.test:1883", [devs[0].id, devs[1].id])]
    fleet.check_in(devs[0], new)
    aborted = fleet.client.post(f"/api/v1/rollouts/{rid}/abort", headers=member,
                                json={"reason": "wrong snapshot"})
    assert aborted.status_code == 200, aborted.text
    assert aborted.json()["status"] == "aborted" and aborted.json()["reason"] == "wrong snapshot"
    assert fleet.states(rid) == {devs[0].id: "rolling_back", devs[1].id: "rolling_back",
                                 devs[2].id: "aborted"}
    # Both were told to run `new` (one has not yet): both are told to run `old` again.
    assert published[-1] == ("broker.test:1883", [devs[0].id, devs[1].id])
    assert fleet.client.post(f"/api/v1/rollouts/{rid}/abort",
                             headers=member).status_code == 409
    fleet.check_in(devs[0], old)
    fleet.check_in(devs[1], old)
    fleet.tick()
    detail = fleet.rollout(rid, member)
    assert detail["status"] == "aborted" and detail["finished_at"] is not None
    assert detail["counts"]["rolled_back"] == 2
    [event] = fleet.events("rollout.aborted")
    assert event.actor == "member-user" and event.details["reason"] == "wrong snapshot"


def test_busy_devices_and_empty_groups_are_refused(fleet: Fleet, member: dict[str, str]
                                                   ) -> None:
    group, _old, new, _devs = prepare(fleet, 2)
    fleet.start(member, snapshot_id=new, group_id=group)
    busy = fleet.start(member, expect=409, snapshot_id=new, group_id=group)
    assert busy["error"] == "devices_busy" and len(busy["devices"]) == 2
    empty = fleet.group("empty")
    assert fleet.start(member, expect=409, snapshot_id=new, group_id=empty)["error"] \
        == "empty_group"
    assert fleet.start(member, expect=404, snapshot_id="f" * 64, group_id=group)
    assert fleet.start(member, expect=422, snapshot_id=new)["error"] == "invalid_request"
    assert fleet.start(member, expect=422, snapshot_id=new, group_id=group,
                       waves=[{"devices": 0}])["error"] == "invalid_request"


def test_a_stale_writer_loses_instead_of_overwriting(
        fleet: Fleet, member: dict[str, str], monkeypatch: pytest.MonkeyPatch,
        db: Engine) -> None:
    group, _old, new, _devs = prepare(fleet, 2)
    rid = fleet.start(member, snapshot_id=new, group_id=group)["id"]
    if db.dialect.name == "postgresql":  # SQLite: BEGIN IMMEDIATE, one writer at a time
        with session_factory(fleet.db)() as stale:
            rollout = stale.get(Rollout, rid)
            assert rollout is not None
            # Meanwhile a person pauses it...
            assert fleet.client.post(f"/api/v1/rollouts/{rid}/pause",
                                     headers=member).status_code == 200
            rollout.opened_waves = 1  # ...which a controller that read it before missed
            with pytest.raises(StaleDataError):
                stale.commit()
        assert fleet.rollout(rid, member)["opened_waves"] == 0

    def raced(*args: Any, **kwargs: Any) -> None:
        raise StaleDataError("the controller got there first")

    monkeypatch.setattr(rollouts, "resume", raced)
    response = fleet.client.post(f"/api/v1/rollouts/{rid}/resume", headers=member)
    assert response.status_code == 409 and response.json()["error"] == "conflict"


# --- approval -----------------------------------------------------------------------------

def protected_stage(fleet: Fleet, group: int) -> int:
    with transaction(session_factory(fleet.db)) as session:
        pipeline = pipelines.create_pipeline(session, SYSTEM, "main")
        return pipelines.add_stage(session, SYSTEM, pipeline, name="prod", group_id=group,
                                   protected=True).id


def test_a_protected_stage_needs_another_owners_approval(
        fleet: Fleet, owner: dict[str, str], member: dict[str, str], db: Engine) -> None:
    group, _old, new, devs = prepare(fleet, 2)
    stage = protected_stage(fleet, group)
    rollout = fleet.start(owner, snapshot_id=new, stage_id=stage)
    rid = rollout["id"]
    assert rollout["status"] == "awaiting_approval" and rollout["needs_approval"]
    fleet.tick()
    assert set(fleet.states(rid).values()) == {"pending"}
    own = fleet.client.post(f"/api/v1/rollouts/{rid}/approve", headers=owner)
    assert own.status_code == 403 and "different user" in own.json()["message"]
    assert fleet.client.post(f"/api/v1/rollouts/{rid}/approve",
                             headers=member).status_code == 403  # a member may not
    other = make_user(db, "second-owner", Role.owner)
    approved = fleet.client.post(f"/api/v1/rollouts/{rid}/approve", headers=other,
                                 json={"comment": "looks right"})
    assert approved.status_code == 200 and approved.json()["status"] == "running"
    assert fleet.client.post(f"/api/v1/rollouts/{rid}/approve",
                             headers=other).status_code == 409
    fleet.tick()
    assert fleet.states(rid)[devs[0].id] == "deploying"
    detail = fleet.rollout(rid, member)
    assert [(a["user"], a["approved"], a["comment"]) for a in detail["approvals"]] == [
        ("second-owner", True, "looks right")]
    assert len(fleet.events("rollout.approved")) == 1


def test_a_rejected_rollout_never_starts(fleet: Fleet, owner: dict[str, str],
                                         member: dict[str, str]) -> None:
    group, _old, new, devs = prepare(fleet, 2)
    protected_stage(fleet, group)
    # Straight to the protected stage's group: the protection still holds.
    rollout = fleet.start(member, snapshot_id=new, group_id=group)
    assert rollout["status"] == "awaiting_approval"
    rejected = fleet.client.post(f"/api/v1/rollouts/{rollout['id']}/reject", headers=owner)
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert set(fleet.states(rollout["id"]).values()) == {"aborted"}
    assert rejected.json()["finished_at"] is not None
    assert fleet.tick().rollouts == 0
    assert fleet.check_in(devs[0])["target"] is None
    assert len(fleet.events("rollout.rejected")) == 1
    # The devices are free again.
    fleet.start(member, snapshot_id=new, group_id=group)
