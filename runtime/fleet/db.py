"""The fleet's database: engine, sessions, migrations, and the column types every table
shares.

SQLite (the default) gets foreign keys switched on and WAL journaling, so readers never
wait for the rollout controller's writes. The schema is made and upgraded by the alembic
migrations in `runtime/fleet/migrations` (never by `create_all`), so a database made by an
older Plumb is brought up to date the same way on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, create_engine, event
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

MIGRATIONS = Path(__file__).with_name("migrations")
WRITER_WAIT = 60.0  # seconds a transaction waits for SQLite's one writer slot


class Base(DeclarativeBase):
    """Every fleet table."""


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A moment in UTC: stored without a zone (SQLite has none), read back aware."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None,
                           dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("a fleet timestamp must carry its time zone")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None,
                             dialect: Dialect) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.UTC)


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite files get their folder made and sane pragmas."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # The driver's own transaction handling is switched off (isolation_level=None) so
        # that every transaction starts with BEGIN IMMEDIATE: it waits for the write lock
        # up front. With SQLite's default deferred BEGIN, two transactions that read and
        # then write (an audit append reads the chain's head) could both read the same
        # state, and one would fail instead of waiting.
        # One transaction at a time, handed over by a lock in this process: SQLite's own
        # busy handler polls with growing sleeps, which under a few hundred check-ins a
        # second makes waiting writers time out; a lock queues them. (Another process on the
        # same file still meets SQLite's busy timeout.) The pool is as large as the API's
        # thread pool, so threads wait for the lock, never for a connection.
        in_memory = not path or path == ":memory:"
        pool: dict[str, Any] = {} if in_memory else {"pool_size": 20, "max_overflow": 30}
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30,
                                                  "isolation_level": None}, **pool)
        writer = threading.Lock()

        def _release(connection: Any) -> None:
            if connection.info.pop("plumb_writer", False):
                writer.release()

        @event.listens_for(engine, "connect")
        def _pragmas(connection: Any, _record: Any) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection: Any) -> None:
            if not writer.acquire(timeout=WRITER_WAIT):
                raise TimeoutError(f"the database was busy for {WRITER_WAIT:g} s")
            connection.info["plumb_writer"] = True
            try:
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                _release(connection)
                raise

        # The lock goes with the transaction's end, whichever way it ends.
        event.listen(engine, "commit", _release)
        event.listen(engine, "rollback", _release)

        @event.listens_for(engine, "checkin")
        def _returned(dbapi_connection: Any, record: Any) -> None:
            if record.info.pop("plumb_writer", False):
                writer.release()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=40)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (a fresh database gets every table)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work is committed at the end, or rolled back on any error."""
    with factory() as session, session.begin():
        yield session
