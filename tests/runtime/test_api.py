"""The admin API: Node-RED's /flows (v1 and v2), /flows/state, /nodes and /inject, and a
refused deploy that leaves the running flow running."""

from __future__ import annotations

import time
from typing import Any

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from runtime.api import create_app

V2 = {"Node-RED-API-Version": "v2"}


def _flow(payload: str = "hello") -> list[dict[str, Any]]:
    return [{"id": "tab1", "type": "tab", "label": "api"},
            {"id": "inj", "type": "inject", "z": "tab1", "payload": payload,
             "payloadType": "str", "x": 100, "y": 100, "wires": [["dbg"]]},
            {"id": "dbg", "type": "debug", "z": "tab1", "x": 300, "y": 100, "wires": []}]


def _debug_after_inject(client: TestClient) -> list[Any]:
    start = client.get("/plumb/events").json()["next"]
    assert client.post("/inject/inj").status_code == 200
    for _ in range(50):
        events = client.get("/plumb/events", params={"since": start}).json()["events"]
        values = [e["value"] for e in events if e["kind"] == "debug"]
        if values:
            return values
        time.sleep(0.02)
    return []


def test_deploy_read_back_and_run() -> None:
    with TestClient(create_app()) as client:
        assert client.post("/flows", json=_flow()).status_code == 204
        assert client.get("/flows").json() == _flow()
        v2 = client.get("/flows", headers=V2).json()
        assert v2["flows"] == _flow() and len(v2["rev"]) == 32
        assert client.get("/flows/state").json() == {"state": "start"}
        assert _debug_after_inject(client) == ["hello"]


def test_v2_refuses_a_stale_rev() -> None:
    with TestClient(create_app()) as client:
        rev = client.post("/flows", json={"flows": _flow()}, headers=V2).json()["rev"]
        newer = client.post("/flows", json={"flows": _flow("again"), "rev": rev}, headers=V2)
        assert newer.status_code == 200 and newer.json()["rev"] != rev
        stale = client.post("/flows", json={"flows": _flow("late"), "rev": rev}, headers=V2)
        assert stale.status_code == 409 and stale.json()["error"] == "version_mismatch"


@pytest.mark.parametrize(("body", "code"), [
    ([{"id": "x", "type": "no-such-node", "z": "tab1", "wires": []},
      {"id": "tab1", "type": "tab"}], "missing_types"),
    ({"not": "a flow"}, "invalid_flow"),
    ([{"id": "tab1", "type": "tab"}, {"id": "d", "type": "debug", "z": "tab1",
                                      "wires": [["nowhere"]]}], "invalid_flow"),
])
def test_a_refused_deploy_keeps_the_running_flow(body: Any, code: str) -> None:
    with TestClient(create_app()) as client:
        assert client.post("/flows", json=_flow()).status_code == 204
        refused = client.post("/flows", json=body)
        assert refused.status_code == 400
        assert refused.json()["error"] == code and refused.json()["message"]
        assert client.get("/flows").json() == _flow()
        assert _debug_after_inject(client) == ["hello"]


def test_nodes_state_and_unknown_inject() -> None:
    with TestClient(create_app()) as client:
        types = {entry["name"] for entry in client.get("/nodes").json()}
        assert {"inject", "debug", "catch"} <= types
        client.post("/flows", json=_flow())
        assert client.post("/flows/state", json={"state": "stop"}).json() == {"state": "stop"}
        assert client.get("/flows/state").json() == {"state": "stop"}
        assert client.post("/flows/state", json={"state": "later"}).status_code == 400
        client.post("/flows/state", json={"state": "start"})
        assert _debug_after_inject(client) == ["hello"]
        missing = client.post("/inject/nope")
        assert missing.status_code == 404 and missing.json()["error"] == "not_found"


def _two_tabs(label_b: str = "b") -> list[dict[str, Any]]:
    return [{"id": "tab1", "type": "tab"}, {"id": "tab2", "type": "tab"},
            {"id": "inj", "type": "inject", "z": "tab1", "payload": "x", "payloadType": "str",
             "wires": [["dbg"]]},
            {"id": "dbg", "type": "debug", "z": "tab1", "wires": []},
            {"id": "a2", "type": "debug", "z": "tab2", "wires": []},
            {"id": "b2", "type": "debug", "z": "tab2", "name": label_b, "wires": []}]


@pytest.mark.parametrize(("mode", "kept", "restarted"), [
    ("nodes", {"inj", "dbg", "a2"}, {"b2"}),
    ("flows", {"inj", "dbg"}, {"a2", "b2"}),
    ("full", set(), {"inj", "dbg", "a2", "b2"}),
])
def test_deploy_types_keep_what_did_not_change(mode: str, kept: set[str],
                                               restarted: set[str]) -> None:
    app = create_app()
    with TestClient(app) as client:
        client.post("/flows", json=_two_tabs())
        before = dict(app.state.manager.runtime.nodes)
        answer = client.post("/flows", json=_two_tabs("renamed"),
                             headers={"Node-RED-Deployment-Type": mode})
        assert answer.status_code == 204
        after = app.state.manager.runtime.nodes
        assert {i for i in after if after[i] is before[i]} == kept
        assert {i for i in after if after[i] is not before[i]} == restarted
        assert after["b2"].name == "renamed"
        assert _debug_after_inject(client) == ["x"]
