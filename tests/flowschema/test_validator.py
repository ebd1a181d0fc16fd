"""Each finding code, provoked by a deliberately broken flow, and the clean cases."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from flowschema import CODES, Severity, validate_flow
from tests.conftest import EXAMPLES, load_json

BASE = load_json(EXAMPLES / "modbus-to-mqtt.json")
TAB, READ, CHANGE, MQTT_OUT, DEBUG, CLIENT, BROKER = (n["id"] for n in BASE)


def by_id(flow: list[dict[str, Any]], node_id: str) -> dict[str, Any]:
    return next(n for n in flow if n["id"] == node_id)


def mutate(change: Callable[[list[dict[str, Any]]], Any]) -> list[dict[str, Any]]:
    flow = copy.deepcopy(BASE)
    change(flow)
    return flow


def test_shipped_examples_are_valid_and_clean() -> None:
    for path in sorted(EXAMPLES.glob("*.json")):
        report = validate_flow(load_json(path))
        assert report.valid, [str(f) for f in report.findings]
        assert not report.warnings, [str(f) for f in report.warnings]


def set_prop(node_id: str, **values: Any) -> Callable[[list[dict[str, Any]]], None]:
    return lambda flow: by_id(flow, node_id).update(values)


def drop_prop(node_id: str, name: str) -> Callable[[list[dict[str, Any]]], None]:
    return lambda flow: by_id(flow, node_id).pop(name)


def add_node(**node: Any) -> Callable[[list[dict[str, Any]]], None]:
    return lambda flow: flow.append(node)


BROKEN: list[tuple[str, Callable[[list[dict[str, Any]]], Any], str, str | None, str | None]] = [
    # (case, mutation, expected code, node id, property)
    ("duplicate id", set_prop(DEBUG, id=CHANGE), "duplicate-id", CHANGE, "id"),
    ("unknown type", set_prop(MQTT_OUT, type="mqtt-out"), "unknown-type", MQTT_OUT, "type"),
    ("missing id", set_prop(DEBUG, id=""), "node-id-missing", None, "id"),
    ("missing type", drop_prop(DEBUG, "type"), "node-type-missing", DEBUG, "type"),
    (
        "wire to missing node",
        set_prop(CHANGE, wires=[["nope"]]),
        "wire-target-missing",
        CHANGE,
        "wires",
    ),
    (
        "too many wire lists",
        set_prop(CHANGE, wires=[[MQTT_OUT], []]),
        "wires-length",
        CHANGE,
        "wires",
    ),
    ("too few wire lists", set_prop(READ, wires=[[CHANGE]]), "wires-length", READ, "wires"),
    ("wires not lists", set_prop(CHANGE, wires=[MQTT_OUT]), "wires-shape", CHANGE, "wires"),
    (
        "wire into a node without input",
        set_prop(CHANGE, wires=[[READ]]),
        "wire-target-invalid",
        CHANGE,
        "wires",
    ),
    ("config ref missing", set_prop(MQTT_OUT, broker="gone"), "config-missing", MQTT_OUT, "broker"),
    (
        "config ref wrong type",
        set_prop(MQTT_OUT, broker=CLIENT),
        "config-wrong-type",
        MQTT_OUT,
        "broker",
    ),
    ("z names no tab", set_prop(DEBUG, z="nowhere"), "tab-missing", DEBUG, "z"),
    (
        "enum: modbus dataType",
        set_prop(READ, dataType="Holding"),
        "property-enum",
        READ,
        "dataType",
    ),
    (
        "enum: delay pauseType",
        add_node(id="d1", type="delay", z=TAB, pauseType="sometimes", x=1, y=1, wires=[[]]),
        "property-enum",
        "d1",
        "pauseType",
    ),
    ("range: modbus address", set_prop(READ, adr="70000"), "property-range", READ, "adr"),
    ("range: negative address number", set_prop(READ, adr=-1), "property-range", READ, "adr"),
    ("range: QoS", set_prop(MQTT_OUT, qos="3"), "property-range", MQTT_OUT, "qos"),
    ("range: port", set_prop(BROKER, port=70000), "property-range", BROKER, "port"),
    (
        "range: inject repeat",
        add_node(id="i1", type="inject", z=TAB, repeat="9999999", x=1, y=1, wires=[[DEBUG]]),
        "property-range",
        "i1",
        "repeat",
    ),
    ("numeric text", set_prop(READ, quantity="ten"), "property-format", READ, "quantity"),
    (
        "wrong JSON type",
        set_prop(BROKER, autoConnect="yes"),
        "property-type",
        BROKER,
        "autoConnect",
    ),
    ("required missing", drop_prop(READ, "dataType"), "property-required", READ, "dataType"),
    ("required empty", set_prop(READ, server=""), "property-required", READ, "server"),
    (
        "cron",
        add_node(id="i2", type="inject", z=TAB, crontab="*/5 * * *", x=1, y=1, wires=[[DEBUG]]),
        "cron-syntax",
        "i2",
        "crontab",
    ),
    (
        "cron out of range",
        add_node(id="i3", type="inject", z=TAB, crontab="0 25 * * *", x=1, y=1, wires=[[DEBUG]]),
        "cron-syntax",
        "i3",
        "crontab",
    ),
    (
        "function syntax",
        add_node(
            id="f1",
            type="function",
            z=TAB,
            func="if (msg.payload > 3 {\n  return msg;\n}",
            outputs=1,
            x=1,
            y=1,
            wires=[[DEBUG]],
        ),
        "function-syntax",
        "f1",
        "func",
    ),
    (
        "function initialize syntax",
        add_node(
            id="f2",
            type="function",
            z=TAB,
            func="return msg;",
            initialize="let x = ;",
            outputs=1,
            x=1,
            y=1,
            wires=[[DEBUG]],
        ),
        "function-syntax",
        "f2",
        "initialize",
    ),
    (
        "function outputs vs wires",
        add_node(
            id="f3",
            type="function",
            z=TAB,
            func="return [msg, msg];",
            outputs=2,
            x=1,
            y=1,
            wires=[[DEBUG]],
        ),
        "wires-length",
        "f3",
        "wires",
    ),
    (
        "switch rules vs outputs",
        add_node(
            id="s1",
            type="switch",
            z=TAB,
            property="payload",
            rules=[{"t": "gt", "v": "1", "vt": "num"}, {"t": "else"}],
            outputs=1,
            x=1,
            y=1,
            wires=[[DEBUG]],
        ),
        "switch-rules-outputs",
        "s1",
        "outputs",
    ),
    (
        "publish topic with wildcard",
        set_prop(MQTT_OUT, topic="plant/+/temp"),
        "mqtt-topic-invalid",
        MQTT_OUT,
        "topic",
    ),
    (
        "filter with misplaced #",
        add_node(
            id="m1",
            type="mqtt in",
            z=TAB,
            topic="plant/#/temp",
            broker=BROKER,
            qos="1",
            x=1,
            y=1,
            wires=[[DEBUG]],
        ),
        "mqtt-topic-invalid",
        "m1",
        "topic",
    ),
    (
        "inject json payload",
        add_node(
            id="i4",
            type="inject",
            z=TAB,
            payload="{setpoint: 3}",
            payloadType="json",
            x=1,
            y=1,
            wires=[[DEBUG]],
        ),
        "json-syntax",
        "i4",
        "payload",
    ),
    (
        "opc ua node id",
        add_node(
            id="o1",
            type="OpcUa-Item",
            z=TAB,
            item="Temperature",
            datatype="Double",
            x=1,
            y=1,
            wires=[[]],
        ),
        "opcua-nodeid-invalid",
        "o1",
        "item",
    ),
    ("url scheme", set_prop(BROKER, broker="localhost"), None, None, None),  # control: fine
    (
        "link to missing",
        add_node(id="l1", type="link out", z=TAB, mode="link", links=["zz"], x=1, y=1),
        "link-target-missing",
        "l1",
        "links",
    ),
    (
        "link to wrong type",
        add_node(id="l2", type="link out", z=TAB, mode="link", links=[DEBUG], x=1, y=1),
        "link-target-type",
        "l2",
        "links",
    ),
    (
        "subflow missing",
        add_node(id="sf1", type="subflow:abc", z=TAB, x=1, y=1, wires=[]),
        "subflow-missing",
        "sf1",
        "type",
    ),
    (
        "group member missing",
        add_node(id="g1", type="group", z=TAB, nodes=["ghost"], style={}, x=1, y=1, w=10, h=10),
        "group-member-missing",
        "g1",
        "nodes",
    ),
    ("missing position", drop_prop(DEBUG, "x"), "position-missing", DEBUG, "x"),
    (
        "unconnected",
        add_node(id="u1", type="debug", z=TAB, x=1, y=1, wires=[]),
        "node-unconnected",
        "u1",
        None,
    ),
    ("unreachable", set_prop(READ, wires=[[], []]), "node-unreachable", CHANGE, None),
    (
        "cross-tab wire",
        lambda f: (
            f.append({"id": "t2", "type": "tab", "label": "other"}),
            by_id(f, DEBUG).update(z="t2"),
        ),
        "wire-cross-tab",
        CHANGE,
        "wires",
    ),
    (
        "plumb type",
        add_node(
            id="x1", type="plumb-onnx", z=TAB, model="/models/a.onnx", x=1, y=1, wires=[[DEBUG]]
        ),
        "plumb-only-type",
        "x1",
        None,
    ),
]


@pytest.mark.parametrize(
    ("case", "change", "code", "node_id", "prop"), BROKEN, ids=[case for case, *_ in BROKEN]
)
def test_broken_variant_gives_expected_code(
    case: str, change: Any, code: str | None, node_id: str | None, prop: str | None
) -> None:
    report = validate_flow(mutate(change))
    if code is None:
        assert report.valid and not report.warnings, [str(f) for f in report.findings]
        return
    matching = [f for f in report.findings if f.code == code]
    assert matching, f"{case}: expected {code}, got {[str(f) for f in report.findings]}"
    finding = matching[0]
    assert finding.severity is CODES[code].severity
    if CODES[code].severity is Severity.ERROR:
        assert not report.valid
    if node_id is not None:
        assert finding.node is not None and finding.node.id == node_id
    assert finding.property == prop
    assert finding.message and finding.hint, "every finding explains itself and hints a fix"


def test_unknown_type_suggests_close_names() -> None:
    report = validate_flow(mutate(set_prop(MQTT_OUT, type="MQTT Out")))
    finding = next(f for f in report.findings if f.code == "unknown-type")
    assert "mqtt out" in (finding.hint or "")
    assert finding.node is not None and finding.node.name == "plant/line1/temp"


def test_enum_finding_names_expected_and_found() -> None:
    report = validate_flow(mutate(set_prop(READ, dataType="Holding")))
    finding = next(f for f in report.findings if f.code == "property-enum")
    assert finding.found == "Holding"
    assert "HoldingRegister" in finding.expected
    assert "did you mean 'HoldingRegister'" in (finding.hint or "")


def test_function_syntax_reports_line_of_the_body() -> None:
    flow = mutate(
        add_node(
            id="f1",
            type="function",
            z=TAB,
            outputs=1,
            x=1,
            y=1,
            wires=[[DEBUG]],
            func="const a = 1;\nconst b = 2;\nif (a > b {\n  return msg;\n}",
        )
    )
    finding = next(f for f in validate_flow(flow).findings if f.code == "function-syntax")
    assert "line 3" in finding.message
    assert finding.found == "if (a > b {"


def test_required_property_with_usable_default_may_be_omitted() -> None:
    # Node-RED's editor fills missing properties with their defaults on import.
    flow = mutate(drop_prop(CLIENT, "tcpType"))
    assert validate_flow(flow).valid


@pytest.mark.parametrize("value", [None, {}, "flow", 3, True])
def test_non_array_input(value: Any) -> None:
    report = validate_flow(value)
    assert not report.valid
    assert [f.code for f in report.findings] == ["flow-not-array"]


def test_empty_flow_is_a_warning() -> None:
    report = validate_flow([])
    assert report.valid and report.codes() == {"flow-empty"}


def test_non_object_elements() -> None:
    report = validate_flow([1, "x", None, [], {"id": "a", "type": "comment", "z": ""}])
    assert [f.code for f in report.errors] == ["node-not-object"] * 4


def test_subflow_instance_ports_come_from_definition() -> None:
    flow = [
        {"id": "t", "type": "tab", "label": "main"},
        {
            "id": "sf",
            "type": "subflow",
            "name": "scale",
            "in": [{"x": 1, "y": 1, "wires": [{"id": "c"}]}],
            "out": [
                {"x": 1, "y": 1, "wires": [{"id": "c", "port": 0}]},
                {"x": 1, "y": 2, "wires": []},
            ],
        },
        {"id": "c", "type": "change", "z": "sf", "rules": [], "x": 1, "y": 1, "wires": [[]]},
        {"id": "i", "type": "inject", "z": "t", "x": 1, "y": 1, "wires": [["inst"]]},
        {"id": "inst", "type": "subflow:sf", "z": "t", "x": 1, "y": 1, "wires": [["d"], []]},
        {"id": "d", "type": "debug", "z": "t", "x": 1, "y": 1, "wires": []},
    ]
    assert validate_flow(flow).valid, [str(f) for f in validate_flow(flow).findings]
    flow[4]["wires"] = [["d"]]
    assert "wires-length" in validate_flow(flow).codes()
    flow[4]["wires"] = [["d"], []]
    flow[1]["out"][0]["wires"] = [{"id": "c", "port": 3}]
    assert "subflow-port-invalid" in validate_flow(flow).codes()


def test_every_finding_serialises_with_the_documented_keys() -> None:
    flow = mutate(
        lambda f: (
            by_id(f, READ).update(dataType="x", adr="-5"),
            by_id(f, CHANGE).update(wires=[["gone"]]),
        )
    )
    for finding in validate_flow(flow).findings:
        data = finding.to_dict()
        assert {"severity", "code", "node", "property", "message", "hint"} <= set(data)
        assert data["node"] is None or set(data["node"]) == {"id", "type", "name"}


def test_an_infinite_output_count_is_a_finding_not_a_crash() -> None:
    # Python's json module accepts Infinity; a flow carrying it must not crash the validator.
    import json

    from flowschema import validate_flow

    flow = json.loads('[{"id": "f1", "type": "function", "func": "return msg;", '
                      '"outputs": Infinity, "wires": [[]]}]')
    report = validate_flow(flow)
    assert report.findings  # answered with findings rather than raising
