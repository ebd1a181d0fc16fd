"""The value checker: small hand-built flows, then every eval reference (clean) and broken
copies of them (caught)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.extract import extract
from assistant.valuecheck import Mismatch, check_values, cron_sets

REPO = Path(__file__).resolve().parents[2]
FLOW_CASES = [
    p for p in sorted((REPO / "evals" / "cases").glob("*/*.json"))
    if json.loads(p.read_text(encoding="utf-8"))["outcome"] == "flow"
]

Node = dict[str, Any]
_ids = iter(range(1, 10_000))


def node(type_: str, wires: list[str] | None = None, **props: Any) -> Node:
    return {"id": f"n{next(_ids)}", "type": type_, "z": "tab", "wires": [wires or []], **props}


def broker(host: str = "10.0.0.5", port: int = 1883) -> Node:
    return {"id": "broker", "type": "mqtt-broker", "broker": host, "port": port}


def mqtt_in(topic: str, wires: list[str] | None = None) -> Node:
    return node("mqtt in", wires, topic=topic, qos="2", broker="broker")


def mqtt_out(topic: str = "", qos: str = "", retain: str = "") -> Node:
    return node("mqtt out", topic=topic, qos=qos, retain=retain, broker="broker")


def client(host: str = "10.0.0.9", port: int = 502, unit: int = 1) -> Node:
    return {"id": "plc", "type": "modbus-client", "tcpHost": host, "tcpPort": port, "unit_id": unit}


def read(adr: int, qty: int = 1, dtype: str = "HoldingRegister", rate: str = "5",
         unit: str = "s", unitid: str = "") -> Node:
    return node("modbus-read", adr=str(adr), quantity=str(qty), dataType=dtype, rate=rate,
                rateUnit=unit, unitid=unitid, server="plc")


def write(adr: int, qty: int = 1, dtype: str = "HoldingRegister") -> Node:
    return node("modbus-write", adr=str(adr), quantity=str(qty), dataType=dtype, unitid="",
                server="plc")


def function(code: str, wires: list[str] | None = None) -> Node:
    return node("function", wires, func=code)


def kinds(mismatches: list[Mismatch], severity: str | None = None) -> list[str]:
    return [m.kind for m in mismatches if severity is None or m.severity == severity]


def check(request: str, flow: list[Node]) -> list[Mismatch]:
    return check_values(extract(request), flow)


# --- MQTT -----------------------------------------------------------------------------------

def test_topics_in_their_roles_pass() -> None:
    out = mqtt_out("plant/a/temp_c")
    flow = [broker(), mqtt_in("plant/a/temp_f", [out["id"]]), out]
    assert check("temps come in on plant/a/temp_f, republish in °C to plant/a/temp_c", flow) == []


def test_input_topic_that_is_only_published_is_reported() -> None:
    flow = [broker(), mqtt_in("plant/x/other"), mqtt_out("plant/a/raw")]
    (m,) = check("values arrive on plant/a/raw", flow)
    assert (m.kind, m.severity, m.expected) == ("topic", "error", "plant/a/raw")
    assert "as an input" in m.message and "only published" in m.message
    assert "mqtt in topics: plant/x/other" in m.message
    assert m.node_ids == [flow[2]["id"]]


def test_output_topic_missing_is_reported_with_what_is_there() -> None:
    flow = [broker(), mqtt_in("plant/a/raw"), mqtt_out("plant/a/wrong")]
    (m,) = check("values arrive on plant/a/raw, publish them on plant/a/clean", flow)
    assert m.kind == "topic" and m.found == ["plant/a/wrong"]
    assert "no mqtt out node publishes to it" in m.message


def test_topic_set_as_msg_topic_upstream_passes() -> None:
    out = mqtt_out("")
    fn = function('msg.topic = "plant/b/state"; return msg;', [out["id"]])
    flow = [broker(), mqtt_in("plant/b/raw", [fn["id"]]), fn, out]
    assert check("plant/b/raw -> publish the state on plant/b/state", flow) == []


def test_topic_nowhere_but_a_topicless_mqtt_out_is_a_warning() -> None:
    flow = [broker(), mqtt_in("plant/b/raw"), mqtt_out("")]
    (m,) = check("plant/b/raw -> publish the state on plant/b/state", flow)
    assert (m.kind, m.severity) == ("topic", "warning")
    assert "computed at run time" in m.message


def test_wildcard_subscriptions_cover_patterns_and_examples() -> None:
    request = "sensors push json to plant/vib/<asset>/raw (e.g. plant/vib/fan1/raw)"
    assert check(request, [broker(), mqtt_in("plant/vib/+/raw")]) == []
    assert check(request, [broker(), mqtt_in("plant/vib/#")]) == []
    assert kinds(check(request, [broker(), mqtt_in("plant/vib/fan1/raw")])) == ["topic"]


def test_topic_that_is_no_longer_used_must_be_gone() -> None:
    request = "the speed goes out on plant/f/speed_bpm from now on, not dash/f/speed anymore"
    assert check(request, [broker(), mqtt_out("plant/f/speed_bpm")]) == []
    (m,) = check(request, [broker(), mqtt_out("plant/f/speed_bpm"), mqtt_out("dash/f/speed")])
    assert "no longer used" in m.message


def test_broker_host_and_port() -> None:
    request = "bridge to the cloud broker iot.acme.example:8883 and publish on a/b/c"
    assert check(request, [broker("iot.acme.example", 8883), mqtt_out("a/b/c")]) == []
    assert check(request, [broker("mqtts://iot.acme.example:8883", 1883), mqtt_out("a/b/c")]) == []
    (m,) = check(request, [broker("iot.acme.example", 1883), mqtt_out("a/b/c")])
    assert m.kind == "broker" and "port 8883" in m.message
    (m,) = check(request, [broker("10.0.0.5"), mqtt_out("a/b/c")])
    assert m.kind == "broker" and "brokers: 10.0.0.5" in m.message


def test_qos_and_retain_on_the_named_topic() -> None:
    request = "pass it on to plc/l6/cmd, qos 2 and retained"
    assert check(request, [broker(), mqtt_out("plc/l6/cmd", "2", "true")]) == []
    found = check(request, [broker(), mqtt_out("plc/l6/cmd", "1", "false")])
    assert sorted(kinds(found)) == ["qos", "retain"]


# --- Modbus ---------------------------------------------------------------------------------

REQUEST_MB = "meter 10.0.0.9 unit 3: energy is uint32 in IR 30051-30052, read it every 2 s"


def test_modbus_device_register_and_interval_pass() -> None:
    flow = [client(unit=3), read(50, 2, "InputRegister", "2")]
    assert check(REQUEST_MB, flow) == []


def test_unit_id_on_the_read_node_overrides_the_client() -> None:
    assert check(REQUEST_MB, [client(unit=1), read(50, 2, "InputRegister", "2", unitid="3")]) == []
    (m,) = check(REQUEST_MB, [client(unit=1), read(50, 2, "InputRegister", "2")])
    assert (m.kind, m.expected, m.found) == ("unit_id", "3", ["1"])


def test_wrong_host_and_port() -> None:
    (m,) = check(REQUEST_MB, [client("10.0.0.8", unit=3), read(50, 2, "InputRegister", "2")])
    assert m.kind == "modbus_device" and "10.0.0.8" in m.message
    flow = [client(port=5020, unit=3), read(50, 2, "InputRegister", "2")]
    (m,) = check(REQUEST_MB, flow)
    assert m.kind == "modbus_device" and "port 502 (the default)" in m.message


@pytest.mark.parametrize(
    ("node_", "problem"),
    [
        (read(50, 1, "InputRegister", "2"), "register"),  # a uint32 needs 2 registers
        (read(50, 2, "HoldingRegister", "2"), "register"),  # wrong table
        (read(51, 2, "InputRegister", "2"), "register"),  # Modicon 30051 is address 50
        (read(49, 4, "InputRegister", "2"), None),  # a bigger block covers it
        (read(50, 2, "InputRegister", "5"), "interval"),
        (read(50, 2, "InputRegister", "2000", "ms"), None),
    ],
)
def test_register_blocks(node_: Node, problem: str | None) -> None:
    found = check(REQUEST_MB, [client(unit=3), node_])
    assert kinds(found) == ([problem] if problem else [])


def test_register_message_is_precise() -> None:
    (m,) = check("read holding reg 40015 of 10.0.0.9", [client(), read(15)])
    assert m.expected == "holding adr 14" and m.found == ["modbus-read HoldingRegister adr 15 qty 1"]
    assert "zero-based address 14" in m.message


def test_plain_register_number_read_one_lower_is_a_warning() -> None:
    (m,) = check("read holding register 100 of 10.0.0.9", [client(), read(99)])
    assert (m.kind, m.severity) == ("register", "warning") and "off by one" in m.message


def test_writes_need_write_nodes_and_the_stated_function_code() -> None:
    request = "write the target to HR 40301/40302 on 10.0.0.9 in one FC16"
    assert check(request, [client(), write(300, 2, "MHoldingRegisters")]) == []
    assert kinds(check(request, [client(), write(300, 2, "HoldingRegister")])) == ["register"]
    assert kinds(check(request, [client(), read(300, 2)])) == ["register"]


def test_coils_and_discrete_inputs() -> None:
    request = "start = coil 00005 on 10.0.0.9, only when discrete input 10002 is 1"
    flow = [client(), write(4, 1, "Coil"), node("modbus-getter", adr="1", quantity="1",
                                               dataType="Input", server="plc")]
    assert check(request, flow) == []
    flow[1]["dataType"] = "HoldingRegister"
    assert kinds(check(request, flow)) == ["register"]


def test_flex_nodes_are_checked_through_their_code() -> None:
    request = "profile n starts at HR 42001 on 10.0.0.9 (unit 1)"
    flex = {"id": "fx", "type": "modbus-flex-getter", "server": "plc"}
    good = function("msg.payload = {fc: 3, unitid: 1, address: 2000 + (n - 1) * 8, quantity: 4};")
    assert check(request, [client(), good, flex]) == []
    bad = function("msg.payload = {fc: 3, unitid: 1, address: 2001, quantity: 4};")
    assert kinds(check(request, [client(), bad, flex])) == ["register"]


def test_scale_hint_must_show_up_in_the_code() -> None:
    request = "read IR 30008 of 10.0.0.9, raw value is bar*100"
    change = node("change", rules=[{"t": "set", "p": "payload", "to": "payload[0] / 100"}])
    assert check(request, [client(), node("modbus-getter", adr="7", quantity="1",
                                          dataType="InputRegister", server="plc"), change]) == []
    found = check(request, [client(), node("modbus-getter", adr="7", quantity="1",
                                           dataType="InputRegister", server="plc")])
    assert kinds(found, "warning") == ["scale"]


# --- OPC UA ---------------------------------------------------------------------------------

OPC_REQUEST = "cycle counter ns=4;i=2107 (Int32) on opc.tcp://10.12.0.112:4840, read it evry 2s"


def opc_flow(endpoint: str = "opc.tcp://10.12.0.112:4840", item: str = "ns=4;i=2107",
             dtype: str = "Int32", repeat: str = "2") -> list[Node]:
    return [{"id": "ep", "type": "OpcUa-Endpoint", "endpoint": endpoint},
            node("inject", repeat=repeat, crontab=""),
            node("OpcUa-Item", item=item, datatype=dtype),
            node("OpcUa-Client", endpoint="ep", action="read", time=10, timeUnit="s")]


@pytest.mark.parametrize(
    ("flow", "problem"),
    [
        (opc_flow(), None),
        (opc_flow(endpoint="opc.tcp://10.12.0.112:4840/"), None),
        (opc_flow(endpoint="opc.tcp://10.12.0.113:4840"), "opcua_endpoint"),
        (opc_flow(item="ns=4;i=2108"), "node_id"),
        (opc_flow(dtype="Double"), "node_id"),
        (opc_flow(repeat="5"), "interval"),
    ],
)
def test_opcua(flow: list[Node], problem: str | None) -> None:
    assert kinds(check(OPC_REQUEST, flow)) == ([problem] if problem else [])


def test_opcua_subscription_interval_and_node_id_from_an_inject_topic() -> None:
    request = "subscribe ns=2;s=Kiln1.Burner.On on opc.tcp://10.0.0.1:4840 with a 1 s interval"
    flow = [{"id": "ep", "type": "OpcUa-Endpoint", "endpoint": "opc.tcp://10.0.0.1:4840"},
            node("inject", topic="ns=2;s=Kiln1.Burner.On", repeat="", once=True),
            node("OpcUa-Client", endpoint="ep", action="subscribe", time=1000, timeUnit="ms")]
    assert check(request, flow) == []
    flow[2]["time"] = 5
    assert kinds(check(request, flow)) == ["interval"]


# --- HTTP -----------------------------------------------------------------------------------

def test_http_endpoints_methods_and_status_codes() -> None:
    request = ("GET /api/hall2/machines/<machine> returns the state, 404 for unknown machines. "
               "QA resets it with a DELETE on the same url")
    fn = function("msg.statusCode = 404; return msg;")
    good = [node("http in", url="/api/hall2/machines/:name", method="get"),
            node("http in", url="/api/hall2/machines/:name", method="delete"), fn,
            node("http response", statusCode="")]
    assert check(request, good) == []
    bad = [node("http in", url="/api/hall2/machines/:name", method="get"),
           node("http response", statusCode="")]
    found = check(request, bad)
    assert sorted(kinds(found)) == ["http_endpoint", "status_code"]
    assert any("served for GET" in m.message for m in found)


def test_http_request_url_placeholder_method_and_msg_url() -> None:
    request = "look every code up: GET http://10.40.1.20:5000/api/items/<code>"
    assert check(request, [node("http request", method="GET",
                                url="http://10.40.1.20:5000/api/items/{{{payload}}}")]) == []
    assert kinds(check(request, [node("http request", method="POST",
                                      url="http://10.40.1.20:5000/api/items/{{payload}}")])) == [
        "http_request"]
    req = node("http request", method="GET", url="")
    fn = function('msg.url = "http://10.40.1.20:5000/api/items/" + msg.payload;', [req["id"]])
    assert check(request, [fn, req]) == []
    assert kinds(check(request, [node("http request", method="GET", url="http://x/api")])) == [
        "http_request"]


# --- timing -----------------------------------------------------------------------------------

def inject(repeat: str = "", crontab: str = "") -> Node:
    return node("inject", repeat=repeat, crontab=crontab)


@pytest.mark.parametrize(
    ("request_text", "flow", "problem"),
    [
        ("every 5 min POST it to http://h/api", [inject("300"), node("http request", url="http://h/api", method="POST")], None),
        ("every hour append a line to /data/a.csv", [inject("", "0 * * * *"), node("file", filename="/data/a.csv")], None),
        ("every hour append a line to /data/a.csv", [inject("1800"), node("file", filename="/data/a.csv")], "interval"),
        ("mon-fri at 05:40 send WARMUP to a/b/cmd", [inject("", "40 05 * * 1,2,3,4,5"), broker(), mqtt_out("a/b/cmd")], None),
        ("mon-fri at 05:40 send WARMUP to a/b/cmd", [inject("", "40 5 * * *"), broker(), mqtt_out("a/b/cmd")], "schedule"),
        ("P3 publishes every second on a/b/run", [broker(), mqtt_in("a/b/run")], None),
    ],
)
def test_timers_and_schedules(request_text: str, flow: list[Node], problem: str | None) -> None:
    found = [m for m in check(request_text, flow) if m.kind not in ("literal",)]
    assert kinds(found) == ([problem] if problem else [])


def test_rate_limits_and_timeouts() -> None:
    request = "errors go to a/b/errors, max 1 msg per 10 s; the answer has to come within 3 s"
    delay = node("delay", pauseType="rate", rate="1", nbRateUnits="10", rateUnits="second")
    trig = node("trigger", duration="3", units="s")
    assert check(request, [broker(), mqtt_out("a/b/errors"), delay, trig]) == []
    delay["nbRateUnits"] = "1"
    trig["duration"] = "3000"
    trig["units"] = "ms"
    (m,) = check(request, [broker(), mqtt_out("a/b/errors"), delay, trig])
    assert m.kind == "rate_limit" and "delay 1 msg per 1 second" in m.message


def test_cron_sets_compare_meaning_not_spelling() -> None:
    assert cron_sets("40 05 * * 1,2,3,4,5") == cron_sets("40 5 * * mon-fri")
    assert cron_sets("0 6,14,22 * * *") == cron_sets("00 6-22/8 * * *")
    assert cron_sets("0 7 * * 7") == cron_sets("0 7 * * 0")
    assert cron_sets("0 7 * * 1") != cron_sets("0 7 * * 2")
    assert cron_sets("not a cron") is None


# --- files, text, numbers -------------------------------------------------------------------

def test_files_folders_and_models() -> None:
    request = ("watch the folder /data/in: whenever a file shows up score it with "
               "/opt/plumb/models/m.onnx and log it to /data/logs/scores.csv")
    good = [node("watch", files="/data/in"), node("plumb-onnx", model="/opt/plumb/models/m.onnx"),
            node("file", filename="/data/logs/scores.csv", filenameType="str")]
    assert check(request, good) == []
    bad = copy.deepcopy(good)
    bad[0]["files"] = "/data/other"
    bad[2]["filename"] = "/data/logs/scores.csv.bak"
    found = check(request, bad)
    assert kinds(found) == ["file", "file"]
    assert "/data/logs/scores.csv" in found[1].message and "scores.csv.bak" in found[1].message


def test_literals_and_json_keys() -> None:
    request = ("publish 'loaded <code>' on a/b/ack and send HIGH to a/b/alarm; "
               "reply {\"ok\": true, \"written\": <value>}")
    good = [broker(), mqtt_out("a/b/ack"), mqtt_out("a/b/alarm"),
            function("msg.payload = `loaded ${msg.code}`; return msg;"),
            node("change", rules=[{"t": "set", "p": "payload", "to": "HIGH", "tot": "str"}]),
            function("msg.payload = {ok: true, written: msg.v}; return msg;")]
    assert check(request, good) == []
    found = check(request, [broker(), mqtt_out("a/b/ack"), mqtt_out("a/b/alarm")])
    assert [(m.kind, m.severity) for m in found] == [
        ("literal", "error"), ("literal", "warning"), ("json", "warning")]


def test_quoted_text_that_is_only_a_name_is_a_warning() -> None:
    (m,) = check("open the 'Line 2' dashboard", [])
    assert (m.kind, m.severity) == ("literal", "warning")
    assert check("one line like 'L3 OEE 82.4%'", []) == []


def test_thresholds_and_decimals_in_code() -> None:
    request = "above 6.5 bar raise an alarm; publish the value with 2 decimals"
    ok = [node("switch", property="payload", rules=[{"t": "gt", "v": "6.5", "vt": "num"}]),
          node("change", rules=[{"t": "set", "p": "payload", "to": "$round(payload, 2)"}])]
    assert check(request, ok) == []
    scaled = [node("switch", property="payload", rules=[{"t": "gt", "v": "650", "vt": "num"}]),
              function("msg.payload = Math.round(msg.payload * 100) / 100; return msg;")]
    assert check(request, scaled) == []
    found = check(request, [node("switch", property="payload", rules=[{"t": "gt", "v": "7"}])])
    assert [(m.kind, m.severity) for m in found] == [("threshold", "warning"), ("decimals", "warning")]


def test_button_and_startup() -> None:
    assert kinds(check("give me a button that reads it", [])) == ["trigger"]
    assert check("give me a button that reads it", [inject()]) == []
    assert kinds(check("publish on boot... set it right after a restart too", [inject()])) == ["trigger"]


# --- the eval references ----------------------------------------------------------------------

# Mismatches a correct reference may show, with the reason. Empty: every reference is clean.
ALLOWED: dict[str, set[tuple[str, str]]] = {}


def _case(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize("path", FLOW_CASES, ids=lambda p: p.stem)
def test_references_are_clean(path: Path) -> None:
    case = _case(path)
    found = {(m.kind, m.expected) for m in check(case["request"], case["reference"])}
    assert found == ALLOWED.get(case["id"], set())


EXAMPLES = sorted((REPO / "corpus" / "examples").glob("*.json"))
# Warnings the example library's flows raise, with the reason each is fair.
EXAMPLE_WARNINGS = {
    # "goes negative below 0" describes the signed value, it asks for no comparison
    ("modbus-input-registers-signed-x10", "threshold"),
    # "(plain number, °C with one decimal)" describes the incoming setpoint
    ("modbus-write-oven-setpoint-mqtt", "decimals"),
    # topics the flow builds at run time by lower-casing / splitting the received ones
    ("mqtt-remap-legacy-topics", "topic"),
    ("mqtt-unbundle-json-to-topics", "topic"),
    # 15 one-minute values per score: the cadence comes from a batch node, not a timer
    ("onnx-kiln-fan-power-http-alert", "interval"),
}


def test_example_library_flows_have_no_errors() -> None:
    errors, warnings = [], set()
    for path in EXAMPLES:
        example = _case(path)
        for m in check(example["request"], example["flow"]):
            if m.severity == "error":
                errors.append(f"{example['id']}: {m.message}")
            else:
                warnings.add((example["id"], m.kind))
    assert len(EXAMPLES) >= 80
    assert errors == []
    assert warnings <= EXAMPLE_WARNINGS


def _mutations(flow: list[Node]) -> Iterator[tuple[str, str, Any, list[Node]]]:
    """(label, key, old value, broken flow) for each value a node could get wrong."""
    changes: dict[str, list[tuple[str, Callable[[Any], Any]]]] = {
        "mqtt in": [("topic", lambda v: v + "x")],
        "mqtt out": [("topic", lambda v: v + "x" if v else v)],
        "modbus-client": [("tcpHost", lambda v: "10.99.99.99"), ("tcpPort", lambda v: 1502)],
        "modbus-read": [("adr", lambda v: str(int(v) + 1)), ("rate", lambda v: str(int(v) * 3))],
        "modbus-getter": [("adr", lambda v: str(int(v) + 1))],
        "modbus-write": [("adr", lambda v: str(int(v) + 1))],
        "inject": [("repeat", lambda v: str(float(v) * 3) if v else v),
                   ("crontab", lambda v: "0 3 * * *" if v else v)],
        "http in": [("url", lambda v: "/x" + v), ("method", lambda v: "put" if v != "put" else "get")],
        "http request": [("url", lambda v: v.replace("/api", "/apx"))],
        "OpcUa-Endpoint": [("endpoint", lambda v: v.replace("4840", "4841"))],
        "OpcUa-Item": [("item", lambda v: v + "X")],
        "file": [("filename", lambda v: v + ".bak")],
        "file in": [("filename", lambda v: v + ".bak")],
        "watch": [("files", lambda v: "/tmp/elsewhere")],
        "trigger": [("duration", lambda v: str(float(v) * 3))],
    }
    for i, n in enumerate(flow):
        for key, change in changes.get(str(n.get("type")), []):
            old = n.get(key)
            if old in (None, ""):
                continue
            broken = copy.deepcopy(flow)
            broken[i][key] = change(old)
            if broken[i][key] != old:
                yield f"{n['type']}.{key}", key, old, broken


def _stated(case: dict[str, Any], key: str, old: Any, flow: list[Node]) -> bool:
    """Whether the request states the value a mutation breaks (so the checker must notice):
    the literal value is in the request and no other node of the flow still carries it."""
    x = extract(case["request"])
    if key in ("topic", "tcpHost", "url", "endpoint", "item", "filename", "files"):
        stated = {t.text for t in x.topics} | {e.host for e in x.endpoints} | {
            e.url for e in x.endpoints} | {h.path for h in x.http_endpoints} | {
            r.url for r in x.http_requests} | {n.node_id for n in x.node_ids} | {
            f.path for f in x.files}
        carriers = sum(1 for n in flow if old in (n.get("topic"), n.get("filename"), n.get("files")))
        return old in stated and carriers <= 1
    if key == "adr":
        return bool(x.registers)
    if key in ("repeat", "rate"):
        return any(i.kind == "poll" for i in x.intervals)
    if key == "crontab":
        return bool(x.schedules)
    if key == "duration":
        return any(i.kind == "timeout" for i in x.intervals)
    if key == "tcpPort":
        return any(e.role == "modbus" for e in x.endpoints)
    if key == "method":
        return any(h.method_stated for h in x.http_endpoints)
    return False


@pytest.mark.parametrize("path", FLOW_CASES, ids=lambda p: p.stem)
def test_broken_references_are_caught(path: Path) -> None:
    case = _case(path)
    flow = case["reference"]
    before = {(m.kind, m.expected) for m in check(case["request"], flow)}
    missed = []
    for label, key, old, broken in _mutations(flow):
        if not _stated(case, key, old, flow):
            continue
        after = {(m.kind, m.expected) for m in check(case["request"], broken)}
        if not after - before:
            missed.append(f"{label} {old!r}")
    assert missed == []


def test_malformed_flows_do_not_break_the_checker() -> None:
    x = extract("every 5 s read HR 40100 from 10.0.0.9 unit 2 and publish on a/b/c at 05:40 daily")
    junk: list[Any] = [
        "not a node", {"type": "mqtt in"}, {"id": "b", "type": "modbus-read", "adr": "x",
                                             "quantity": None, "rate": "", "wires": "bad"},
        {"id": "c", "type": "inject", "crontab": "bad cron", "repeat": "abc"},
        {"id": "d", "type": "http in", "url": None}, {"id": "e", "type": "modbus-client"},
    ]
    found = check_values(x, junk)
    assert {"modbus_device", "register", "interval", "schedule", "topic"} <= set(kinds(found))


def test_mismatch_carries_what_a_repair_needs() -> None:
    (m,) = check("every 5 s read HR 40100 from 10.0.0.9", [client(), read(99, rate="10")])
    assert m.kind == "interval" and m.expected == "5 s"
    assert m.found == ["modbus-read every 10 s"] and m.node_ids
    assert "every 5 s" in m.message and "modbus-read every 10 s" in m.message
