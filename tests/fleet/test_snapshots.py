"""Snapshots: canonical form and id, signature and the agent's check, credentials sealed
at rest and never shown to users, the diff, and the snapshots API on both databases."""

from __future__ import annotations

import copy
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text

from runtime.fleet import snapshots
from runtime.fleet.audit import SYSTEM
from runtime.fleet.bundle import BundleError, canonical, content_id, verify_bundle
from runtime.fleet.db import Base, session_factory
from runtime.fleet.diff import diff_snapshots, property_name
from runtime.fleet.errors import FleetError
from runtime.fleet.keys import ServerKeys
from runtime.fleet.models import AuditEvent, Role, Snapshot

URL = "/api/v1/snapshots"
SECRET = "hunter2-Very-Secret-Value"
Headers = Callable[[Role], dict[str, str]]


def flows(payload: str = "", wires: list[list[str]] | None = None) -> list[dict[str, Any]]:
    """A small valid flow: a tab, inject -> debug, and an MQTT broker config node."""
    return [
        {"id": "t1", "type": "tab", "label": "Main"},
        {"id": "n1", "type": "inject", "z": "t1", "name": "tick", "props": [{"p": "payload"}],
         "repeat": "", "crontab": "", "once": False, "onceDelay": 0.1, "topic": "",
         "payload": payload, "payloadType": "str", "x": 100, "y": 100,
         "wires": wires if wires is not None else [["n2"]]},
        {"id": "n2", "type": "debug", "z": "t1", "name": "out", "active": True,
         "tosidebar": True, "console": False, "tostatus": False, "complete": "payload",
         "targetType": "msg", "x": 300, "y": 100, "wires": []},
        {"id": "b1", "type": "mqtt-broker", "name": "broker", "broker": "localhost",
         "port": "1883"},
    ]


def content(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"flows": flows(), "credentials": {"b1": {"user": "plumb",
                                                                    "password": SECRET}},
                            "settings": {"editorTheme": {"projects": {"enabled": False}}},
                            "env": {"SITE": "north"}, "modules": {}}
    return {**base, **changes}


def body(name: str = "first", **changes: Any) -> dict[str, Any]:
    return {"name": name, **content(**changes)}


def keys() -> ServerKeys:
    return ServerKeys(signing=Ed25519PrivateKey.generate(), secret=os.urandom(32))


# -- canonical form and id (pure) ----------------------------------------------------------

