"""/v1: the OpenAI-compatible routes, driven by the official `openai` client (streaming and
not) and by raw HTTP for the error shapes, the queue limit and a client that leaves."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from fastapi.testclient import TestClient

from assistant.server import events
from assistant.server.app import create_app
from assistant.server.fake_model import PassThroughModel
from assistant.server.routers import openai as openai_routes
from flowschema.validator import validate_flow
from tests.server.conftest import (
    MODEL_REQUEST,
    REQUEST,
    LiveServer,
    Uvicorn,
    free_port,
    make_settings,
)

API = "/api/v1"
FENCE = re.compile(r"```json\n(.*?)\n```", re.DOTALL)


def flow_in(content: str) -> list[dict[str, Any]]:
    blocks = FENCE.findall(content)
    assert blocks, content
    flow = json.loads(blocks[-1])
    assert isinstance(flow, list)
    return flow


def assert_openai_error(response: Any, status: int) -> dict[str, Any]:
    """`response` from httpx or from the TestClient (which uses httpx2)."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert isinstance(error, dict)
    assert set(error) >= {"message", "type", "code"}
    assert error["message"]
    return error


def chat(client: openai.OpenAI, messages: list[dict[str, Any]]) -> str:
    answer = client.chat.completions.create(model="plumb", messages=messages)  # type: ignore[arg-type]
    content = answer.choices[0].message.content
    assert content is not None
    return content


@pytest.fixture
def sdk(live_server: LiveServer) -> openai.OpenAI:
    # Chat clients always send some key; local mode ignores one that is not Plumb's.
    return openai.OpenAI(base_url=f"{live_server.url}/v1", api_key="sk-anything",
                         max_retries=0, timeout=60)


def test_models_lists_the_serving_model_and_the_alias(sdk: openai.OpenAI,
                                                      client: TestClient) -> None:
    ids = [m.id for m in sdk.models.list()]
    assert ids == ["fake", "plumb"]
    listed = client.get("/v1/models").json()
    assert listed["object"] == "list"
    assert all(m["object"] == "model" and m["owned_by"] == "plumb"
               and isinstance(m["created"], int) for m in listed["data"])
    assert sdk.models.retrieve("plumb").id == "plumb"
    assert_openai_error(client.get("/v1/models/gpt-4o"), 404)


def test_chat_completion_answers_with_a_valid_flow(sdk: openai.OpenAI) -> None:
    answer = sdk.chat.completions.create(
        model="whatever-the-client-has", temperature=0.2, max_tokens=50,
        messages=[{"role": "system", "content": "You are helpful."},
                  {"role": "user", "content": REQUEST}])
    assert answer.object == "chat.completion"
    assert answer.model == "fake"
    choice = answer.choices[0]
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    content = choice.message.content or ""
    flow = flow_in(content)
    assert not validate_flow(flow).errors
    assert content.split("\n")[0]  # the explanation comes first
    assert answer.usage is not None and answer.usage.prompt_tokens > 0
    assert answer.usage.total_tokens == (answer.usage.prompt_tokens
                                         + answer.usage.completion_tokens)


def test_streaming_sends_progress_then_the_same_answer(sdk: openai.OpenAI) -> None:
    messages: list[Any] = [{"role": "user", "content": [{"type": "text", "text": REQUEST}]}]
    stream = sdk.chat.completions.create(model="plumb", messages=messages, stream=True,
                                         stream_options={"include_usage": True})
    chunks = list(stream)
    with_choices = [c for c in chunks if c.choices]
    assert with_choices[0].choices[0].delta.role == "assistant"
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)
    reasoning = "".join((c.choices[0].delta.model_extra or {}).get("reasoning_content") or ""
                        for c in with_choices)
    assert "reading the request" in reasoning
    content = "".join(c.choices[0].delta.content or "" for c in with_choices)
    assert with_choices[-1].choices[0].finish_reason == "stop"
    assert [c.choices[0].finish_reason for c in with_choices[:-1]] == [None] * (
        len(with_choices) - 1)
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens > 0
    flow = flow_in(content)
    assert not validate_flow(flow).errors
    # The answer is the one a non-streaming request gets (the flow ids are random).
    plain = chat(sdk, [{"role": "user", "content": REQUEST}])
    assert content.split("```json")[0] == plain.split("```json")[0]


