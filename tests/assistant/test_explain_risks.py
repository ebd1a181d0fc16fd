"""Each risk on a crafted flow that has it, and none on a clean flow."""

from __future__ import annotations

from typing import Any

import pytest

from assistant.explain import explain_flow
from assistant.explain.risks import Risk

TAB: dict[str, Any] = {"id": "t1", "type": "tab", "label": "Main"}
BROKER: dict[str, Any] = {
    "id": "b",
    "type": "mqtt-broker",
    "name": "Plant",
    "broker": "10.0.0.5",
    "port": 1883,
}
PLC: dict[str, Any] = {
    "id": "plc",
    "type": "modbus-client",
    "name": "PLC",
    "tcpHost": "192.168.1.10",
    "tcpPort": 502,
    "unit_id": 1,
    "clienttype": "tcp",
}


def node(node_id: str, node_type: str, *wires: list[str], **props: Any) -> dict[str, Any]:
    return {"id": node_id, "type": node_type, "z": "t1", "wires": list(wires), **props}


def mqtt_in(node_id: str, *targets: str) -> dict[str, Any]:
    return node(node_id, "mqtt in", list(targets), topic="plant/sp", qos="1", broker="b")


def write(node_id: str = "w") -> dict[str, Any]:
    return node(
        node_id,
        "modbus-write",
        [],
        [],
        server="plc",
        dataType="HoldingRegister",
        adr="200",
        quantity="1",
    )


def catch_all(*targets: str) -> dict[str, Any]:
    return node("c", "catch", list(targets), scope=None, uncaught=False)


def debug(node_id: str, **props: Any) -> dict[str, Any]:
    return node(node_id, "debug", **{"complete": "payload", "active": True, **props})


def risks(flow: list[dict[str, Any]]) -> dict[str, Risk]:
    return {r.code: r for r in explain_flow(flow).risks}


CLEAN = [
    TAB,
    BROKER,
    PLC,
    mqtt_in("in", "check"),
    node(
        "check",
        "switch",
        ["w"],
        ["log"],
        property="payload",
        propertyType="msg",
        rules=[{"t": "btwn", "v": "0", "vt": "num", "v2": "100", "v2t": "num"}, {"t": "else"}],
        checkall="false",
        outputs=2,
    ),
    write(),
    debug("log"),
    catch_all("log"),
]


def test_a_clean_flow_has_no_risks() -> None:
    explanation = explain_flow(CLEAN)
    assert explanation.risks == []
    assert explanation.findings.valid


def test_plc_write_from_mqtt_without_a_check() -> None:
    flow = [TAB, BROKER, PLC, mqtt_in("in", "w"), write(), catch_all()]
    risk = risks(flow)["unchecked-plc-write"]
    assert risk.severity == "high"
    assert [n["id"] for n in risk.nodes] == ["w"]


@pytest.mark.parametrize(
    "check",
    [
        node(
            "k", "switch", ["w"], property="payload", rules=[{"t": "lte", "v": "80", "vt": "num"}]
        ),
        node("k", "range", ["w"], minin="0", maxin="10", minout="0", maxout="100", action="clamp"),
        node(
            "k",
            "function",
            ["w"],
            func="if (msg.payload > 80) return null;\nreturn msg;",
            outputs=1,
            timeout=5,
        ),
    ],
    ids=["switch", "range", "function"],
)
def test_a_range_check_on_the_way_clears_the_plc_write(check: dict[str, Any]) -> None:
    flow = [TAB, BROKER, PLC, mqtt_in("in", "k"), check, write(), catch_all()]
    assert "unchecked-plc-write" not in risks(flow)


def test_plc_writes_from_a_timer_are_not_external() -> None:
    flow = [TAB, PLC, node("i", "inject", ["w"], repeat="5"), write(), catch_all()]
    assert "unchecked-plc-write" not in risks(flow)


def test_devices_without_a_catch_node() -> None:
    flow = [
        TAB,
        PLC,
        node(
            "r",
            "modbus-read",
            ["d"],
            server="plc",
            dataType="Coil",
            adr="1",
            quantity="1",
            rate="5",
            rateUnit="s",
        ),
        debug("d"),
    ]
    assert risks(flow)["no-catch"].nodes[0]["id"] == "r"
    scoped = [*flow, node("c", "catch", ["d"], scope=["r"])]
    assert "no-catch" not in risks(scoped)
    other = [*flow, node("c", "catch", ["d"], scope=["d"])]
    assert "no-catch" in risks(other)


def test_function_without_timeout() -> None:
    flow = [
        TAB,
        node("i", "inject", ["f"], repeat="5"),
        node("f", "function", ["d"], func="return msg;", outputs=1, timeout=0),
        debug("d"),
    ]
    assert risks(flow)["function-no-timeout"].severity == "low"
    flow[2] = {**flow[2], "timeout": 5}
    assert "function-no-timeout" not in risks(flow)