def test_the_id_is_the_sha256_of_the_documented_canonical_form() -> None:
    snap = content()
    expected = json.dumps({k: snap[k] for k in ("flows", "credentials", "settings", "env",
                                                "modules")},
                          sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical(snap) == expected.encode("utf-8")
    assert content_id(snap) == hashlib.sha256(expected.encode("utf-8")).hexdigest()
    # Non-ASCII text is hashed as UTF-8, not as \u escapes.
    assert "ü".encode() in canonical(content(env={"CITY": "Zürich"}))


def test_key_order_does_not_change_the_id_but_content_does() -> None:
    snap = content()
    shuffled = {key: snap[key] for key in reversed(list(snap))}
    shuffled["flows"] = [dict(reversed(list(node.items()))) for node in snap["flows"]]
    assert content_id(shuffled) == content_id(snap)
    assert content_id({**snap, "name": "ignored"}) == content_id(snap)
    different = [content(flows=flows(payload="x")), content(env={"SITE": "south"}),
                 content(credentials={"b1": {"user": "plumb", "password": "other"}}),
                 content(modules={"node-red-contrib-x": "1.0.0"}),
                 content(settings={"editorTheme": {"projects": {"enabled": True}}}),
                 content(flows=list(reversed(flows())))]  # node order is content
    ids = {content_id(c) for c in different}
    assert len(ids) == len(different) and content_id(snap) not in ids
    # 1, 1.0 and true are different JSON, so different snapshots.
    assert len({content_id(content(settings={"v": v})) for v in (1, 1.0, True)}) == 3


def test_content_json_cannot_carry_is_refused() -> None:
    with pytest.raises(ValueError):
        canonical(content(settings={"x": float("nan")}))
    with pytest.raises(ValueError, match="modules"):
        canonical({"flows": [], "credentials": {}, "settings": {}, "env": {}})


# -- credentials at rest (pure) ------------------------------------------------------------

def test_sealed_credentials_open_with_the_same_key_only() -> None:
    secret, creds = os.urandom(32), {"b1": {"user": "plumb", "password": SECRET}}
    sealed = snapshots.seal_credentials(secret, creds, "a" * 64)
    assert sealed.startswith("v1:") and SECRET not in sealed
    assert snapshots.seal_credentials(secret, creds, "a" * 64) != sealed  # fresh nonce
    assert snapshots.open_credentials(secret, sealed, "a" * 64) == creds
    with pytest.raises(snapshots.CredentialsUnreadable, match="secret key"):
        snapshots.open_credentials(os.urandom(32), sealed, "a" * 64)
    with pytest.raises(snapshots.CredentialsUnreadable):  # moved onto another snapshot
        snapshots.open_credentials(secret, sealed, "b" * 64)
    with pytest.raises(snapshots.CredentialsUnreadable):  # altered
        snapshots.open_credentials(secret, sealed[:-6] + "AAAAAA", "a" * 64)
    with pytest.raises(snapshots.CredentialsUnreadable, match="format"):
        snapshots.open_credentials(secret, "v0:xyz", "a" * 64)


# -- the agent's check (pure) --------------------------------------------------------------

def signed_bundle(server: ServerKeys, **changes: Any) -> dict[str, Any]:
    snap = content(**changes)
    snapshot_id = content_id(snap)
    return {"id": snapshot_id, "name": "n", **snap,
            "signature": snapshots.sign(server, snapshot_id)}


def test_verify_bundle_accepts_the_servers_bundle() -> None:
    server = keys()
    bundle = signed_bundle(server)
    assert verify_bundle(bundle, server.signing.public_key()) == bundle["id"]
    assert verify_bundle(bundle, server.public_pem) == bundle["id"]
    # The name is not content: renaming does not break the check.
    assert verify_bundle({**bundle, "name": "renamed"}, server.public_pem) == bundle["id"]


def test_verify_bundle_refuses_altered_content() -> None:
    server = keys()
    bundle = signed_bundle(server)
    tampered = copy.deepcopy(bundle)
    tampered["flows"][1]["payload"] = "rm -rf /"
    with pytest.raises(BundleError, match="does not match its id"):
        verify_bundle(tampered, server.public_pem)
    # Recomputing the id does not help: the signature is over the original id.
    tampered["id"] = content_id(tampered)
    with pytest.raises(BundleError, match="not signed by the pinned server key"):
        verify_bundle(tampered, server.public_pem)
    swapped = {**bundle, "credentials": {"b1": {"user": "plumb", "password": "x"}}}
    with pytest.raises(BundleError, match="does not match its id"):
        verify_bundle(swapped, server.public_pem)


def test_verify_bundle_refuses_another_key_and_malformed_bundles() -> None:
    server, stranger = keys(), keys()
    bundle = signed_bundle(server)
    with pytest.raises(BundleError, match="not signed"):
        verify_bundle(bundle, stranger.public_pem)
    # A bundle the stranger signed itself is refused by the server's key.
    with pytest.raises(BundleError, match="not signed"):
        verify_bundle(signed_bundle(stranger), server.public_pem)
    cases: list[tuple[Any, str]] = [
        ({k: v for k, v in bundle.items() if k != "signature"}, "lacks signature"),
        ({k: v for k, v in bundle.items() if k != "env"}, "lacks env"),
        ({**bundle, "signature": "zz"}, "not a hex Ed25519"),
        ({**bundle, "signature": bundle["signature"][:-2]}, "not a hex Ed25519"),
        ({**bundle, "id": "ABC"}, "not a sha256"),
        ([], "JSON object"),
    ]
    for bad, message in cases:
        with pytest.raises(BundleError, match=message):
            verify_bundle(bad, server.public_pem)
    with pytest.raises(BundleError, match="PEM"):
        verify_bundle(bundle, "not a key")


# -- diff (pure) ---------------------------------------------------------------------------

def test_diff_of_identical_content_is_empty() -> None:
    result = diff_snapshots(content(), content())
    assert result["identical"] is True
    assert result["nodes"] == {"added": [], "removed": [], "changed": [], "reordered": False}
    assert result["settings"] == result["env"] == result["modules"] == []
    assert result["credentials"] == []


def test_diff_finds_added_removed_and_changed_nodes() -> None:
    old = flows()
    new = [n for n in flows(payload="hello") if n["id"] != "n2"]
    new[1]["wires"] = [[]]
    new.append({"id": "n3", "type": "debug", "z": "t1", "name": "new one", "wires": []})
    result = diff_snapshots(content(flows=old), content(flows=new))
    nodes = result["nodes"]
    assert [n["id"] for n in nodes["added"]] == ["n3"]
    assert nodes["added"][0] == {"id": "n3", "type": "debug", "name": "new one", "z": "t1"}
    assert [n["id"] for n in nodes["removed"]] == ["n2"]
    [changed] = nodes["changed"]
    assert changed["id"] == "n1" and changed["type"] == "inject"
    assert {(c["property"], c["kind"], json.dumps(c["old"]), json.dumps(c["new"]))
            for c in changed["changes"]} == {
        ("payload", "changed", '""', '"hello"'),
        ("wires[0]", "changed", '["n2"]', "[]"),
    }
    assert result["identical"] is False and nodes["reordered"] is False


def test_diff_reaches_into_nested_properties() -> None:
    old, new = flows(), flows()
    new[1]["props"][0]["p"] = "topic"
    new[1]["props"].append({"p": "payload"})  # different length: the whole list
    new[2]["extra"] = {"deep": [1, 2]}
    del new[2]["console"]
    old[3]["options"] = {"qos": {"level": 1}}
    new[3]["options"] = {"qos": {"level": 1.0}}  # equal in Python, not in JSON
    result = diff_snapshots(content(flows=old), content(flows=new))
    changes = {n["id"]: {(c["property"], c["kind"]) for c in n["changes"]}
               for n in result["nodes"]["changed"]}
    assert changes == {"n1": {("props", "changed")},
                       "n2": {("extra", "added"), ("console", "removed")},
                       "b1": {("options.qos.level", "changed")}}
    same_length = flows()
    same_length[1]["props"][0]["p"] = "topic"
    [node] = diff_snapshots(content(), content(flows=same_length))["nodes"]["changed"]
    assert node["changes"] == [{"property": "props[0].p", "path": ["props", 0, "p"],
                                "kind": "changed", "old": "payload", "new": "topic"}]
    assert property_name(("a", 0, 1, "b")) == "a[0][1].b"


def test_diff_reports_env_settings_modules_and_order() -> None:
    old = content(env={"SITE": "north", "OLD": "1"}, modules={"node-red-contrib-a": "1.0.0"})
    new = content(env={"SITE": "south", "NEW": "2"},
                  modules={"node-red-contrib-a": "1.1.0", "node-red-contrib-b": "2.0.0"},
                  settings={"editorTheme": {"projects": {"enabled": True}}},
                  flows=[flows()[1], flows()[0], *flows()[2:]])
    result = diff_snapshots(old, new)
    assert {(c["property"], c["kind"], c["old"], c["new"]) for c in result["env"]} == {
        ("SITE", "changed", "north", "south"), ("OLD", "removed", "1", None),
        ("NEW", "added", None, "2")}
    assert {(c["property"], c["kind"]) for c in result["modules"]} == {
        ("node-red-contrib-a", "changed"), ("node-red-contrib-b", "added")}
    assert [(c["property"], c["old"], c["new"]) for c in result["settings"]] == [
        ("editorTheme.projects.enabled", False, True)]
    assert result["nodes"]["reordered"] is True and result["nodes"]["changed"] == []


def test_diff_names_changed_credentials_without_values() -> None:
    old = content(credentials={"b1": {"user": "plumb", "password": SECRET, "gone": "g1"}})
    new = content(credentials={"b1": {"user": "plumb", "password": SECRET + "!",
                                      "token": "t0k3n"},
                               "n1": {"key": "k3y"}})
    result = diff_snapshots(old, new)
    assert result["credentials"] == [
        {"node": "b1", "field": "gone", "kind": "removed"},
        {"node": "b1", "field": "password", "kind": "changed"},
        {"node": "b1", "field": "token", "kind": "added"},
        {"node": "n1", "field": "key", "kind": "added"},
    ]
    text_ = json.dumps(result)
    for value in (SECRET, "g1", "t0k3n", "k3y"):
        assert value not in text_


# -- the API (SQLite and PostgreSQL) -------------------------------------------------------

def create(client: TestClient, headers: dict[str, str], **kwargs: Any) -> Any:
    return client.post(URL, json=body(**kwargs), headers=headers)


def test_a_member_creates_a_snapshot(client: TestClient, user_headers: Headers,
                                     db: Engine) -> None:
    response = create(client, user_headers(Role.member), name="first",
                      description="the first one")
    assert response.status_code == 201, response.text
    snap = response.json()
    assert snap["id"] == content_id(content())
    assert snap["name"] == "first" and snap["description"] == "the first one"
    assert snap["created_by"] == "member-user" and snap["parent"] is None
    assert snap["nodes"] == 4 and snap["flows"] == flows()
    assert snap["credentials"] == {"b1": ["password", "user"]}
    assert snap["env"] == {"SITE": "north"} and snap["modules"] == {}
    with session_factory(db)() as session:
        [event] = session.scalars(select(AuditEvent)
                                  .where(AuditEvent.action == "snapshot.created")).all()
    assert event.actor == "member-user" and event.target_kind == "snapshot"
    assert event.target_id == snap["id"]
    assert event.details == {"name": "first", "parent": None}


def test_the_same_content_answers_the_existing_snapshot(client: TestClient,
                                                        user_headers: Headers,
                                                        db: Engine) -> None:
    first = create(client, user_headers(Role.member), name="first")
    assert first.status_code == 201
    shuffled = {key: value for key, value in reversed(list(body(name="again").items()))}
    again = client.post(URL, json=shuffled, headers=user_headers(Role.owner))
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["name"] == "first"  # the existing snapshot, unchanged
    with session_factory(db)() as session:
        assert len(session.scalars(select(Snapshot)).all()) == 1
        assert len(session.scalars(select(AuditEvent).where(
            AuditEvent.action == "snapshot.created")).all()) == 1
    other = create(client, user_headers(Role.member), env={"SITE": "south"})
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]


