"""Users, logins and API tokens: the users router and `runtime.fleet.accounts`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from runtime.fleet import devices as device_service
from runtime.fleet.db import Base, session_factory, transaction, utcnow
from runtime.fleet.models import ApiToken, AuditEvent, Role, User
from tests.fleet.conftest import PASSWORD

API = "/api/v1"
Headers = Callable[[Role], dict[str, str]]


def audit_rows(db: Engine, action: str) -> list[AuditEvent]:
    with session_factory(db)() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                    .order_by(AuditEvent.seq)))


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def login(client: TestClient, name: str, password: str = PASSWORD) -> Any:
    return client.post(f"{API}/auth/login", json={"name": name, "password": password})


def new_user(client: TestClient, admin: dict[str, str], name: str,
             role: str = "viewer", password: str = PASSWORD) -> dict[str, Any]:
    response = client.post(f"{API}/users", headers=admin,
                           json={"name": name, "password": password, "role": role})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


# --- login -------------------------------------------------------------------------------

def test_login_gives_a_12_hour_session_token(client: TestClient, db: Engine,
                                             user_headers: Headers) -> None:
    user_headers(Role.member)
    response = login(client, "member-user")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token"].startswith("plumb_u_") and body["user"]["role"] == "member"
    expires = dt.datetime.fromisoformat(body["expires_at"])
    assert abs(expires - (utcnow() + dt.timedelta(hours=12))) < dt.timedelta(minutes=1)
    me = client.get(f"{API}/auth/me", headers=bearer(body["token"])).json()
    assert me["user"]["name"] == "member-user" and me["acting_role"] == "member"
    assert me["token"]["name"] == "login" and me["token"]["id"] == body["token_id"]
    [row] = audit_rows(db, "login.succeeded")
    assert row.actor == "member-user" and row.details["name"] == "member-user"


def test_a_wrong_name_and_a_wrong_password_get_the_same_refusal(
        client: TestClient, db: Engine, user_headers: Headers) -> None:
    user_headers(Role.viewer)
    wrong_password = login(client, "viewer-user", "not the password")
    unknown_name = login(client, "nobody", PASSWORD)
    assert wrong_password.status_code == unknown_name.status_code == 401
    assert wrong_password.json() == unknown_name.json()
    assert wrong_password.json()["error"] == "unauthorized"
    # The refusals are audited even though their requests failed.
    rows = audit_rows(db, "login.failed")
    assert [(r.details["name"], r.details["reason"]) for r in rows] == [
        ("viewer-user", "wrong password"), ("nobody", "unknown user")]
    assert not audit_rows(db, "login.succeeded")


def test_a_disabled_user_cannot_log_in(client: TestClient, user_headers: Headers) -> None:
    admin = user_headers(Role.admin)
    user = new_user(client, admin, "leaver")
    client.patch(f"{API}/users/{user['id']}", headers=admin, json={"disabled": True})
    response = login(client, "leaver")
    assert response.status_code == 401 and "disabled" in response.json()["message"]


# --- passwords ---------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "password", "problem"), [
    ("newcomer", "short", "at least 10"),
    ("newcomer", "a" * 12, "one character repeated"),
    ("Newcomer-Two", "newcomer-two", "the user's name"),
])
def test_password_rules(client: TestClient, user_headers: Headers, name: str, password: str,
                        problem: str) -> None:
    admin = user_headers(Role.admin)
    response = client.post(f"{API}/users", headers=admin,
                           json={"name": name, "password": password})
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "weak_password"
    assert problem in response.json()["message"]


def test_an_overlong_password_is_refused_before_hashing(client: TestClient,
                                                        user_headers: Headers) -> None:
    response = client.post(f"{API}/users", headers=user_headers(Role.admin),
                           json={"name": "newcomer", "password": "x" * 1025})
    assert response.status_code == 422 and response.json()["error"] == "invalid_request"


def test_a_user_changes_their_own_password(client: TestClient, db: Engine,
                                           user_headers: Headers) -> None:
    headers = user_headers(Role.viewer)
    change = f"{API}/auth/password"
    wrong = client.post(change, headers=headers,
                        json={"old_password": "not it at all", "new_password": "x" * 3 + "yz" * 6})
    assert wrong.status_code == 400 and wrong.json()["error"] == "wrong_password"
    same = client.post(change, headers=headers,
                       json={"old_password": PASSWORD, "new_password": PASSWORD})
    assert same.status_code == 422 and same.json()["error"] == "weak_password"
    weak = client.post(change, headers=headers,
                       json={"old_password": PASSWORD, "new_password": "short"})
    assert weak.status_code == 422 and weak.json()["error"] == "weak_password"
    done = client.post(change, headers=headers,
                       json={"old_password": PASSWORD, "new_password": "a new long passphrase"})
    assert done.status_code == 204, done.text
    assert login(client, "viewer-user").status_code == 401
    assert login(client, "viewer-user", "a new long passphrase").status_code == 200
    [row] = [r for r in audit_rows(db, "user.updated") if r.actor == "viewer-user"]
    assert row.details["changes"] == {"password": "changed"}
    assert "a new long passphrase" not in str(row.details)


# --- users (admins) ----------------------------------------------------------------------

def test_admins_create_list_and_read_users(client: TestClient, db: Engine,
                                           user_headers: Headers) -> None:
    admin = user_headers(Role.admin)
    made = new_user(client, admin, "alice", "owner")
    assert made["role"] == "owner" and not made["disabled"] and "password" not in str(made)
    again = client.post(f"{API}/users", headers=admin,
                        json={"name": "alice", "password": PASSWORD})
    assert again.status_code == 409 and again.json()["error"] == "conflict"
    listed = client.get(f"{API}/users", headers=admin).json()
    assert listed["count"] == 2 and {u["name"] for u in listed["data"]} == {"alice",
                                                                              "admin-user"}
    assert client.get(f"{API}/users/{made['id']}", headers=admin).json() == made
    missing = client.get(f"{API}/users/99999", headers=admin)
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    rows = [r for r in audit_rows(db, "user.created") if r.details["name"] == "alice"]
    assert len(rows) == 1 and rows[0].actor == "admin-user" and rows[0].details["role"] == "owner"


def test_admins_change_roles_disable_and_reset_passwords(client: TestClient, db: Engine,
                                                         user_headers: Headers) -> None:
    admin = user_headers(Role.admin)
    bob = new_user(client, admin, "bob", "member")
    bob_token = login(client, "bob").json()["token"]
    url = f"{API}/users/{bob['id']}"

    promoted = client.patch(url, headers=admin, json={"role": "owner"})
    assert promoted.status_code == 200 and promoted.json()["role"] == "owner"
    # A token acts at most as the role it was made with: promotion needs a new login.
    assert client.get(f"{API}/auth/me", headers=bearer(bob_token)).json()["acting_role"] == (
        "member")

    assert client.patch(url, headers=admin, json={"disabled": True}).json()["disabled"]
    refused = client.get(f"{API}/auth/me", headers=bearer(bob_token))
    assert refused.status_code == 401 and "disabled" in refused.json()["message"]
    client.patch(url, headers=admin, json={"disabled": False})
    assert client.get(f"{API}/auth/me", headers=bearer(bob_token)).status_code == 200

    reset = client.patch(url, headers=admin, json={"password": "a reset passphrase"})
    assert reset.status_code == 200
    assert login(client, "bob", "a reset passphrase").status_code == 200
    weak = client.patch(url, headers=admin, json={"password": "short"})
    assert weak.status_code == 422 and weak.json()["error"] == "weak_password"

    updates = [r.details["changes"] for r in audit_rows(db, "user.updated")]
    assert updates == [{"role": {"from": "member", "to": "owner"}},
                       {"disabled": {"from": True, "to": False}},
                       {"password": "reset"}]
    [disabled] = audit_rows(db, "user.disabled")
    assert disabled.target_id == str(bob["id"]) and disabled.actor == "admin-user"


def test_demoting_a_user_caps_their_tokens_at_once(client: TestClient,
                                                   user_headers: Headers) -> None:
    admin = user_headers(Role.admin)
    carol = new_user(client, admin, "carol", "owner")
    token = login(client, "carol").json()["token"]
    client.patch(f"{API}/users/{carol['id']}", headers=admin, json={"role": "viewer"})
    me = client.get(f"{API}/auth/me", headers=bearer(token)).json()
    assert me["acting_role"] == "viewer"
    assert client.post(f"{API}/groups", headers=bearer(token),
                       json={"name": "g"}).status_code == 403


def test_the_last_enabled_admin_stays_an_admin(client: TestClient,
                                               user_headers: Headers) -> None:
    admin = user_headers(Role.admin)
    me = client.get(f"{API}/auth/me", headers=admin).json()["user"]
    url = f"{API}/users/{me['id']}"
    for change in ({"role": "owner"}, {"disabled": True}):
        response = client.patch(url, headers=admin, json=change)
        assert response.status_code == 409, response.text
        assert "last enabled admin" in response.json()["message"]
    new_user(client, admin, "second-admin", "admin")
    assert client.patch(url, headers=admin, json={"role": "owner"}).status_code == 200


# --- tokens ------------------------------------------------------------------------------

def test_a_token_secret_is_shown_once_and_listed_by_prefix(client: TestClient, db: Engine,
                                                           user_headers: Headers) -> None:
    headers = user_headers(Role.member)
    created = client.post(f"{API}/tokens", headers=headers,
                          json={"name": "ci", "expires_in_seconds": 3600})
    assert created.status_code == 201, created.text
    secret, token = created.json()["secret"], created.json()["token"]
    assert secret.startswith(token["prefix"]) and token["role"] == "member"
    listed = client.get(f"{API}/tokens", headers=headers).json()
    assert {t["name"] for t in listed["data"]} == {"test", "ci"}
    assert secret not in str(listed) and "secret" not in str(listed)
    assert set(listed["data"][0]) == {"id", "prefix", "name", "role", "created_at",
                                      "expires_at", "last_used_at", "revoked_at"}

    # A token used only for reads still records its use.
    assert client.get(f"{API}/devices", headers=bearer(secret)).status_code == 200
    with session_factory(db)() as session:
        row = session.get(ApiToken, token["id"])
        assert row is not None and row.last_used_at is not None

    assert client.delete(f"{API}/tokens/{token['id']}", headers=headers).status_code == 204
    refused = client.get(f"{API}/auth/me", headers=bearer(secret))
    assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"
    assert [t["name"] for t in client.get(f"{API}/tokens", headers=headers).json()["data"]
            ] == ["test"]
    everything = client.get(f"{API}/tokens", headers=headers,
                            params={"include_inactive": True}).json()["data"]
    assert any(t["id"] == token["id"] and t["revoked_at"] for t in everything)
    # Revoking twice is no second change.
    assert client.delete(f"{API}/tokens/{token['id']}", headers=headers).status_code == 204
    [created_row] = [r for r in audit_rows(db, "token.created") if r.details["name"] == "ci"]
    assert created_row.details == {"user": "member-user", "name": "ci", "role": "member"}
    [revoked_row] = audit_rows(db, "token.revoked")
    assert revoked_row.target_id == str(token["id"])


def test_a_token_never_acts_above_its_maker(client: TestClient,
                                            user_headers: Headers) -> None:
    member = user_headers(Role.member)
    above = client.post(f"{API}/tokens", headers=member, json={"name": "x", "role": "owner"})
    assert above.status_code == 403 and above.json()["error"] == "forbidden"
    below = client.post(f"{API}/tokens", headers=member, json={"name": "x", "role": "viewer"})
    assert below.status_code == 201 and below.json()["token"]["role"] == "viewer"

    # A viewer-capped token of an admin cannot mint itself an admin token.
    admin = user_headers(Role.admin)
    capped = client.post(f"{API}/tokens", headers=admin,
                         json={"name": "ro", "role": "viewer"}).json()["secret"]
    escalate = client.post(f"{API}/tokens", headers=bearer(capped), json={"name": "up",
                                                                          "role": "admin"})
    assert escalate.status_code == 403
    default = client.post(f"{API}/tokens", headers=bearer(capped), json={"name": "same"})
    assert default.json()["token"]["role"] == "viewer"


def test_another_users_token_is_not_found(client: TestClient,
                                          user_headers: Headers) -> None:
    owner, viewer = user_headers(Role.owner), user_headers(Role.viewer)
    theirs = client.get(f"{API}/auth/me", headers=owner).json()["token"]["id"]
    response = client.delete(f"{API}/tokens/{theirs}", headers=viewer)
    assert response.status_code == 404 and response.json()["error"] == "not_found"
    assert client.get(f"{API}/auth/me", headers=owner).status_code == 200


def test_an_expired_token_is_refused_and_not_listed(client: TestClient, db: Engine,
                                                    user_headers: Headers) -> None:
    headers = user_headers(Role.viewer)
    made = client.post(f"{API}/tokens", headers=headers,
                       json={"name": "brief", "expires_in_seconds": 60}).json()
    with transaction(session_factory(db)) as session:
        session.execute(update(ApiToken).where(ApiToken.id == made["token"]["id"])
                        .values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    refused = client.get(f"{API}/auth/me", headers=bearer(made["secret"]))
    assert refused.status_code == 401 and "expired" in refused.json()["message"]
    names = [t["name"] for t in client.get(f"{API}/tokens", headers=headers).json()["data"]]
    assert names == ["test"]


# --- secrets at rest ---------------------------------------------------------------------

def _everything_stored(db: Engine) -> str:
    """Every value in every table, and for SQLite the database's bytes on disk too."""
    parts: list[str] = []
    with db.connect() as conn:
        for table in Base.metadata.sorted_tables:
            parts.extend(repr(tuple(row)) for row in conn.execute(select(table)))
    if db.dialect.name == "sqlite" and db.url.database:
        for path in (Path(db.url.database), Path(db.url.database + "-wal")):
            if path.exists():
                parts.append(path.read_bytes().decode("latin-1"))
    return "\n".join(parts)


