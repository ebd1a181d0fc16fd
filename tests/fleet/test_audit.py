"""The audit log: the chain finds edited and deleted rows, the two auditor questions,
export, filters and pages, and who may do what."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, select, text, update

from runtime.fleet import audit, audit_queries
from runtime.fleet.audit import SYSTEM, Actor
from runtime.fleet.db import session_factory, transaction
from runtime.fleet.models import ActorKind, AuditEvent, Role

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def write(db: Engine, *events: tuple[Any, ...]) -> None:
    """(actor, action, target_kind, target_id, details, minutes) rows, in order."""
    with transaction(session_factory(db)) as session:
        for actor, action, kind, target, details, minutes in events:
            audit.record(session, actor, action, kind, target, details, at=at(minutes))


def device(name: str) -> Actor:
    return Actor(ActorKind.device, name)


def changed(dev: str, old: str | None, new: str, minutes: float) -> tuple[Any, ...]:
    return (device(dev), "device.snapshot_changed", "device", dev,
            {"from": old, "to": new}, minutes)


def verify(db: Engine) -> tuple[int, list[audit.Problem]]:
    with session_factory(db)() as session:
        return audit.verify(session)


def test_an_untouched_chain_verifies(db: Engine) -> None:
    write(db, *[(SYSTEM, "thing.done", "thing", i, {"i": i, "f": i / 3}, i)
                for i in range(30)])
    assert verify(db) == (30, [])


def test_an_edited_row_is_found(db: Engine) -> None:
    write(db, *[(SYSTEM, "thing.done", "thing", i, {"i": i}, i) for i in range(5)])
    with db.begin() as conn:
        conn.execute(update(AuditEvent).where(AuditEvent.seq == 3).values(actor="mallory"))
    checked, problems = verify(db)
    assert checked == 5
    assert [(p.seq, "changed" in p.problem) for p in problems] == [(3, True)]


def test_an_edited_row_with_a_recomputed_hash_breaks_the_next_link(db: Engine) -> None:
    write(db, *[(SYSTEM, "thing.done", "thing", i, {"i": i}, i) for i in range(5)])
    with session_factory(db)() as session:
        row = session.get(AuditEvent, 3)
        assert row is not None
        forged = audit.row_hash(row.seq, row.at, row.actor_kind, "mallory", row.source,
                                row.action, row.target_kind, row.target_id, row.details,
                                row.prev_hash)
    with db.begin() as conn:
        conn.execute(update(AuditEvent).where(AuditEvent.seq == 3)
                     .values(actor="mallory", hash=forged))
    _, problems = verify(db)
    assert [p.seq for p in problems] == [4]
    assert "link" in problems[0].problem


def test_a_deleted_row_is_found(db: Engine) -> None:
    write(db, *[(SYSTEM, "thing.done", "thing", i, {"i": i}, i) for i in range(6)])
    with db.begin() as conn:
        conn.execute(delete(AuditEvent).where(AuditEvent.seq == 2))
    checked, problems = verify(db)
    assert checked == 5
    assert {p.seq for p in problems} == {3}
    assert any("missing" in p.problem for p in problems)


def test_a_cut_off_tail_shows_in_the_head(db: Engine) -> None:
    write(db, *[(SYSTEM, "thing.done", "thing", i, {}, i) for i in range(4)])
    with session_factory(db)() as session:
        before = audit.head(session)
    with db.begin() as conn:
        conn.execute(delete(AuditEvent).where(AuditEvent.seq == 4))
    with session_factory(db)() as session:
        assert audit.verify(session)[1] == []  # the rest is a valid, shorter chain
        assert audit.head(session) != before and before is not None and before[0] == 4


def test_appends_from_many_threads_make_one_chain(db: Engine) -> None:
    factory = session_factory(db)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(10):
                with transaction(factory) as session:
                    audit.record(session, SYSTEM, "thing.done", "thing", f"{n}-{i}")
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    if db.dialect.name == "sqlite":
        # SQLite has one writer at a time: a busy database waits (timeout) rather than fail.
        pass
    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert verify(db) == (40, [])


def test_which_snapshot_ran_on_a_device_at_a_moment(db: Engine) -> None:
    write(db, changed("d1", None, "aaa", 10), changed("d2", None, "aaa", 11),
          changed("d1", "aaa", "bbb", 20), changed("d1", "bbb", "aaa", 30))
    with session_factory(db)() as session:
        assert audit_queries.snapshot_at(session, "d1", at(5)) is None
        assert audit_queries.snapshot_at(session, "d1", at(10)) == "aaa"
        assert audit_queries.snapshot_at(session, "d1", at(25)) == "bbb"
        assert audit_queries.snapshot_at(session, "d1", at(31)) == "aaa"
        assert audit_queries.snapshot_at(session, "d2", at(25)) == "aaa"
        assert audit_queries.snapshot_at(session, "d3", at(25)) is None


def test_which_devices_ran_a_snapshot_in_a_period(db: Engine) -> None:
    write(db, changed("d1", None, "aaa", 10), changed("d2", None, "aaa", 11),
          changed("d3", None, "ccc", 12), changed("d1", "aaa", "bbb", 20),
          changed("d2", "aaa", "bbb", 40), changed("d1", "bbb", "aaa", 50))
    with session_factory(db)() as session:
        runs = audit_queries.devices_running(session, "bbb", at(25), at(45))
        assert [(r.device_id, r.since, r.until) for r in runs] == [
            ("d1", at(20), at(50)), ("d2", at(40), None)]
        early = audit_queries.devices_running(session, "aaa", at(0), at(15))
        assert [(r.device_id, r.until) for r in early] == [("d1", at(20)), ("d2", at(40))]
        assert audit_queries.devices_running(session, "ccc", at(0), at(11)) == []
        with pytest.raises(ValueError):
            audit_queries.devices_running(session, "aaa", at(10), at(0))


def test_list_filters_and_pages(client: TestClient, db: Engine,
                                user_headers: Callable[[Role], dict[str, str]]) -> None:
    viewer = user_headers(Role.viewer)  # its creation writes rows too
    write(db, *[(SYSTEM, f"rollout.{'paused' if i % 2 else 'resumed'}", "rollout", i, {}, i)
                for i in range(7)], changed("d1", None, "aaa", 8))
    seen: list[int] = []
    after = 0
    while True:
        page = client.get("/api/v1/audit", params={"action": "rollout.", "after": after,
                                                   "limit": 3}, headers=viewer).json()
        seen += [int(e["target_id"]) for e in page["events"]]
        if page["next_after"] is None:
            break
        after = page["next_after"]
    assert seen == list(range(7))
    # Newest first, paging back from the present.
    back: list[int] = []
    before = 10**9
    while True:
        page = client.get("/api/v1/audit", params={"action": "rollout.", "before": before,
                                                   "limit": 3}, headers=viewer).json()
        back += [int(e["target_id"]) for e in page["events"]]
        assert page["next_after"] is None
        if page["next_before"] is None:
            break
        before = page["next_before"]
    assert back == list(range(6, -1, -1))
    exact = client.get("/api/v1/audit", params={"action": "rollout.paused"},
                       headers=viewer).json()
    assert [e["target_id"] for e in exact["events"]] == ["1", "3", "5"]
    by_actor = client.get("/api/v1/audit", params={"actor_kind": "device"},
                          headers=viewer).json()
    assert [e["action"] for e in by_actor["events"]] == ["device.snapshot_changed"]
    window = client.get("/api/v1/audit", params={"since": at(2).isoformat(),
                                                 "until": at(4).isoformat(),
                                                 "action": "rollout."}, headers=viewer).json()
    assert [e["target_id"] for e in window["events"]] == ["2", "3", "4"]


def test_a_moment_without_a_time_zone_is_refused(client: TestClient,
                                                 user_headers: Callable[[Role], Any]) -> None:
    response = client.get("/api/v1/audit/devices/d1/snapshot-at",
                          params={"at": "2026-01-01T00:00:00"}, headers=user_headers(Role.viewer))
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"


def test_the_questions_over_http(client: TestClient, db: Engine,
                                 user_headers: Callable[[Role], Any]) -> None:
    write(db, changed("d1", None, "aaa", 10), changed("d1", "aaa", "bbb", 20))
    viewer = user_headers(Role.viewer)
    answer = client.get("/api/v1/audit/devices/d1/snapshot-at",
                        params={"at": at(15).isoformat()}, headers=viewer).json()
    assert answer["snapshot_id"] == "aaa"
    runs = client.get("/api/v1/audit/snapshots/bbb/devices",
                      params={"start": at(0).isoformat(), "end": at(60).isoformat()},
                      headers=viewer).json()
    assert [(r["device_id"], r["until"]) for r in runs] == [("d1", None)]
    backwards = client.get("/api/v1/audit/snapshots/bbb/devices",
                           params={"start": at(9).isoformat(), "end": at(1).isoformat()},
                           headers=viewer)
    assert backwards.status_code == 422


def test_export_jsonl_and_csv(client: TestClient, db: Engine,
                              user_headers: Callable[[Role], Any]) -> None:
    owner = user_headers(Role.owner)
    write(db, (SYSTEM, "thing.done", "thing", "x", {"text": 'comma, "quote"\nline'}, 1))
    lines = client.get("/api/v1/audit/export", params={"format": "jsonl"},
                       headers=owner).text.splitlines()
    rows = [json.loads(line) for line in lines]
    assert rows[-1]["details"] == {"text": 'comma, "quote"\nline'}
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
    table = list(csv.DictReader(io.StringIO(client.get(
        "/api/v1/audit/export", params={"format": "csv", "action": "thing.done"},
        headers=owner).text)))
    assert len(table) == 1
    assert json.loads(table[0]["details"]) == {"text": 'comma, "quote"\nline'}
    assert table[0]["hash"] == rows[-1]["hash"]


def test_verify_over_http_reports_the_head_and_problems(client: TestClient, db: Engine,
                                                        user_headers: Callable[[Role], Any]
                                                        ) -> None:
    owner = user_headers(Role.owner)
    result = client.get("/api/v1/audit/verify", headers=owner).json()
    assert result["ok"] and result["rows"] == result["head_seq"] and result["rows"] >= 1
    with db.begin() as conn:
        conn.execute(text("UPDATE audit_events SET action = 'user.deleted' WHERE seq = 1"))
    broken = client.get("/api/v1/audit/verify", headers=owner).json()
    assert not broken["ok"] and broken["problems"][0]["seq"] == 1


@pytest.mark.parametrize(("path", "params", "lowest"), [
    ("/api/v1/audit", {}, Role.viewer),
    ("/api/v1/audit/devices/d1/snapshot-at", {"at": "2026-01-01T00:00:00Z"}, Role.viewer),
    ("/api/v1/audit/snapshots/aaa/devices",
     {"start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z"}, Role.viewer),
    ("/api/v1/audit/verify", {}, Role.owner),
    ("/api/v1/audit/export", {}, Role.owner),
])
def test_roles(client: TestClient, user_headers: Callable[[Role], Any], path: str,
               params: dict[str, str], lowest: Role) -> None:
    assert client.get(path, params=params).status_code == 401
    for role in Role:
        response = client.get(path, params=params, headers=user_headers(role))
        if role.at_least(lowest):
            assert response.status_code == 200, (role, response.text)
        else:
            assert response.status_code == 403, role
            assert response.json()["error"] == "forbidden"


def test_rows_are_only_ever_added(db: Engine) -> None:
    """The module offers no way to change or remove a row (the API has no such route)."""
    assert not [name for name in dir(audit) if name.startswith(("delete", "update", "edit"))]
    write(db, (SYSTEM, "thing.done", "thing", 1, {}, 1))
    with session_factory(db)() as session:
        assert session.scalars(select(AuditEvent)).one().seq == 1
