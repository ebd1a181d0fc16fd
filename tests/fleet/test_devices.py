"""Groups, devices and provisioning: the devices router and `runtime.fleet.devices`."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from runtime.fleet import auth
from runtime.fleet.audit import SYSTEM
from runtime.fleet.db import session_factory, transaction, utcnow
from runtime.fleet.devices import create_provisioning_token, register_device
from runtime.fleet.errors import FleetError
from runtime.fleet.models import (
    ActorKind,
    AuditEvent,
    DeploymentState,
    Device,
    DeviceDeployment,
    ProvisioningToken,
    Role,
    Rollout,
    Snapshot,
)

API = "/api/v1"
Headers = Callable[[Role], dict[str, str]]


def audit_rows(db: Engine, action: str) -> list[AuditEvent]:
    with session_factory(db)() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                    .order_by(AuditEvent.seq)))


def provisioning(client: TestClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post(f"{API}/provisioning-tokens", headers=headers,
                           json={"name": "batch", **body})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def register(db: Engine, secret: str, name: str = "dev", tags: Iterable[str] = ()
             ) -> tuple[Device, str]:
    with transaction(session_factory(db)) as session:
        return register_device(session, secret, name, list(tags), "0.1", "plumb 0.1")


def group(client: TestClient, headers: dict[str, str], name: str) -> int:
    response = client.post(f"{API}/groups", headers=headers, json={"name": name})
    assert response.status_code == 201, response.text
    group_id: int = response.json()["id"]
    return group_id


def add_rollout(db: Engine, group_id: int, states: Iterable[tuple[str, DeploymentState]]
                ) -> int:
    """A rollout to `group_id` with a deployment per (device id, state)."""
    with transaction(session_factory(db)) as session:
        snapshot_id = f"{len(session.scalars(select(Rollout)).all()):064x}"
        session.add(Snapshot(id=snapshot_id, name="s", flows=[], signature="00"))
        session.flush()
        rollout = Rollout(snapshot_id=snapshot_id, group_id=group_id,
                          waves=[{"percent": 100}])
        session.add(rollout)
        session.flush()
        for device_id, state in states:
            session.add(DeviceDeployment(rollout_id=rollout.id, device_id=device_id, wave=0,
                                         state=state))
        return rollout.id


# --- groups ------------------------------------------------------------------------------

def test_groups_are_created_listed_renamed_and_deleted(client: TestClient, db: Engine,
                                                       user_headers: Headers) -> None:
    owner = user_headers(Role.owner)
    made = client.post(f"{API}/groups", headers=owner,
                       json={"name": "edge", "description": "the plant floor"})
    assert made.status_code == 201 and made.json()["device_count"] == 0
    group_id = made.json()["id"]
    duplicate = client.post(f"{API}/groups", headers=owner, json={"name": "edge"})
    assert duplicate.status_code == 409 and duplicate.json()["error"] == "conflict"
    digits = client.post(f"{API}/groups", headers=owner, json={"name": "42"})
    assert digits.status_code == 422  # `?group=` takes ids and names: names need a non-digit

    token = provisioning(client, owner, group_id=group_id)["secret"]
    register(db, token)
    listed = client.get(f"{API}/groups", headers=user_headers(Role.viewer)).json()
    assert listed["count"] == 1 and listed["data"][0]["device_count"] == 1

    renamed = client.patch(f"{API}/groups/{group_id}", headers=owner, json={"name": "floor"})
    assert renamed.json()["name"] == "floor" and renamed.json()["description"] == (
        "the plant floor")
    assert client.get(f"{API}/groups/{group_id}", headers=owner).json()["name"] == "floor"
    empty = group(client, owner, "empty")
    assert client.delete(f"{API}/groups/{empty}", headers=owner).status_code == 204
    gone = client.get(f"{API}/groups/{empty}", headers=owner)
    assert gone.status_code == 404 and gone.json()["error"] == "not_found"

    assert [r.details["name"] for r in audit_rows(db, "group.created")] == ["edge", "empty"]
    [renamed_row] = audit_rows(db, "group.updated")
    assert renamed_row.details["changes"] == {"name": {"from": "edge", "to": "floor"}}
    [deleted] = audit_rows(db, "group.deleted")
    assert deleted.target_id == str(empty) and deleted.actor == "owner-user"


def test_a_group_with_devices_in_it_is_not_deleted(client: TestClient, db: Engine,
                                                   user_headers: Headers) -> None:
    owner = user_headers(Role.owner)
    group_id = group(client, owner, "busy")
    device, _ = register(db, provisioning(client, owner, group_id=group_id)["secret"])
    refused = client.delete(f"{API}/groups/{group_id}", headers=owner)
    assert refused.status_code == 409 and refused.json()["error"] == "conflict"
    assert "1 active device(s)" in refused.json()["message"]
    # A decommissioned device no longer holds the group; it just loses it.
    client.post(f"{API}/devices/{device.id}/decommission", headers=owner)
    assert client.delete(f"{API}/groups/{group_id}", headers=owner).status_code == 204
    assert client.get(f"{API}/devices/{device.id}", headers=owner).json()["group_id"] is None
    assert len(audit_rows(db, "group.deleted")) == 1


def test_a_group_a_rollout_targets_is_not_deleted(client: TestClient, db: Engine,
                                                  user_headers: Headers) -> None:
    owner = user_headers(Role.owner)
    group_id = group(client, owner, "targeted")
    rollout_id = add_rollout(db, group_id, [])
    refused = client.delete(f"{API}/groups/{group_id}", headers=owner)
    assert refused.status_code == 409
    assert f"rollout(s) {rollout_id} target it" in refused.json()["message"]
    assert not audit_rows(db, "group.deleted")


def test_a_group_a_usable_provisioning_token_registers_into_is_not_deleted(
        client: TestClient, user_headers: Headers) -> None:
    owner = user_headers(Role.owner)
    group_id = group(client, owner, "pending")
    token = provisioning(client, owner, name="next-batch", group_id=group_id)["token"]
    refused = client.delete(f"{API}/groups/{group_id}", headers=owner)
    assert refused.status_code == 409 and "next-batch" in refused.json()["message"]
    client.delete(f"{API}/provisioning-tokens/{token['id']}", headers=owner)
    assert client.delete(f"{API}/groups/{group_id}", headers=owner).status_code == 204


# --- provisioning ------------------------------------------------------------------------

def test_a_provisioning_token_is_shown_once_listed_and_revoked(
        client: TestClient, db: Engine, user_headers: Headers) -> None:
    owner = user_headers(Role.owner)
    group_id = group(client, owner, "line-1")
    created = provisioning(client, owner, name="line 1", group_id=group_id, tags=["a", "a"],
                           uses=5, expires_in_seconds=3600)
    secret, token = created["secret"], created["token"]
    assert secret.startswith("plumb_p_")
    assert token["tags"] == ["a"] and token["uses_left"] == 5 and token["state"] == "usable"
    assert token["group"] == "line-1" and token["expires_at"]
    listed = client.get(f"{API}/provisioning-tokens", headers=owner).json()
    assert listed["count"] == 1 and secret not in str(listed)
    assert client.delete(f"{API}/provisioning-tokens/{token['id']}",
                         headers=owner).status_code == 204
    assert client.get(f"{API}/provisioning-tokens", headers=owner
                      ).json()["data"][0]["state"] == "revoked"
    with pytest.raises(FleetError) as refused:
        register(db, secret)
    assert refused.value.status == 401 and "revoked" in refused.value.message
    [made] = audit_rows(db, "provisioning_token.created")
    assert made.details["name"] == "line 1" and made.details["group"] == "line-1"
    assert made.details["uses"] == 5
    [revoked] = audit_rows(db, "provisioning_token.revoked")
    assert revoked.target_id == str(token["id"])


def test_a_registered_device_gets_the_tokens_group_and_tags(client: TestClient, db: Engine,
                                                            user_headers: Headers) -> None:
    owner = user_headers(Role.owner)
    group_id = group(client, owner, "site")
    secret = provisioning(client, owner, group_id=group_id, tags=["site-a"])["secret"]
    device, credential = register(db, secret, "press-7", ["press", "site-a"])
    assert credential.startswith("plumb_d_")
    assert device.group_id == group_id and device.tags == ["site-a", "press"]
    with session_factory(db)() as session:
        assert auth.device_caller(session, credential).id == device.id
    [row] = audit_rows(db, "device.registered")
    assert row.actor_kind is ActorKind.device and row.actor == device.id
    assert row.details["name"] == "press-7" and row.details["group"] == "site"
    assert row.details["tags"] == ["site-a", "press"]


def test_a_single_use_token_registers_one_device(client: TestClient, db: Engine,
                                                 user_headers: Headers) -> None:
    secret = provisioning(client, user_headers(Role.owner))["secret"]  # uses: 1 by default
    register(db, secret, "first")
    with pytest.raises(FleetError) as refused:
        register(db, secret, "second")
    assert refused.value.status == 401 and refused.value.message == (
        "the provisioning token has been used up")
    with session_factory(db)() as session:
        assert [d.name for d in session.scalars(select(Device))] == ["first"]


def test_limited_and_unlimited_tokens(client: TestClient, db: Engine,
                                      user_headers: Headers) -> None:
    owner = user_headers(Role.owner)
    twice = provisioning(client, owner, uses=2)["secret"]
    register(db, twice)
    register(db, twice)
    with pytest.raises(FleetError):
        register(db, twice)
    unlimited = provisioning(client, owner, uses=None)
    assert unlimited["token"]["uses_left"] is None
    for n in range(5):
        register(db, unlimited["secret"], f"u{n}")
    states = {t["uses_left"]: t["state"] for t in client.get(
        f"{API}/provisioning-tokens", headers=owner).json()["data"]}
    assert states == {0: "used_up", None: "usable"}


@pytest.mark.parametrize(("secret", "message"), [
    ("plumb_p_not-a-real-one", "unknown provisioning token"),
    ("plumb_d_a-device-credential", "not a provisioning token"),
])
def test_unknown_provisioning_tokens_are_refused(db: Engine, secret: str,
                                                 message: str) -> None:
    with pytest.raises(FleetError) as refused:
        register(db, secret)
    assert refused.value.status == 401 and refused.value.message == message


def test_an_expired_provisioning_token_is_refused(db: Engine) -> None:
    with transaction(session_factory(db)) as session:
        token, secret = create_provisioning_token(session, SYSTEM, name="old",
                                                  expires_in=dt.timedelta(hours=1))
        token.expires_at = utcnow() - dt.timedelta(seconds=1)
    with pytest.raises(FleetError) as refused:
        register(db, secret)
    assert refused.value.status == 401 and "expired" in refused.value.message


def test_a_held_use_makes_a_second_registration_wait_then_fail(db: Engine) -> None:
    """The first registration's transaction is still open when the second starts: the
    second must wait for it (the row lock on PostgreSQL, the write lock on SQLite) and then
    see the use taken, never register a second device."""
    with transaction(session_factory(db)) as session:
        _token, secret = create_provisioning_token(session, SYSTEM, name="once")
    outcome: list[Any] = []
    first = session_factory(db)()
    try:
        first.begin()
        register_device(first, secret, "first", [], "0.1", "plumb 0.1")

        def second() -> None:
            try:
                outcome.append(register(db, secret, "second"))
            except FleetError as exc:
                outcome.append(exc)

        thread = threading.Thread(target=second)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive(), "the second registration did not wait for the first"
        first.commit()
    finally:
        first.close()
    thread.join(30)
    [refusal] = outcome
    assert isinstance(refusal, FleetError) and refusal.status == 401


def test_two_devices_racing_for_a_single_use_token(db: Engine) -> None:
    """Both start at once, on their own connections: exactly one gets in, every time."""
    for attempt in range(5):
        with transaction(session_factory(db)) as session:
            _token, secret = create_provisioning_token(session, SYSTEM, name=f"race{attempt}")
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def contender(name: str, secret: str = secret, barrier: threading.Barrier = barrier,
                      outcomes: list[str] = outcomes) -> None:
            barrier.wait()
            try:
                register(db, secret, name)
                outcomes.append("registered")
            except FleetError as exc:
                outcomes.append(exc.message)

        threads = [threading.Thread(target=contender, args=(f"r{attempt}-{n}",))
                   for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(outcomes) == ["registered", "the provisioning token has been used up"]
    with session_factory(db)() as session:
        assert len(session.scalars(select(Device)).all()) == 5
        assert set(session.scalars(select(ProvisioningToken.uses_left))) == {0}


# --- devices -----------------------------------------------------------------------------

def test_decommissioning_revokes_the_credential_and_skips_unfinished_deployments(
        client: TestClient, db: Engine, user_headers: Headers) -> None:
    owner = user_headers(Role.owner)
    group_id = group(client, owner, "floor")
    secret = provisioning(client, owner, group_id=group_id, uses=None)["secret"]
    device, credential = register(db, secret, "retiring")
    bystander, _ = register(db, secret, "staying")
    with transaction(session_factory(db)) as session:
        session.execute(update(Device).where(Device.id == device.id)
                        .values(target_snapshot_id="ab" * 32))
    pending = add_rollout(db, group_id, [(device.id, DeploymentState.pending),
                                         (bystander.id, DeploymentState.pending)])
    soaking = add_rollout(db, group_id, [(device.id, DeploymentState.soaking)])
    finished = add_rollout(db, group_id, [(device.id, DeploymentState.succeeded)])
    failed = add_rollout(db, group_id, [(device.id, DeploymentState.failed)])

    response = client.post(f"{API}/devices/{device.id}/decommission", headers=owner)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "decommissioned" and body["target_snapshot_id"] is None
    assert body["decommissioned_at"] and not body["online"]

    with session_factory(db)() as session:
        stored = session.get(Device, device.id)
        assert stored is not None and stored.credential_hash is None
        states = {(d.rollout_id, d.device_id): d.state
                  for d in session.scalars(select(DeviceDeployment))}
        with pytest.raises(FleetError) as refused:
            auth.device_caller(session, credential)
        assert refused.value.status == 401
    assert states == {(pending, device.id): DeploymentState.skipped,
                      (pending, bystander.id): DeploymentState.pending,
                      (soaking, device.id): DeploymentState.skipped,
                      (finished, device.id): DeploymentState.succeeded,  # terminal: kept
                      (failed, device.id): DeploymentState.failed}

    changes = audit_rows(db, "deployment.state_changed")
    assert sorted((r.details["rollout"], r.details["from"], r.details["to"]) for r in changes
                  ) == [(pending, "pending", "skipped"), (soaking, "soaking", "skipped")]
    assert {r.target_id for r in changes} == {device.id}
    [row] = audit_rows(db, "device.decommissioned")
    assert row.target_id == device.id and row.actor == "owner-user"
    assert row.details["name"] == "retiring" and row.details["group"] == "floor"

    again = client.post(f"{API}/devices/{device.id}/decommission", headers=owner)
    assert again.status_code == 409
    edit = client.patch(f"{API}/devices/{device.id}", headers=owner, json={"name": "back"})
    assert edit.status_code == 409


def test_owners_rename_regroup_and_retag_devices(client: TestClient, db: Engine,
                                                 user_headers: Headers) -> None:
    owner = user_headers(Role.owner)
    first, second = group(client, owner, "first"), group(client, owner, "second")
    device, _ = register(db, provisioning(client, owner, group_id=first)["secret"], "old")
    url = f"{API}/devices/{device.id}"

    moved = client.patch(url, headers=owner,
                         json={"name": "new", "group_id": second, "tags": ["x", " y ", "x"]})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["name"], moved.json()["group"], moved.json()["tags"]) == (
        "new", "second", ["x", "y"])
    # Fields left out stay; an explicit null group takes the device out of its group.
    assert client.patch(url, headers=owner, json={"tags": []}).json()["group"] == "second"
    ungrouped = client.patch(url, headers=owner, json={"group_id": None}).json()
    assert ungrouped["group_id"] is None and ungrouped["name"] == "new"
    unchanged = client.patch(url, headers=owner, json={"name": "new"})
    assert unchanged.status_code == 200
    missing_group = client.patch(url, headers=owner, json={"group_id": 99999})
    assert missing_group.status_code == 404
    missing_device = client.patch(f"{API}/devices/nope", headers=owner, json={"name": "n"})
    assert missing_device.status_code == 404 and missing_device.json()["error"] == "not_found"

    rows = audit_rows(db, "device.updated")
    assert [r.details["changes"] for r in rows] == [
        {"name": {"from": "old", "to": "new"}, "group": {"from": "first", "to": "second"},
         "tags": {"from": [], "to": ["x", "y"]}},
        {"tags": {"from": ["x", "y"], "to": []}},
        {"group": {"from": "second", "to": None}},
    ]
    assert all(r.target_id == device.id and r.actor == "owner-user" for r in rows)


def test_device_filters(client: TestClient, db: Engine, settings: Any,
                        user_headers: Headers) -> None:
    owner, viewer = user_headers(Role.owner), user_headers(Role.viewer)
    north, south = group(client, owner, "north"), group(client, owner, "south")
    to_north = provisioning(client, owner, group_id=north, uses=None)["secret"]
    a, _ = register(db, to_north, "a", ["cam", "v2"])
    b, _ = register(db, to_north, "b", ["cam"])
    c, _ = register(db, provisioning(client, owner, group_id=south)["secret"], "c", ["v2"])
    d, _ = register(db, to_north, "d", [])
    stale = utcnow() - dt.timedelta(seconds=settings.offline_after_seconds + 5)
    with transaction(session_factory(db)) as session:
        session.execute(update(Device).where(Device.id == b.id).values(last_seen_at=stale))
        session.execute(update(Device).where(Device.id == d.id).values(last_seen_at=None))
    client.post(f"{API}/devices/{c.id}/decommission", headers=owner)

    def names(**params: Any) -> list[str]:
        response = client.get(f"{API}/devices", headers=viewer, params=params)
        assert response.status_code == 200, response.text
        return [device["name"] for device in response.json()["data"]]

    assert names() == ["a", "b", "c", "d"]
    assert names(group="north") == names(group=str(north)) == ["a", "b", "d"]
    assert names(tag="cam") == ["a", "b"]
    assert names(tag=["cam", "v2"]) == ["a"]
    assert names(status="decommissioned") == ["c"]
    assert names(status="active", tag="v2") == ["a"]
    assert names(online=True) == ["a"]
    assert names(online=False) == ["b", "c", "d"]
    assert names(group="south", online=False) == ["c"]
    page = client.get(f"{API}/devices", headers=viewer, params={"limit": 2, "offset": 1})
    assert page.json()["count"] == 4 and [x["name"] for x in page.json()["data"]] == ["b", "c"]
    unknown = client.get(f"{API}/devices", headers=viewer, params={"group": "west"})
    assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"
    one = client.get(f"{API}/devices/{a.id}", headers=viewer).json()
    assert one["online"] and one["group"] == "north" and "credential_hash" not in one


# --- malformed requests ------------------------------------------------------------------

@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/groups", {"name": ""}),
    ("POST", "/groups", {"name": "g", "owner": "me"}),
    ("PATCH", "/groups/1", {"name": 5}),
    ("POST", "/provisioning-tokens", {"name": "p", "uses": 0}),
    ("POST", "/provisioning-tokens", {"name": "p", "tags": "not-a-list"}),
    ("POST", "/provisioning-tokens", {"name": "p", "expires_in_seconds": 0}),
    ("POST", "/provisioning-tokens", {"uses": 3}),
    ("PATCH", "/devices/x", {"tags": [""]}),
    ("PATCH", "/devices/x", {"credential_hash": None}),
    ("GET", "/devices?status=lost", None),
    ("GET", "/devices?online=maybe", None),
    ("GET", "/devices?limit=0", None),
])
def test_malformed_requests_get_the_422_envelope(client: TestClient, user_headers: Headers,
                                                 method: str, path: str, body: Any) -> None:
    response = client.request(method, f"{API}{path}", headers=user_headers(Role.owner),
                              json=body)
    assert response.status_code == 422, response.text
    payload = response.json()
    assert payload["error"] == "invalid_request" and payload["problems"]