def test_raw_stream_ends_with_done(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        response = http.post("/v1/chat/completions", json={
            "model": "plumb", "stream": True, "some_future_field": {"x": 1},
            "messages": [{"role": "user", "content": REQUEST}]})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [block for block in response.text.split("\n\n") if block.strip()]
    assert events[-1] == "data: [DONE]"
    first = json.loads(events[0].removeprefix("data: "))
    assert first["choices"] == [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                 "finish_reason": None}]
    last = json.loads(events[-2].removeprefix("data: "))
    assert last["choices"][0]["finish_reason"] == "stop" and last["choices"][0]["delta"] == {}


def test_a_later_turn_edits_the_flow_of_the_conversation(sdk: openai.OpenAI) -> None:
    first = chat(sdk, [{"role": "user", "content": REQUEST}])
    before = flow_in(first)
    second = chat(sdk, [{"role": "user", "content": REQUEST},
                        {"role": "assistant", "content": first},
                        {"role": "user", "content": "poll every 10 s instead"}])
    assert "Changes:" in second
    after = flow_in(second)
    assert not validate_flow(after).errors
    assert {n["id"] for n in before} & {n["id"] for n in after}  # untouched nodes kept


def test_a_flow_in_the_user_message_is_edited_or_explained(sdk: openai.OpenAI) -> None:
    flow = flow_in(chat(sdk, [{"role": "user", "content": REQUEST}]))
    block = "```json\n" + json.dumps(flow) + "\n```"
    edited = chat(sdk, [{"role": "user",
                         "content": f"poll every 10 s instead\n\n{block}"}])
    assert "Changes:" in edited
    assert {n["id"] for n in flow} & {n["id"] for n in flow_in(edited)}
    explained = chat(sdk, [{"role": "user", "content": block}])
    assert "```json" not in explained and explained.strip()