def test_http_in_without_response() -> None:
    never = [TAB, node("h", "http in", ["d"], url="/x", method="get"), debug("d")]
    assert risks(never)["http-no-response"].severity == "high"
    partial = [
        TAB,
        node("h", "http in", ["s"], url="/x", method="post"),
        node(
            "s",
            "switch",
            ["r"],
            property="payload",
            rules=[{"t": "eq", "v": "a", "vt": "str"}],
            outputs=1,
        ),
        node("r", "http response", statusCode=""),
    ]
    risk = risks(partial)["http-no-response"]
    assert risk.severity == "medium" and "match no rule" in risk.message
    answered = [
        *partial[:2],
        {
            **partial[2],
            "rules": [{"t": "eq", "v": "a", "vt": "str"}, {"t": "else"}],
            "outputs": 2,
            "wires": [["r"], ["r"]],
        },
        partial[3],
    ]
    assert "http-no-response" not in risks(answered)


def test_debug_with_complete_message() -> None:
    flow = [TAB, node("i", "inject", ["d"], repeat="5"), debug("d", complete="true")]
    assert risks(flow)["debug-complete-msg"].severity == "low"
    flow[2] = debug("d", complete="true", active=False)
    assert "debug-complete-msg" not in risks(flow)


def test_mqtt_out_without_broker() -> None:
    flow = [TAB, node("i", "inject", ["o"], repeat="5"), node("o", "mqtt out", topic="a/b")]
    risk = risks(flow)["mqtt-no-broker"]
    assert risk.severity == "high"
    assert "with no broker configured" in explain_flow(flow).paths[0].source.next[0].description


def test_dangling_outputs_and_unwired_branches() -> None:
    flow = [
        TAB,
        node("i", "inject", ["c"], repeat="5"),
        node(
            "c",
            "change",
            [],
            rules=[{"t": "set", "p": "payload", "pt": "msg", "to": "1", "tot": "num"}],
        ),
        node("i2", "inject", ["s"], repeat="5"),
        node(
            "s",
            "switch",
            ["d"],
            [],
            property="payload",
            outputs=2,
            rules=[{"t": "gt", "v": "1", "vt": "num"}, {"t": "else"}],
        ),
        debug("d"),
    ]
    found = risks(flow)
    assert [n["id"] for n in found["dangling-output"].nodes] == ["c"]
    assert "output 2 of switch" in found["unwired-branch"].message
    walk = explain_flow(flow).paths[0]
    assert walk.source.next[0].end == "nothing is wired to its output"


def test_context_writes_and_file_writes_are_not_dangling() -> None:
    flow = [
        TAB,
        node("i", "inject", ["c", "f"], repeat="5"),
        node(
            "c",
            "change",
            [],
            rules=[{"t": "set", "p": "last", "pt": "flow", "to": "payload", "tot": "msg"}],
        ),
        node("f", "file", [], filename="/tmp/x.log", overwriteFile="false"),
    ]
    assert "dangling-output" not in risks(flow)


def test_unbounded_join() -> None:
    join = node("j", "join", ["d"], mode="custom", build="array", count="", timeout="")
    flow = [TAB, node("i", "inject", ["j"], repeat="5"), join, debug("d")]
    assert risks(flow)["unbounded-join"].severity == "medium"
    flow[2] = {**join, "count": "10"}
    assert "unbounded-join" not in risks(flow)


def test_credentials_in_plain_properties_are_named_but_not_shown() -> None:
    flow = [
        TAB,
        {**BROKER, "password": "hunter22", "user": "plant"},
        {
            "id": "b2",
            "type": "mqtt-broker",
            "broker": "x",
            "credentials": {"user": "u", "password": "s3cret"},
        },
        node("i", "inject", ["h", "f"], repeat="5"),
        node("h", "http request", [], method="GET", url="http://admin:pa55word@10.0.0.9/api"),
        node("f", "function", [], func='const apiKey = "abcd1234";\nreturn msg;', timeout=5),
    ]
    risk = risks(flow)["plain-credentials"]
    assert risk.severity == "high"
    assert {n["id"] for n in risk.nodes} == {"b", "b2", "h", "f"}
    for secret in ("hunter22", "s3cret", "pa55word", "abcd1234"):
        assert secret not in risk.message


def test_validator_errors_become_a_risk_and_reach_the_summary() -> None:
    flow = [TAB, node("i", "inject", ["x"], repeat="5"), node("x", "not-a-real-node")]
    explanation = explain_flow(flow)
    risk = {r.code: r for r in explanation.risks}["validator-errors"]
    assert risk.severity == "high" and "unknown-type" in risk.message
    assert explanation.findings.errors >= 1
    assert "The validator finds" in explanation.summary
    step = explanation.paths[0].source.next[0]
    assert "unknown type" in step.description


def test_risks_are_ordered_by_severity() -> None:
    flow = [
        TAB,
        PLC,
        BROKER,
        mqtt_in("in", "w"),
        write(),
        node("f", "function", [], func="return msg;", timeout=0),
    ]
    order = [r.severity for r in explain_flow(flow).risks]
    assert order == sorted(order, key=("high", "medium", "low").index)
