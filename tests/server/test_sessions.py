"""Chat sessions: a conversation builds a flow, then edits it; everything survives a
restart of the server; one user's sessions are not another's."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from assistant.server.app import create_app
from assistant.server.fake_model import PassThroughModel
from tests.server.conftest import REQUEST, make_settings
from tests.server.test_api import events_of

API = "/api/v1"


def test_conversation_builds_then_edits_and_survives_a_restart(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with TestClient(create_app(settings, model=PassThroughModel())) as client:
        session = client.post(f"{API}/sessions", json={}).json()
        assert session["title"] == "New chat" and session["messages"] == []
        sid = session["id"]
        first = client.post(f"{API}/sessions/{sid}/messages", json={"content": REQUEST}).json()
        assert first["assistant_message"]["outcome"]["outcome"] == "flow"
        built = first["assistant_message"]["outcome"]["flow"]
        second = client.post(f"{API}/sessions/{sid}/messages",
                             json={"content": "poll every 2 s instead"}).json()
        edited = second["assistant_message"]["outcome"]
        assert edited["outcome"] == "flow" and edited["changes"]
        assert {n["id"] for n in edited["flow"]} == {n["id"] for n in built}
        listed = client.get(f"{API}/sessions").json()
        assert [s["id"] for s in listed] == [sid]
        assert listed[0]["title"].startswith("every 5 s read holding register")

    # A new server on the same data folder: nothing lost.
    with TestClient(create_app(settings, model=PassThroughModel())) as client:
        again = client.get(f"{API}/sessions/{sid}").json()
        assert [m["role"] for m in again["messages"]] == ["user", "assistant"] * 2
        assert again["flow"] == edited["flow"]
        assert client.delete(f"{API}/sessions/{sid}").status_code == 204
        assert client.get(f"{API}/sessions/{sid}").status_code == 404
        assert client.get(f"{API}/sessions").json() == []


def test_streamed_turn_stores_both_messages(client: TestClient) -> None:
    sid = client.post(f"{API}/sessions", json={"title": "line 1"}).json()["id"]
    answer = client.post(f"{API}/sessions/{sid}/messages",
                         json={"content": REQUEST, "stream": True})
    events = events_of(answer.text)
    assert events[-1][0] == "done" and events[-2][0] == "result"
    turn = events[-2][1]
    assert turn["session_id"] == sid
    stored = client.get(f"{API}/sessions/{sid}").json()
    assert [m["id"] for m in stored["messages"]] == [turn["user_message"]["id"],
                                                     turn["assistant_message"]["id"]]
    assert stored["title"] == "line 1"  # a given title is kept


def test_session_can_start_from_a_flow_and_be_reset(client: TestClient) -> None:
    flow = client.post(f"{API}/generate", json={"request": REQUEST}).json()["flow"]
    sid = client.post(f"{API}/sessions", json={"flow": flow}).json()["id"]
    turn = client.post(f"{API}/sessions/{sid}/messages",
                       json={"content": "poll every 10 s instead"}).json()
    assert turn["assistant_message"]["outcome"]["changes"]
    cleared = client.patch(f"{API}/sessions/{sid}", json={"flow": None}).json()
    assert cleared["flow"] is None and len(cleared["messages"]) == 2


def test_other_users_cannot_see_a_session(client: TestClient) -> None:
    sid = client.post(f"{API}/sessions", json={}).json()["id"]
    # Make a second user and log in as them: the local user's session is not theirs.
    made = client.post(f"{API}/users", json={"name": "ana", "password": "a long password 1",
                                             "role": "member"})
    assert made.status_code == 201, made.text
    token = client.post(f"{API}/auth/login", json={"name": "ana",
                                                   "password": "a long password 1"}
                        ).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get(f"{API}/sessions/{sid}", headers=headers).status_code == 404
    assert client.get(f"{API}/sessions", headers=headers).json() == []
    assert client.post(f"{API}/sessions/{sid}/messages", headers=headers,
                       json={"content": REQUEST}).status_code == 404
    assert client.get(f"{API}/sessions/{sid}").status_code == 200