def test_secrets_are_never_stored_in_clear(client: TestClient, db: Engine,
                                           user_headers: Headers) -> None:
    owner = user_headers(Role.owner)
    secrets = [owner["Authorization"].split()[1],
               login(client, "owner-user").json()["token"],
               client.post(f"{API}/tokens", headers=owner,
                           json={"name": "api"}).json()["secret"]]
    provisioning = client.post(f"{API}/provisioning-tokens", headers=owner,
                               json={"name": "p"}).json()["secret"]
    with transaction(session_factory(db)) as session:
        _device, credential = device_service.register_device(
            session, provisioning, "d1", [], "0.1", "plumb 0.1")
    secrets += [provisioning, credential]
    stored = _everything_stored(db)
    for secret in secrets:
        body = secret.split("_", 2)[2]  # without the readable prefix
        assert body not in stored, f"a secret is stored in clear: {secret[:12]}..."
    assert PASSWORD not in stored
    with session_factory(db)() as session:
        user = session.scalars(select(User).where(User.name == "owner-user")).one()
        assert user.password_hash.startswith("$argon2id$")


# --- malformed requests ------------------------------------------------------------------

@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/auth/login", {"name": "x"}),
    ("POST", "/auth/login", {"name": "", "password": "y"}),
    ("POST", "/users", {"name": "x", "password": PASSWORD, "role": "superuser"}),
    ("POST", "/users", {"name": "x", "password": PASSWORD, "colour": "blue"}),
    ("POST", "/users", {"name": "   ", "password": PASSWORD}),
    ("PATCH", "/users/1", {"disabled": "perhaps"}),
    ("POST", "/tokens", {"name": "t", "expires_in_seconds": -5}),
    ("POST", "/tokens", {"name": "t", "role": "root"}),
    ("POST", "/tokens", ["not", "an", "object"]),
    ("POST", "/auth/password", {"new_password": "only the new one"}),
])
def test_malformed_bodies_get_the_422_envelope(client: TestClient, user_headers: Headers,
                                               method: str, path: str, body: Any) -> None:
    response = client.request(method, f"{API}{path}", headers=user_headers(Role.admin),
                              json=body)
    assert response.status_code == 422, response.text
    payload = response.json()
    assert payload["error"] == "invalid_request" and payload["message"]
    assert payload["problems"] and {"where", "problem"} <= set(payload["problems"][0])