def test_a_concurrent_create_of_the_same_content_answers_the_winner(
        db: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    server = keys()
    with session_factory(db)() as winner:
        snapshots.create_snapshot(winner, server, SYSTEM, name="winner", **content())
        winner.commit()
    with session_factory(db)() as loser:
        # The loser looked before the winner committed: it saw no snapshot.
        real_get = loser.get
        looks: list[Any] = []

        def late_get(*args: Any, **kwargs: Any) -> Any:
            looks.append(args)
            return None if len(looks) == 1 else real_get(*args, **kwargs)

        monkeypatch.setattr(loser, "get", late_get)
        snap, created = snapshots.create_snapshot(loser, server, SYSTEM, name="loser",
                                                  **content())
        loser.commit()
        assert not created and snap.name == "winner"
    with session_factory(db)() as session:
        assert len(session.scalars(select(Snapshot)).all()) == 1
        assert len(session.scalars(select(AuditEvent)).all()) == 1


def test_a_parent_must_exist_and_is_recorded(client: TestClient, user_headers: Headers,
                                             db: Engine) -> None:
    member = user_headers(Role.member)
    missing = client.post(URL, json={**body(), "parent": "f" * 64}, headers=member)
    assert missing.status_code == 422 and missing.json()["error"] == "invalid_request"
    parent = create(client, member).json()["id"]
    child = client.post(URL, json={**body(env={"SITE": "b"}), "parent": parent},
                        headers=member)
    assert child.status_code == 201 and child.json()["parent"] == parent
    with session_factory(db)() as session:
        details = [e.details for e in session.scalars(select(AuditEvent).where(
            AuditEvent.action == "snapshot.created").order_by(AuditEvent.seq))]
    assert details[-1] == {"name": "first", "parent": parent}


def test_credentials_are_never_shown_to_users_nor_stored_in_clear(
        client: TestClient, user_headers: Headers, db: Engine) -> None:
    member, viewer = user_headers(Role.member), user_headers(Role.viewer)
    first = create(client, member)
    second = create(client, member, name="second",
                    credentials={"b1": {"user": "plumb", "password": SECRET + "2"}})
    a, b = first.json()["id"], second.json()["id"]
    responses = [first, second, create(client, member),
                 client.get(URL, headers=viewer), client.get(f"{URL}/{a}", headers=viewer),
                 client.get(f"{URL}/{a}/flows", headers=viewer),
                 client.get(f"{URL}/{a}/diff/{b}", headers=viewer)]
    for response in responses:
        assert response.status_code in (200, 201), response.text
        assert SECRET not in response.text
    diff = responses[-1].json()
    assert diff["credentials"] == [{"node": "b1", "field": "password", "kind": "changed"}]
    # Every row of every table, as the database hands it out.
    with db.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(text(f"SELECT * FROM {table.name}")):
                assert SECRET not in repr(tuple(row)), table.name
        stored = conn.execute(text("SELECT credentials_encrypted FROM snapshots "
                                   "WHERE id = :id"), {"id": a}).scalar_one()
    assert stored.startswith("v1:")


def test_the_device_bundle_carries_credentials_and_verifies(
        app: Any, client: TestClient, user_headers: Headers, db: Engine) -> None:
    snap_id = create(client, user_headers(Role.member)).json()["id"]
    server: ServerKeys = app.state.keys
    with session_factory(db)() as session:
        bundle = snapshots.bundle_for_device(session, server, snap_id)
    assert set(bundle) == {"id", "name", "flows", "credentials", "settings", "env",
                           "modules", "signature"}
    assert bundle["credentials"] == {"b1": {"user": "plumb", "password": SECRET}}
    # What an agent does with it, after a trip through JSON.
    assert verify_bundle(json.loads(json.dumps(bundle)), server.public_pem) == snap_id
    with pytest.raises(BundleError):
        verify_bundle(bundle, keys().public_pem)
    with session_factory(db)() as session, pytest.raises(FleetError) as missing:
        snapshots.bundle_for_device(session, server, "0" * 64)
    assert missing.value.status == 404


def test_a_wrong_secret_key_fails_cleanly(app: Any, client: TestClient,
                                          user_headers: Headers, db: Engine) -> None:
    a = create(client, user_headers(Role.member)).json()["id"]
    b = create(client, user_headers(Role.member), env={"SITE": "x"}).json()["id"]
    wrong = ServerKeys(signing=app.state.keys.signing, secret=os.urandom(32))
    with session_factory(db)() as session, pytest.raises(FleetError) as refused:
        snapshots.bundle_for_device(session, wrong, a)
    assert refused.value.status == 500 and refused.value.code == "credentials_unreadable"
    app.state.keys = wrong
    response = client.get(f"{URL}/{a}/diff/{b}", headers=user_headers(Role.viewer))
    assert response.status_code == 500
    assert response.json()["error"] == "credentials_unreadable"
    # Reading a snapshot needs no secret key: users only see field names.
    assert client.get(f"{URL}/{a}", headers=user_headers(Role.viewer)).status_code == 200


def test_an_altered_row_is_not_handed_to_devices(app: Any, client: TestClient,
                                                 user_headers: Headers, db: Engine) -> None:
    snap_id = create(client, user_headers(Role.member)).json()["id"]
    with session_factory(db)() as session:
        row = session.get(Snapshot, snap_id)
        assert row is not None
        row.env = {"SITE": "evil"}
        session.commit()
    with session_factory(db)() as session, pytest.raises(FleetError) as refused:
        snapshots.bundle_for_device(session, app.state.keys, snap_id)
    assert refused.value.code == "snapshot_corrupt"


def test_flows_with_validator_errors_are_refused_with_findings(
        client: TestClient, user_headers: Headers, db: Engine) -> None:
    response = create(client, user_headers(Role.member), flows=flows(wires=[["nowhere"]]))
    assert response.status_code == 422
    refusal = response.json()
    assert refusal["error"] == "invalid_flow"
    assert [(f["code"], f["node"]["id"]) for f in refusal["findings"]] == [
        ("wire-target-missing", "n1")]
    assert all(f["severity"] == "error" for f in refusal["findings"])
    with session_factory(db)() as session:
        assert session.scalars(select(Snapshot)).all() == []


def test_unknown_node_types_pass_only_when_modules_are_named(client: TestClient,
                                                             user_headers: Headers) -> None:
    custom = [*flows(), {"id": "c1", "type": "acme-widget", "z": "t1", "x": 1, "y": 1,
                         "wires": []}]
    member = user_headers(Role.member)
    refused = create(client, member, flows=custom)
    assert refused.status_code == 422
    assert [f["code"] for f in refused.json()["findings"]] == ["unknown-type"]
    accepted = create(client, member, flows=custom, modules={"node-red-contrib-acme": "1.2.0"})
    assert accepted.status_code == 201, accepted.text


def test_credentials_for_nodes_not_in_the_flows_are_refused(client: TestClient,
                                                            user_headers: Headers) -> None:
    response = create(client, user_headers(Role.member),
                      credentials={"ghost": {"password": SECRET}})
    assert response.status_code == 422
    assert response.json()["nodes"] == ["ghost"]
    assert SECRET not in response.text


@pytest.mark.parametrize("payload, where", [
    (b'{"name": "x", "flows": [', "body"),
    (b'{"flows": []}', "body.name"),
    (b'{"name": "x", "flows": {}}', "body.flows"),
    (b'{"name": "x", "flows": [], "env": {"A": 1}}', "body.env.A"),
    (b'{"name": "   ", "flows": []}', "body.name"),
    (b'{"name": "a\\u0000b", "flows": []}', "body.name"),
])
def test_malformed_bodies_get_the_422_envelope(client: TestClient, user_headers: Headers,
                                               payload: bytes, where: str) -> None:
    response = client.post(URL, content=payload, headers={
        **user_headers(Role.member), "Content-Type": "application/json"})
    assert response.status_code == 422
    refusal = response.json()
    assert refusal["error"] == "invalid_request" and refusal["message"]
    assert any(p["where"].startswith(where) for p in refusal["problems"])


def test_bodies_over_ten_megabytes_are_refused(client: TestClient,
                                               user_headers: Headers) -> None:
    member = {**user_headers(Role.member), "Content-Type": "application/json"}
    big = b" " * (10 * 1024 * 1024 + 1)
    response = client.post(URL, content=big, headers=member)
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the streamed size counts
        for _ in range(11):
            yield b" " * (1024 * 1024)

    streamed = client.post(URL, content=chunks(), headers=member)
    assert streamed.status_code == 413
    assert streamed.json()["error"] == "too_large"


def test_roles_viewers_read_members_create(client: TestClient, user_headers: Headers) -> None:
    viewer = user_headers(Role.viewer)
    refused = create(client, viewer)
    assert refused.status_code == 403
    assert refused.json()["error"] == "forbidden"
    assert refused.json()["role_needed"] == "member" and "member" in refused.json()["message"]
    snap_id = create(client, user_headers(Role.member)).json()["id"]
    for path in (URL, f"{URL}/{snap_id}", f"{URL}/{snap_id}/flows",
                 f"{URL}/{snap_id}/diff/{snap_id}"):
        assert client.get(path, headers=viewer).status_code == 200, path
        anonymous = client.get(path)
        assert anonymous.status_code == 401 and anonymous.json()["error"] == "unauthorized"
    assert client.post(URL, json=body()).status_code == 401


def test_the_list_is_paginated_newest_first(client: TestClient, user_headers: Headers) -> None:
    member, viewer = user_headers(Role.member), user_headers(Role.viewer)
    made = [create(client, member, name=f"s{i}", env={"I": str(i)}).json()["id"]
            for i in range(3)]
    page = client.get(URL, params={"limit": 2}, headers=viewer).json()
    assert page["count"] == 3
    assert [s["id"] for s in page["data"]] == [made[2], made[1]]
    assert set(page["data"][0]) == {"id", "name", "description", "parent", "created_by",
                                    "created_at", "nodes"}  # no flows, no credentials
    rest = client.get(URL, params={"limit": 2, "offset": 2}, headers=viewer).json()
    assert [s["name"] for s in rest["data"]] == ["s0"]
    bad = client.get(URL, params={"limit": 0}, headers=viewer)
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_request"


def test_flows_export_is_the_plain_node_red_array(client: TestClient,
                                                  user_headers: Headers) -> None:
    snap_id = create(client, user_headers(Role.member)).json()["id"]
    response = client.get(f"{URL}/{snap_id}/flows", headers=user_headers(Role.viewer))
    assert response.status_code == 200 and response.json() == flows()


def test_unknown_snapshots_are_404(client: TestClient, user_headers: Headers) -> None:
    viewer = user_headers(Role.viewer)
    snap_id = create(client, user_headers(Role.member)).json()["id"]
    for path in (f"{URL}/{'0' * 64}", f"{URL}/nope/flows", f"{URL}/{snap_id}/diff/nope",
                 f"{URL}/nope/diff/{snap_id}"):
        response = client.get(path, headers=viewer)
        assert response.status_code == 404 and response.json()["error"] == "not_found", path


def test_the_diff_endpoint(client: TestClient, user_headers: Headers) -> None:
    member = user_headers(Role.member)
    a = create(client, member).json()["id"]
    b = create(client, member, flows=flows(payload="hi"), env={"SITE": "south"},
               modules={"node-red-contrib-x": "1.0.0"}).json()["id"]
    diff = client.get(f"{URL}/{a}/diff/{b}", headers=user_headers(Role.viewer)).json()
    assert diff["from_id"] == a and diff["to_id"] == b and diff["identical"] is False
    [node] = diff["nodes"]["changed"]
    assert node["id"] == "n1" and node["changes"] == [
        {"property": "payload", "path": ["payload"], "kind": "changed", "old": "",
         "new": "hi"}]
    assert [(c["property"], c["old"], c["new"]) for c in diff["env"]] == [
        ("SITE", "north", "south")]
    assert [(c["property"], c["kind"]) for c in diff["modules"]] == [
        ("node-red-contrib-x", "added")]
    assert diff["credentials"] == []
    same = client.get(f"{URL}/{a}/diff/{a}", headers=user_headers(Role.viewer)).json()
    assert same["identical"] is True


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_snapshots_are_immutable(client: TestClient, user_headers: Headers, db: Engine,
                                 method: str) -> None:
    admin = user_headers(Role.admin)
    snap_id = create(client, admin).json()["id"]
    response = client.request(method, f"{URL}/{snap_id}", json=body(), headers=admin)
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"
    assert response.headers["allow"] == "GET"
    with session_factory(db)() as session:
        assert [s.id for s in session.scalars(select(Snapshot))] == [snap_id]