def test_bad_bodies_get_openai_errors(client: TestClient) -> None:
    url = "/v1/chat/completions"
    no_user = client.post(url, json={"model": "plumb", "messages": [
        {"role": "system", "content": "hello"}]})
    assert assert_openai_error(no_user, 400)["type"] == "invalid_request_error"
    bad_role = client.post(url, json={"messages": [{"role": "wizard", "content": "x"}]})
    assert assert_openai_error(bad_role, 400)["param"] == "messages[0].role"
    assert_openai_error(client.post(url, json={"model": "plumb"}), 400)
    assert_openai_error(client.post(url, json={"messages": []}), 400)
    assert_openai_error(client.post(url, content=b"not json",
                                    headers={"content-type": "application/json"}), 400)
    image = client.post(url, json={"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "http://x/y.png"}}]}]})
    assert "text only" in assert_openai_error(image, 400)["message"]
    empty = client.post(url, json={"messages": [{"role": "user", "content": "  "}]})
    assert_openai_error(empty, 400)
    assert_openai_error(client.post(url, json={"messages": [
        {"role": "user", "content": "x"}], "n": 2}), 400)
    assert_openai_error(client.get("/v1/completions"), 404)
    assert_openai_error(client.get(url), 404)


def test_token_mode_needs_a_user_token(tmp_path: Path) -> None:
    from runtime.fleet import accounts
    from runtime.fleet.audit import SYSTEM
    from runtime.fleet.models import Role

    app = create_app(make_settings(tmp_path, auth="token"), model=PassThroughModel())
    port = free_port()
    with Uvicorn(app, port):
        base = f"http://127.0.0.1:{port}/v1"
        body = {"model": "plumb", "messages": [{"role": "user", "content": REQUEST}]}
        with httpx.Client(base_url=base, timeout=30) as http:
            error = assert_openai_error(http.post("/chat/completions", json=body), 401)
            assert error["code"] == "invalid_api_key"
            bogus = http.get("/models", headers={"Authorization": "Bearer sk-anything"})
            assert_openai_error(bogus, 401)
            assert bogus.headers["www-authenticate"] == "Bearer"
        refused = openai.OpenAI(base_url=base, api_key="plumb_u_not-a-token", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            refused.models.list()
        with app.state.sessions() as db:
            viewer = accounts.create_user(db, SYSTEM, "vic", "a long password 1", Role.viewer)
            _token, secret = accounts.issue_token(db, SYSTEM, viewer, "chat")
            db.commit()
        sdk = openai.OpenAI(base_url=base, api_key=secret, max_retries=0, timeout=60)
        assert not validate_flow(flow_in(chat(sdk, body["messages"]))).errors  # type: ignore[arg-type]


def _live(tmp_path: Path, model: PassThroughModel, **settings: Any) -> tuple[Uvicorn, str]:
    app = create_app(make_settings(tmp_path, **settings), model=model)
    port = free_port()
    return Uvicorn(app, port), f"http://127.0.0.1:{port}"


def _wait_running(http: httpx.Client) -> None:
    deadline = time.monotonic() + 10
    while not http.get(f"{API}/status").json()["queue"]["running"]:
        assert time.monotonic() < deadline, "the first job never started"
        time.sleep(0.02)


def test_full_queue_answers_429_in_openai_shape(tmp_path: Path) -> None:
    server, url = _live(tmp_path, PassThroughModel(delay=0.2), queue_limit=1)
    body = {"model": "plumb", "messages": [{"role": "user", "content": MODEL_REQUEST}]}
    with server, httpx.Client(base_url=url, timeout=30) as http:
        done: list[int] = []
        slow = threading.Thread(target=lambda: done.append(
            http.post("/v1/chat/completions", json=body).status_code))
        slow.start()
        _wait_running(http)
        refused = http.post("/v1/chat/completions", json={**body, "stream": True})
        error = assert_openai_error(refused, 429)
        assert error["code"] == "rate_limit_exceeded"
        assert refused.headers["retry-after"] == "5"
        sdk = openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)
        with pytest.raises(openai.RateLimitError):
            sdk.chat.completions.create(model="plumb", messages=body["messages"])  # type: ignore[arg-type]
        slow.join()
        assert done == [200]


def test_client_that_leaves_a_stream_stops_its_job(tmp_path: Path) -> None:
    server, url = _live(tmp_path, PassThroughModel(delay=0.5))
    body = {"model": "plumb", "stream": True,
            "messages": [{"role": "user", "content": MODEL_REQUEST}]}
    with server, httpx.Client(base_url=url, timeout=30) as http:
        with http.stream("POST", "/v1/chat/completions", json=body) as stream:
            for line in stream.iter_lines():
                if "writing code" in line:
                    break
        started = time.monotonic()
        while http.get(f"{API}/status").json()["queue"]["running"]:
            assert time.monotonic() - started < 3, "the job went on after the client left"
            time.sleep(0.05)
        assert http.get(f"{API}/status").json()["queue"]["waiting"] == 0


def test_a_quiet_stream_stays_open_with_keepalives(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events, "KEEPALIVE_SECONDS", 0.05)
    server, url = _live(tmp_path, PassThroughModel(delay=0.1))
    body = {"model": "plumb", "stream": True,
            "messages": [{"role": "user", "content": MODEL_REQUEST}]}
    with server, httpx.Client(base_url=url, timeout=30) as http:
        text = http.post("/v1/chat/completions", json=body).text
    assert ": still working" in text
    assert text.rstrip().endswith("data: [DONE]")
    assert '"finish_reason":"stop"' in text


def test_find_flow_reads_fenced_flows_only() -> None:
    flow = [{"id": "n1", "type": "comment", "info": "Docs:\n```js\nreturn msg;\n```\n"},
            {"id": "n2", "type": "debug"}]
    pretty = "```json\n" + json.dumps(flow, indent=2) + "\n```"
    found, rest = openai_routes.find_flow(f"add a debug node\n\n{pretty}\n")
    assert found == flow and rest == "add a debug node"
    compact = "```\n" + json.dumps(flow) + "\n```"
    assert openai_routes.find_flow(f"before\n{compact}\nafter")[0] == flow
    payload = '```json\n{"temp": 21.5}\n```'
    assert openai_routes.find_flow(f"publish {payload}") == (None, f"publish {payload}")
    code = "```js\n" + json.dumps(flow) + "\n```"
    assert openai_routes.find_flow(code)[0] is None
    other = [{"id": "x", "type": "inject"}]
    both = f"{pretty}\nand\n```json\n{json.dumps(other)}\n```"
    assert openai_routes.find_flow(both)[0] == other  # the last one holds


def test_render_outcome_for_questions_and_refusals() -> None:
    question = openai_routes.render_outcome({
        "outcome": "clarify", "message": "Which PLC address?", "flow": None,
        "choices": ["192.168.1.10", "192.168.1.11"]})
    assert question.startswith("Which PLC address?")
    assert "- 192.168.1.10" in question and "```" not in question
    refusal = openai_routes.render_outcome({"outcome": "refuse", "message": "Not a flow.",
                                            "flow": None})
    assert refusal == "Not a flow."
