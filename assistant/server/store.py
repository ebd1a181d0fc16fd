"""Chat sessions, kept in SQLite so a restart loses nothing.

A session belongs to one user and holds the conversation and the current flow: the first
request builds a flow, each later one edits it. The user's message is written before the
work starts and the answer when it ends, so a crash in between leaves the question on
record (shown as unanswered) instead of losing it.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    title TEXT NOT NULL,
    flow TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_owner ON sessions(owner, updated_at);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content TEXT NOT NULL,
    outcome TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_session ON messages(session_id, id);
"""

TITLE_CHARS = 80


class SessionNotFound(LookupError):
    pass


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class ChatMessage:
    id: int
    role: str
    content: str
    outcome: dict[str, Any] | None
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "role": self.role, "content": self.content,
                "outcome": self.outcome, "created_at": self.created_at}


@dataclass
class ChatSession:
    id: str
    owner: str
    title: str
    flow: list[dict[str, Any]] | None
    created_at: str
    updated_at: str
    messages: list[ChatMessage] | None = None

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "created_at": self.created_at,
                "updated_at": self.updated_at, "has_flow": self.flow is not None}

    def to_dict(self) -> dict[str, Any]:
        return {**self.summary(), "flow": self.flow,
                "messages": [m.to_dict() for m in self.messages or []]}


class SessionStore:
    """One SQLite file; a lock serialises writers inside this process."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def create(self, owner: str, title: str = "", flow: list[dict[str, Any]] | None = None
               ) -> ChatSession:
        now = _now()
        session = ChatSession(uuid.uuid4().hex[:16], owner, _title(title) or "New chat",
                              flow, now, now, [])
        with self._lock:
            self._db.execute(
                "INSERT INTO sessions (id, owner, title, flow, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (session.id, owner, session.title, _dump(flow), now, now))
        return session

    def recent(self, owner: str, limit: int = 100, offset: int = 0) -> list[ChatSession]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, owner, title, flow, created_at, updated_at FROM sessions "
                "WHERE owner = ? ORDER BY updated_at DESC, id LIMIT ? OFFSET ?",
                (owner, limit, offset)).fetchall()
        return [_session(row) for row in rows]

    def get(self, owner: str, session_id: str) -> ChatSession:
        with self._lock:
            row = self._db.execute(
                "SELECT id, owner, title, flow, created_at, updated_at FROM sessions "
                "WHERE id = ? AND owner = ?", (session_id, owner)).fetchone()
            if row is None:
                raise SessionNotFound(session_id)
            messages = self._db.execute(
                "SELECT id, role, content, outcome, created_at FROM messages "
                "WHERE session_id = ? ORDER BY id", (session_id,)).fetchall()
        session = _session(row)
        session.messages = [ChatMessage(m[0], m[1], m[2], _load(m[3]), m[4])
                            for m in messages]
        return session

    def add_message(self, owner: str, session_id: str, role: str, content: str,
                    outcome: dict[str, Any] | None = None) -> ChatMessage:
        """Append a message. An assistant answer that carries a flow makes it the
        session's current flow; the first user message names an untitled session."""
        now = _now()
        with self._lock:
            row = self._db.execute("SELECT title FROM sessions WHERE id = ? AND owner = ?",
                                   (session_id, owner)).fetchone()
            if row is None:
                raise SessionNotFound(session_id)
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cursor = self._db.execute(
                    "INSERT INTO messages (session_id, role, content, outcome, created_at) "
                    "VALUES (?, ?, ?, ?, ?)", (session_id, role, content, _dump(outcome), now))
                message_id = int(cursor.lastrowid or 0)
                self._db.execute("UPDATE sessions SET updated_at = ? WHERE id = ?",
                                 (now, session_id))
                if role == "user" and row[0] == "New chat":
                    self._db.execute("UPDATE sessions SET title = ? WHERE id = ?",
                                     (_title(content), session_id))
                if outcome is not None and outcome.get("flow") is not None:
                    self._db.execute("UPDATE sessions SET flow = ? WHERE id = ?",
                                     (_dump(outcome["flow"]), session_id))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return ChatMessage(message_id, role, content, outcome, now)

    def set_flow(self, owner: str, session_id: str, flow: list[dict[str, Any]] | None) -> None:
        with self._lock:
            cursor = self._db.execute(
                "UPDATE sessions SET flow = ?, updated_at = ? WHERE id = ? AND owner = ?",
                (_dump(flow), _now(), session_id, owner))
        if cursor.rowcount == 0:
            raise SessionNotFound(session_id)

    def delete(self, owner: str, session_id: str) -> None:
        with self._lock:
            cursor = self._db.execute("DELETE FROM sessions WHERE id = ? AND owner = ?",
                                      (session_id, owner))
        if cursor.rowcount == 0:
            raise SessionNotFound(session_id)


def _title(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_CHARS else line[:TITLE_CHARS - 1].rstrip() + "…"


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _session(row: tuple[Any, ...]) -> ChatSession:
    return ChatSession(row[0], row[1], row[2], _load(row[3]), row[4], row[5])
