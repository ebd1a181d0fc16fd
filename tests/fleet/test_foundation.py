"""The fleet's foundation: migrations on both databases, the error envelope, tokens and
roles, and the audit chain's append."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from sqlalchemy import Engine, inspect, select

from runtime.fleet import audit
from runtime.fleet.audit import SYSTEM, row_hash
from runtime.fleet.auth import (
    PERMISSIONS,
    CallerDep,
    Permission,
    check_password,
    hash_password,
)
from runtime.fleet.db import Base, session_factory, transaction
from runtime.fleet.models import AuditEvent, Role


def test_the_migrations_make_every_table_the_models_declare(db: Engine) -> None:
    tables = set(inspect(db).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_an_unauthenticated_call_gets_the_error_envelope(client: TestClient) -> None:
    response = client.get("/api/v1/nope")
    assert response.status_code == 404
    assert set(response.json()) >= {"error", "message"}


def test_audit_rows_chain_in_order(db: Engine) -> None:
    with transaction(session_factory(db)) as session:
        audit.record(session, SYSTEM, "thing.one", "thing", 1, {"a": 1})
        audit.record(session, SYSTEM, "thing.two", "thing", 2, {"b": [1, 2.5, "x"]})
    with session_factory(db)() as session:
        rows = session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
    assert [r.seq for r in rows] == [1, 2]
    assert rows[0].prev_hash == audit.GENESIS and rows[1].prev_hash == rows[0].hash
    for row in rows:  # what was stored still hashes to the stored hash
        assert row.hash == row_hash(row.seq, row.at, row.actor_kind, row.actor, row.source,
                                    row.action, row.target_kind, row.target_id, row.details,
                                    row.prev_hash)


def test_passwords_are_argon2_and_checked() -> None:
    stored = hash_password("a long enough secret")
    assert stored.startswith("$argon2id$")
    assert check_password(stored, "a long enough secret")
    assert not check_password(stored, "a long enough secreT")
    assert not check_password("not a hash", "x")


def test_the_permission_table_orders_roles() -> None:
    assert PERMISSIONS[Permission.read] is Role.viewer
    assert PERMISSIONS[Permission.manage_users] is Role.admin
    assert Role.owner.at_least(Role.member) and not Role.member.at_least(Role.owner)


@pytest.mark.parametrize("header", [{}, {"Authorization": "Bearer plumb_u_wrong"},
                                    {"Authorization": "Basic abc"}])
def test_wrong_tokens_are_refused(app: Any, header: dict[str, str]) -> None:
    router = APIRouter()

    @router.get("/api/v1/whoami-test")
    def whoami(caller: CallerDep) -> dict[str, str]:
        return {"name": caller.user.name}

    app.include_router(router)
    with TestClient(app) as client:
        response = client.get("/api/v1/whoami-test", headers=header)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"
