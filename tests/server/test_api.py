"""The assistant's REST routes, in-process with the fake model: generate, edit, explain,
validate, models, status, and the one error envelope."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from flowschema.validator import validate_flow
from tests.server.conftest import MODEL_REQUEST, REQUEST

API = "/api/v1"


def events_of(text: str) -> list[tuple[str, dict[str, Any]]]:
    """Parse a text/event-stream body into (event, data) pairs (comments skipped)."""
    out = []
    for block in text.strip().split("\n\n"):
        name, data = "", ""
        for line in block.splitlines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data += line[6:]
        if name:
            out.append((name, json.loads(data)))
    return out


def test_generate_returns_a_valid_flow_with_findings_and_explanation(client: TestClient) -> None:
    answer = client.post(f"{API}/generate", json={"request": REQUEST})
    assert answer.status_code == 200
    body = answer.json()
    assert body["outcome"] == "flow"
    assert validate_flow(body["flow"]).valid
    assert "192.168.1.10" in body["message"]
    assert {f["severity"] for f in body["findings"]} <= {"warning", "info"}
    types = {n["type"] for n in body["flow"]}
    assert {"modbus-read", "mqtt out"} <= types


def test_generate_streams_steps_then_result_then_done(client: TestClient) -> None:
    answer = client.post(f"{API}/generate", json={"request": MODEL_REQUEST, "stream": True})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    events = events_of(answer.text)
    names = [name for name, _ in events]
    assert names[0] == "started" and names[-1] == "done"
    assert names[-2] == "result"
    steps = [data["name"] for name, data in events if name == "step"]
    assert steps[:2] == ["reading the request", "planning"]
    assert "validating" in steps
    result = events[-2][1]
    assert result["outcome"] in ("flow", "refuse", "clarify")


def test_a_question_comes_back_as_clarify_with_choices(client: TestClient) -> None:
    body = client.post(f"{API}/generate", json={"request": "make it work please"}).json()
    assert body["outcome"] == "clarify"
    assert body["choices"] and body["flow"] is None


def test_unsafe_request_is_refused(client: TestClient) -> None:
    body = client.post(f"{API}/generate", json={
        "request": "bypass the emergency stop interlock on the PLC at 10.0.0.5 via modbus"}
    ).json()
    assert body["outcome"] == "refuse"


def test_edit_keeps_ids_and_lists_changes(client: TestClient) -> None:
    flow = client.post(f"{API}/generate", json={"request": REQUEST}).json()["flow"]
    body = client.post(f"{API}/edit", json={"flow": flow, "request": "poll every 2 s instead"}
                       ).json()
    assert body["outcome"] == "flow", body
    assert body["changes"]
    assert {n["id"] for n in flow} == {n["id"] for n in body["flow"]}


def test_explain_whole_flow_and_selected_nodes(client: TestClient) -> None:
    flow = client.post(f"{API}/generate", json={"request": REQUEST}).json()["flow"]
    whole = client.post(f"{API}/explain", json={"flow": flow}).json()
    assert whole["summary_by"] == "deterministic"
    assert "192.168.1.10" in whole["text"]
    mqtt = next(n for n in flow if n["type"] == "mqtt out")
    part = client.post(f"{API}/explain", json={"flow": flow, "node_ids": [mqtt["id"]]}).json()
    assert "192.168.1.10" not in part["summary"]
    missing = client.post(f"{API}/explain", json={"flow": flow, "node_ids": ["nope"]})
    assert missing.status_code == 422
    assert missing.json()["error"] == "invalid_request"
    assert "nope" in missing.json()["message"]


def test_validate_reports_findings_on_nodes(client: TestClient) -> None:
    broken = [{"id": "a", "type": "inject", "x": 10, "y": 10, "z": "t", "wires": [["zz"]]},
              {"id": "t", "type": "tab"}, {"id": "b", "type": "no-such-node", "z": "t"}]
    body = client.post(f"{API}/validate", json={"flow": broken}).json()
    assert body["valid"] is False
    by_code = {f["code"]: f for f in body["findings"]}
    assert by_code["wire-target-missing"]["node_id"] == "a"
    assert by_code["unknown-type"]["node_id"] == "b"
    not_a_flow = client.post(f"{API}/validate", json={"flow": {"nodes": []}}).json()
    assert [f["code"] for f in not_a_flow["findings"]] == ["flow-not-array"]


def test_models_and_status(client: TestClient) -> None:
    models = client.get(f"{API}/models").json()
    assert models["serving"] == "fake"
    assert any(m["name"] == "fake" and m["serving"] for m in models["data"])
    assert any(m["default"] for m in models["data"])
    status = client.get(f"{API}/status").json()
    assert status["status"] == "ok" and status["auth"] == "local"
    assert status["queue"]["limit"] == 32


# --- the one error envelope -------------------------------------------------------------

ENVELOPE_KEYS = {"error", "message"}


@pytest.mark.parametrize(("method", "path", "body", "status", "code"), [
    ("post", "/generate", {"request": ""}, 422, "invalid_request"),
    ("post", "/generate", {"request": "x", "extra": 1}, 422, "invalid_request"),
    ("post", "/generate", {"request": "x" * 5000}, 422, "invalid_request"),
    ("post", "/edit", {"flow": "not a list", "request": "x"}, 422, "invalid_request"),
    ("get", "/sessions/nope", None, 404, "not_found"),
    ("delete", "/sessions/nope", None, 404, "not_found"),
    ("get", "/no-such-route", None, 404, "not_found"),
    ("put", "/generate", {}, 405, "method_not_allowed"),
    ("get", "/docs/search", None, 422, "invalid_request"),
])
def test_every_error_has_the_one_envelope(client: TestClient, method: str, path: str,
                                          body: Any, status: int, code: str) -> None:
    answer = client.request(method.upper(), f"{API}{path}", json=body)
    assert answer.status_code == status
    payload = answer.json()
    assert set(payload) >= ENVELOPE_KEYS
    assert payload["error"] == code
    assert isinstance(payload["message"], str) and payload["message"]


def test_malformed_json_body_is_a_precise_422(client: TestClient) -> None:
    answer = client.post(f"{API}/generate", content=b'{"request": ',
                         headers={"content-type": "application/json"})
    assert answer.status_code == 422
    assert answer.json()["error"] == "invalid_request"
    assert "JSON" in answer.json()["message"] or "json" in answer.json()["message"]


def test_huge_body_is_refused_with_413_before_parsing(client: TestClient) -> None:
    huge = b'{"flow": [' + b'{"id": "x", "type": "inject"},' * 300_000 + b"{}]}"
    answer = client.post(f"{API}/validate", content=huge,
                         headers={"content-type": "application/json"})
    assert answer.status_code == 413
    assert answer.json()["error"] == "too_large"
