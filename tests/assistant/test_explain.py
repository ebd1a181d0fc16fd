"""`explain_flow` on the shipped examples, the corpus and the eval references: facts that
must be there, and robustness on everything Plumb has."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from assistant.explain import explain_flow, render_text
from assistant.explain.paths import MAX_STEPS_PER_WALK

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").glob("*.json"))


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _corpus_and_evals() -> list[tuple[str, list[dict[str, Any]]]]:
    flows = [(p.name, _load(p)["flow"]) for p in sorted((REPO / "corpus/examples").glob("*.json"))]
    for path in sorted((REPO / "evals/cases").glob("*/*.json")):
        reference = _load(path).get("reference")
        if reference:
            flows.append((path.name, reference))
    return flows


ALL_FLOWS = _corpus_and_evals()


def example(name: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = _load(REPO / "examples" / name)
    return data


def test_modbus_to_mqtt_summary_names_register_device_interval_and_topic() -> None:
    explanation = explain_flow(example("modbus-to-mqtt.json"))
    assert explanation.summary == (
        "This flow polls holding register 100 on the Modbus device 192.168.1.10:502 every 5 s "
        "and publishes the value to MQTT topic plant/line1/temp on broker localhost:1883."
    )
    [walk] = explanation.paths
    assert walk.trigger.kind == "modbus-poll"
    assert "(unit 1)" in walk.trigger.description
    types = [s.type for s in walk.steps()]
    assert types == ["modbus-read", "change", "mqtt out", "debug"]
    change = walk.source.next[0]
    assert change.description == "sets msg.payload to msg.payload[0]"
    assert [s.type for s in change.next] == ["mqtt out", "debug"]
    assert "(QoS 1, not retained)" in change.next[0].description
    assert {(e.kind, e.address) for e in explanation.endpoints} == {
        ("modbus", "192.168.1.10:502"),
        ("mqtt", "localhost:1883"),
    }
    assert [r.code for r in explanation.risks] == ["no-catch"]
    assert explanation.findings.valid


def test_http_setpoint_write_has_a_range_check_a_response_and_an_error_path() -> None:
    explanation = explain_flow(example("http-setpoint-write.json"))
    summary = explanation.summary
    for fact in ("HTTP POST requests to /setpoint", "holding register 200", "192.168.1.11:502"):
        assert fact in summary
    assert 'If modbus-write "Write HR 200" fails, it answers the HTTP request.' in summary
    codes = {r.code for r in explanation.risks}
    assert "unchecked-plc-write" not in codes  # the function checks 0..150
    assert "http-no-response" not in codes
    assert "no-catch" not in codes  # the catch node names the write
    assert codes == {"function-no-timeout"}
    kinds = [w.trigger.kind for w in explanation.paths]
    assert kinds == ["http", "catch"]
    function = explanation.paths[0].source.next[0]
    assert "8 lines, 2 outputs, no time limit" in function.description
    assert [c.via for c in function.next] == ["output 1", "output 2"]
    assert function.next[1].ref == "merge"  # the reply node was described on output 1


def test_opcua_threshold_alarm_routes_by_condition() -> None:
    explanation = explain_flow(example("opcua-threshold-alarm.json"))
    assert explanation.summary == (
        "This flow reads OPC UA node ns=2;s=Oven3.Temperature from the server "
        "opc.tcp://192.168.1.20:4840 every 10 s and publishes the value to MQTT topics "
        "plant/oven3/alarm (if msg.payload > 250) and plant/oven3/temp (otherwise) on broker "
        "localhost:1883."
    )
    switch = next(s for s in explanation.paths[0].steps() if s.type == "switch")
    assert [c.via for c in switch.next] == ["if msg.payload > 250", "otherwise"]
    assert "stops at the first match" in switch.description


def test_subflow_and_links_are_followed() -> None:
    explanation = explain_flow(example("subflow-tank-levels.json"))
    main, inner = explanation.paths
    assert "every 30 s" in main.trigger.description
    types = [s.type for s in main.steps()]
    assert "template" in types and "file" in types  # across link out -> link in
    assert "link in" not in types and "junction" not in types  # hops, not steps
    assert inner.in_subflow and inner.trigger.kind == "subflow-input"
    assert inner.source.next[0].end == "leaves the subflow through its output 1"
    assert 'subflow "Scale 4-20 mA"' in explanation.summary
    assert "/var/log/plumb/tanks.csv" in explanation.summary
    assert [n.field for n in explanation.notes] == ["info", "info", "info"]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_explains_and_serialises(path: Path) -> None:
    flow = _load(path)
    explanation = explain_flow(flow)
    text = render_text(explanation)
    assert text.startswith("Summary\n  This flow ")
    data = json.loads(json.dumps(explanation.to_dict()))
    assert data["summary"] == explanation.summary
    assert data["validation"]["valid"]
    assert not explanation.unreached


@pytest.mark.parametrize(("name", "flow"), ALL_FLOWS, ids=[n for n, _ in ALL_FLOWS])
def test_corpus_and_eval_references_explain(name: str, flow: list[dict[str, Any]]) -> None:
    explanation = explain_flow(flow)
    assert explanation.summary.startswith(("This flow ", "No node "))
    assert len(explanation.summary) < 1500
    json.dumps(explanation.to_dict())
    render_text(explanation)
    ids = {n["id"] for n in flow if isinstance(n, dict)}
    for walk in explanation.paths:
        steps = list(walk.steps())
        assert len(steps) <= MAX_STEPS_PER_WALK + 1
        assert all(s.id in ids for s in steps)
        described = [s.id for s in steps if not s.ref]
        assert len(described) == len(set(described)), "a node was described twice in one walk"
    # Every device and broker the flow configures is named among the endpoints.
    for node in flow:
        if node.get("type") == "modbus-client" and node.get("clienttype", "tcp") == "tcp":
            assert any(str(node["tcpHost"]) in e.address for e in explanation.endpoints)
        if node.get("type") == "mqtt-broker":
            assert any(str(node["broker"]) in e.address for e in explanation.endpoints)


def _corpus(name: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = _load(REPO / "corpus/examples" / name)["flow"]
    return data


def test_inject_once_into_an_opcua_subscribe_is_a_subscription() -> None:
    explanation = explain_flow(_corpus("opcua-subscribe-temp-to-mqtt.json"))
    [walk] = explanation.paths
    assert walk.trigger.kind == "opcua-subscription"
    assert explanation.summary.startswith(
        "This flow subscribes to OPC UA node ns=2;s=Line1.Temperature on the server "
        "opc.tcp://192.168.1.40:4840 and publishes each new value to MQTT topic "
        "plant/line1/temperature"
    )


def test_mqtt_to_opcua_write_is_checked_for_a_range_check() -> None:
    checked = explain_flow(_corpus("opcua-write-speed-from-mqtt.json"))  # switch 0..900
    assert "unchecked-plc-write" not in {r.code for r in checked.risks}
    assert "takes each message on MQTT topic line2/filler/speed_sp" in checked.summary
    case = _load(REPO / "evals/cases/opcua/opcua-write-recipe-name-with-ack.json")
    unchecked = explain_flow(case["reference"])
    risk = unchecked.risks[0]
    assert (risk.code, risk.severity) == ("unchecked-plc-write", "high")
    assert [n["type"] for n in risk.nodes] == ["OpcUa-Client"]


def test_identical_paths_are_summarised_once() -> None:
    explanation = explain_flow(_corpus("modbus-gateway-three-meters.json"))
    assert explanation.summary.count("polls") == 1
    assert "(3 paths do this)" in explanation.summary
    assert len(explanation.paths) == 3


def test_cron_schedules_read_as_words() -> None:
    explanation = explain_flow(_corpus("plant-shift-report-cron-csv.json"))
    assert "at 06:00, 14:00 and 22:00 every day" in explanation.summary
