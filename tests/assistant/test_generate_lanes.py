"""Requests that describe two flows on one tab: each lane is laid out on its own, config
nodes are shared, and "the file" in one lane is the file another lane names."""

from __future__ import annotations

from typing import Any

from assistant.generate.lanes import split_lanes
from assistant.generate.pipeline import generate
from assistant.generate.understand import understand
from assistant.models.base import FakeModel
from flowschema.validator import validate_flow

STORE_AND_SERVE = ('the HMI POSTs {"text":"..."} to /api/l3/notice -> store the text in '
                   "/data/l3/notice.txt (replace the old one). GET /api/l3/notice gives it back "
                   "as plain text")


def _flow(request: str) -> list[dict[str, Any]]:
    model = FakeModel.of()  # nothing queued: these flows must come from code alone
    outcome = generate(request, model)
    assert outcome.kind == "flow" and outcome.flow is not None, outcome.message
    assert model.calls == []
    assert validate_flow(outcome.flow).valid
    return outcome.flow


def _downstream(flow: list[dict[str, Any]], start: dict[str, Any]) -> list[str]:
    by_id = {n["id"]: n for n in flow}
    seen, todo, types = set(), [start["id"]], []
    while todo:
        node = by_id[todo.pop()]
        if node["id"] in seen:
            continue
        seen.add(node["id"])
        types.append(node["type"])
        todo += [t for port in node.get("wires", []) for t in port]
    return types


def test_store_and_serve_are_two_lanes() -> None:
    u, _ = understand(STORE_AND_SERVE)
    lanes = split_lanes(STORE_AND_SERVE, u)
    assert lanes is not None and len(lanes) == 2
    assert "(read from /data/l3/notice.txt)" in lanes[1]  # "gives it back" names the file
    flow = _flow(STORE_AND_SERVE)
    post = next(n for n in flow if n["type"] == "http in" and n["method"] == "post")
    get = next(n for n in flow if n["type"] == "http in" and n["method"] == "get")
    assert "file" in _downstream(flow, post) and "file in" not in _downstream(flow, post)
    assert "file in" in _downstream(flow, get) and "file" not in _downstream(flow, get)
    assert {n["filename"] for n in flow if n["type"] in ("file", "file in")} == {
        "/data/l3/notice.txt"}


def test_lanes_share_one_broker() -> None:
    flow = _flow("recipe for oven 5 lives in /data/oven5/recipe.json. a new one comes as json "
                 "on plant/oven5/recipe/save from broker 10.0.0.7 -> overwrite the file. when "
                 "anything arrives on plant/oven5/recipe/load read the file and publish the "
                 "recipe json on plant/oven5/recipe/current")
    brokers = [n for n in flow if n["type"] == "mqtt-broker"]
    assert len(brokers) == 1 and brokers[0]["broker"] == "10.0.0.7"
    writes = [n for n in flow if n["type"] == "file"]
    assert len(writes) == 1 and writes[0]["overwriteFile"] == "true"
    assert len([n for n in flow if n["type"] == "file in"]) == 1


def test_one_flow_told_in_two_sentences_stays_one() -> None:
    for request in ("every 5 s read holding register 100 from the PLC at 192.168.1.10. publish "
                    "it to MQTT plant/line1/temp",
                    "the ready bit comes on plant/l4/ready. GET /api/l4/ready answers READY "
                    "when it is true"):
        u, _ = understand(request)
        assert split_lanes(request, u) is None, request


def test_a_bare_file_name_lives_in_the_watched_folder() -> None:
    request = ("watch the folder /data/xfer/outbox: whenever a file shows up there publish its "
               "file name on plant/xfer/new. we also drop the shift report (text on "
               "plant/l1/report) in there ourselves as l1_report.txt, overwrite each time")
    u, _ = understand(request)
    lanes = split_lanes(request, u)
    assert lanes is not None and len(lanes) == 2
    assert "/data/xfer/outbox/l1_report.txt" in lanes[1]
    flow = _flow(request)
    [writer] = [n for n in flow if n["type"] == "file"]
    assert writer["filename"] == "/data/xfer/outbox/l1_report.txt"
    assert [n["files"] for n in flow if n["type"] == "watch"] == ["/data/xfer/outbox"]
