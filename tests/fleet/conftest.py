"""Fleet test fixtures: every test runs against SQLite and against PostgreSQL.

PostgreSQL is the server on 127.0.0.1:5432 (trust auth) that development and CI machines
run; the suite makes a database of its own there, migrates it once, and empties the
tables between tests. Set PLUMB_TEST_POSTGRES to another server URL to use that one.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from runtime.fleet import accounts
from runtime.fleet.app import create_fleet_app
from runtime.fleet.audit import SYSTEM
from runtime.fleet.db import Base, make_engine, migrate, session_factory, transaction
from runtime.fleet.models import Role
from runtime.fleet.settings import FleetSettings

POSTGRES = os.environ.get("PLUMB_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432")
PASSWORD = "correct horse battery"


def _postgres_engine() -> Iterator[Engine]:
    admin = make_engine(f"{POSTGRES}/postgres")
    name = f"plumb_fleet_test_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES} ({type(exc).__name__}); "
                    "the README's test command starts one")
    engine = make_engine(f"{POSTGRES}/{name}")
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def fleet_engine(request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """One migrated database per backend for the whole run."""
    if request.param == "sqlite":
        folder = tmp_path_factory.mktemp("fleet-sqlite")
        engine = make_engine(f"sqlite:///{folder / 'fleet.db'}")
        migrate(engine)
        yield engine
        engine.dispose()
    else:
        for engine in _postgres_engine():
            migrate(engine)
            yield engine


@pytest.fixture
def db(fleet_engine: Engine) -> Iterator[Engine]:
    """The backend's database, emptied before the test."""
    with fleet_engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    yield fleet_engine


@pytest.fixture
def settings(tmp_path: Path, db: Engine) -> FleetSettings:
    return FleetSettings(data_dir=tmp_path / "fleet", database_url=str(db.url),
                         tick_seconds=0.05)


@pytest.fixture
def app(settings: FleetSettings, db: Engine) -> Any:
    return create_fleet_app(settings, engine=db, run_controller=False)


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def sessions(db: Engine) -> Callable[[], Any]:
    """`with transaction(sessions()) as session:` for direct database work in tests."""
    factory = session_factory(db)
    return lambda: factory


def make_user(db: Engine, name: str, role: Role) -> dict[str, str]:
    """A user with `role` and the Authorization header of a fresh token."""
    with transaction(session_factory(db)) as session:
        user = accounts.create_user(session, SYSTEM, name, PASSWORD, role)
        _token, secret = accounts.issue_token(session, SYSTEM, user, "test")
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def user_headers(db: Engine) -> Callable[[Role], dict[str, str]]:
    """`user_headers(Role.owner)`: headers of a new user with that role (one per role)."""
    made: dict[Role, dict[str, str]] = {}

    def get(role: Role) -> dict[str, str]:
        if role not in made:
            made[role] = make_user(db, f"{role.value}-user", role)
        return made[role]

    return get


def session_of(db: Engine) -> Session:
    return session_factory(db)()


Headers = Callable[[Role], dict[str, str]]


@pytest.fixture
def fleet(app: Any, client: TestClient, db: Engine, settings: FleetSettings) -> Any:
    """A fleet to drive rollouts with (tests/fleet/rollout_helpers.py)."""
    from tests.fleet.rollout_helpers import Fleet

    return Fleet(app, client, db, settings)


@pytest.fixture
def member(user_headers: Headers) -> dict[str, str]:
    return user_headers(Role.member)


@pytest.fixture
def owner(user_headers: Headers) -> dict[str, str]:
    return user_headers(Role.owner)


@pytest.fixture
def live(settings: FleetSettings, db: Engine) -> Iterator[Any]:
    """The fleet server under uvicorn on a free loopback port (tests/fleet/live.py)."""
    from tests.fleet.live import Server

    with Server(settings, db) as server:
        yield server
