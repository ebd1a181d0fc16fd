"""The device protocol: registering, checking in (what is recorded and audited, what is
answered), and which snapshot bundles a device may fetch."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm.exc import StaleDataError

from runtime.fleet import audit_queries, devices, health, snapshots
from runtime.fleet.audit import SYSTEM
from runtime.fleet.bundle import verify_bundle
from runtime.fleet.db import session_factory, transaction
from runtime.fleet.models import ActorKind, Device, Role
from tests.fleet.rollout_helpers import GOOD, Fleet

FLOWS: list[dict[str, Any]] = [{"id": "t1", "type": "tab", "label": "main"},
         {"id": "n1", "type": "inject", "z": "t1", "wires": [[]]}]


def real_snapshot(fleet: Fleet, name: str) -> str:
    """A snapshot made the way the server makes them (signed, credentials sealed)."""
    with transaction(session_factory(fleet.db)) as session:
        snapshot, _new = snapshots.create_snapshot(
            session, fleet.app.state.keys, SYSTEM, name=name, flows=FLOWS,
            credentials={"n1": {"password": "s3cret"}}, env={"NAME": name})
        return snapshot.id


# --- registering --------------------------------------------------------------------------

def test_a_device_registers_with_a_provisioning_token(fleet: Fleet) -> None:
    group = fleet.group("line-1")
    with transaction(session_factory(fleet.db)) as session:
        _token, secret = devices.create_provisioning_token(session, SYSTEM, name="once",
                                                           group_id=group, tags=["hall-a"])
    body = {"name": "press-7", "tags": ["arm64"], "agent_version": "0.1",
            "runtime_version": "node-red 4.1.15"}
    response = fleet.client.post("/api/v1/agent/register", json=body,
                                 headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 201, response.text
    answer = response.json()
    assert set(answer) == {"device_id", "credential", "public_key", "check_in_seconds"}
    assert answer["credential"].startswith("plumb_d_")
    assert answer["public_key"] == fleet.app.state.keys.public_pem
    assert answer["check_in_seconds"] == fleet.settings.check_in_seconds
    with session_factory(fleet.db)() as session:
        device = session.get(Device, answer["device_id"])
        assert device is not None and device.group_id == group
        assert device.tags == ["hall-a", "arm64"] and device.runtime_version == body[
            "runtime_version"]
    checked = fleet.client.post("/api/v1/agent/check-in", json={},
                                headers={"Authorization": f"Bearer {answer['credential']}"})
    assert checked.status_code == 200
    # Single use: the second registration is refused.
    again = fleet.client.post("/api/v1/agent/register", json=body,
                              headers={"Authorization": f"Bearer {secret}"})
    assert again.status_code == 401 and again.json()["error"] == "unauthorized"
    for wrong in ({}, {"Authorization": "Bearer plumb_p_nope"},
                  {"Authorization": f"Bearer {answer['credential']}"}):
        assert fleet.client.post("/api/v1/agent/register", json=body,
                                 headers=wrong).status_code == 401
    registered = fleet.events("device.registered")
    assert len(registered) == 1 and registered[0].actor_kind is ActorKind.device


# --- checking in --------------------------------------------------------------------------

def test_a_check_in_records_the_device(fleet: Fleet) -> None:
    group = fleet.group("g")
    old = fleet.snapshot("old")
    [device] = fleet.devices(group, 1, running=old)
    before = fleet.now
    answer = fleet.check_in(device, after=30, agent_version="0.2",
                            runtime_version="node-red 4.1.15",
                            health={**GOOD, "node_errors": 0, "running_since": None})
    assert answer == {"target": None, "check_in_seconds": fleet.settings.check_in_seconds}
    with session_factory(fleet.db)() as session:
        row = session.get(Device, device.id)
        assert row is not None
        assert row.last_seen_at is not None and (row.last_seen_at - before).total_seconds() == 30
        assert row.agent_version == "0.2" and row.runtime_version == "node-red 4.1.15"
        assert row.health["flows_started"] is True and row.health["agent_state"] == "idle"
        assert row.running_snapshot_id == old


def test_a_new_running_snapshot_is_audited_as_the_device(fleet: Fleet) -> None:
    group = fleet.group("g")
    a, b = fleet.snapshot("a"), fleet.snapshot("b")
    [device] = fleet.devices(group, 1, running=None)
    fleet.check_in(device, None)
    fleet.check_in(device, a, after=10)
    at_a = fleet.now
    fleet.check_in(device, a, after=10)  # no change: no event
    fleet.check_in(device, b, after=10)
    events = fleet.events("device.snapshot_changed")
    assert [(e.details["from"], e.details["to"]) for e in events] == [(None, a), (a, b)]
    assert {(e.actor_kind, e.actor, e.target_kind, e.target_id) for e in events} == {
        (ActorKind.device, device.id, "device", device.id)}
    assert events[0].at == at_a
    with session_factory(fleet.db)() as session:
        assert audit_queries.snapshot_at(session, device.id, fleet.now) == b
        assert audit_queries.snapshot_at(session, device.id, at_a) == a


def test_the_answer_names_the_target_until_it_runs(fleet: Fleet) -> None:
    group = fleet.group("g")
    old, new = fleet.snapshot("old"), fleet.snapshot("new")
    [device] = fleet.devices(group, 1, running=old)
    with transaction(session_factory(fleet.db)) as session:
        row = session.get(Device, device.id)
        assert row is not None
        row.target_snapshot_id = new
    assert fleet.check_in(device)["target"] == {"snapshot": new,
                                                "url": f"/api/v1/agent/snapshots/{new}"}
    assert fleet.check_in(device, new)["target"] is None


def test_devices_in_a_rollout_check_in_sooner(fleet: Fleet, user_headers: Any) -> None:
    group = fleet.group("g")
    old, new = fleet.snapshot("old"), fleet.snapshot("new")
    devs = fleet.devices(group, 2, running=old)
    fleet.start(user_headers(Role.member), snapshot_id=new, group_id=group,
                waves=[{"devices": 1}, {"percent": 100}])
    fleet.tick()
    active, normal = (fleet.settings.active_check_in_seconds,
                      fleet.settings.check_in_seconds)
    assert fleet.check_in(devs[0])["check_in_seconds"] == active   # deploying
    assert fleet.check_in(devs[1])["check_in_seconds"] == normal   # waiting for its wave
    assert fleet.check_in(devs[0], new)["check_in_seconds"] == active  # soaking


@pytest.mark.parametrize("body", [
    {"running_snapshot": "not-a-hash"},
    {"state": "dancing"},
    {"health": {"node_errors": -1}},
    {"last_result": {"snapshot": "ab", "ok": False}},
    {"agent_version": "x" * 51},
])
def test_a_malformed_check_in_is_refused(fleet: Fleet, body: dict[str, Any]) -> None:
    [device] = fleet.devices(fleet.group("g"), 1)
    response = fleet.client.post("/api/v1/agent/check-in", json=body, headers=device.headers)
    assert response.status_code == 422 and response.json()["error"] == "invalid_request"


def test_only_devices_may_check_in(fleet: Fleet, user_headers: Any) -> None:
    [device] = fleet.devices(fleet.group("g"), 1)
    owner = user_headers(Role.owner)
    for headers in ({}, owner, {"Authorization": "Bearer plumb_d_unknown"}):
        assert fleet.client.post("/api/v1/agent/check-in", json={},
                                 headers=headers).status_code == 401
    # A device credential opens nothing meant for people.
    assert fleet.client.get("/api/v1/rollouts", headers=device.headers).status_code == 401
    with transaction(session_factory(fleet.db)) as session:
        row = session.get(Device, device.id)
        assert row is not None
        devices.decommission_device(session, SYSTEM, row)
    assert fleet.client.post("/api/v1/agent/check-in", json={},
                             headers=device.headers).status_code == 401


def test_a_check_in_that_meets_the_controller_is_taken_again(
        fleet: Fleet, monkeypatch: pytest.MonkeyPatch) -> None:
    [device] = fleet.devices(fleet.group("g"), 1)
    real = health.check_in
    calls: list[int] = []

    def racing(*args: Any, **kwargs: Any) -> health.CheckInAnswer:
        calls.append(1)
        if len(calls) == 1:
            raise StaleDataError("the controller got there first")
        return real(*args, **kwargs)

    monkeypatch.setattr(health, "check_in", racing)
    assert fleet.check_in(device)["target"] is None
    assert len(calls) == 2


# --- snapshots ----------------------------------------------------------------------------

def test_a_device_fetches_only_its_target_or_running_snapshot(fleet: Fleet) -> None:
    running, target, other = (real_snapshot(fleet, name) for name in ("a", "b", "c"))
    [device] = fleet.devices(fleet.group("g"), 1, running=running)
    with transaction(session_factory(fleet.db)) as session:
        row = session.get(Device, device.id)
        assert row is not None
        row.target_snapshot_id = target
    for allowed in (running, target):
        response = fleet.client.get(f"/api/v1/agent/snapshots/{allowed}",
                                    headers=device.headers)
        assert response.status_code == 200, response.text
        bundle = response.json()
        assert bundle["id"] == allowed and bundle["credentials"] == {
            "n1": {"password": "s3cret"}}
        verify_bundle(bundle, fleet.app.state.keys.public_pem)
    for refused in (other, "0" * 64, "nope"):
        response = fleet.client.get(f"/api/v1/agent/snapshots/{refused}",
                                    headers=device.headers)
        assert response.status_code == 404 and response.json()["error"] == "not_found"
    assert fleet.client.get(f"/api/v1/agent/snapshots/{running}").status_code == 401
