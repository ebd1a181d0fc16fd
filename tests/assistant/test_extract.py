"""The deterministic extractor: table-driven phrasings, and the eval cases as ground truth.

Most rows are phrased independently of the eval cases (other words, typos, orders), so the
tests pin general rules rather than the public requests.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.extract import Extracted, Topic, extract
from assistant.valuecheck import cron_sets

REPO = Path(__file__).resolve().parents[2]
CASES = sorted((REPO / "evals" / "cases").glob("*/*.json"))


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def roles(x: Extracted) -> dict[str, str | None]:
    return {t.text: t.role for t in x.topics}


# --- MQTT topics and their roles ----------------------------------------------------------

TOPIC_ROLES = [
    ("subscribe to factory/hall1/+/temperature and forward anything above 90 to factory/alerts/overtemp",
     {"factory/hall1/+/temperature": "in", "factory/alerts/overtemp": "out"}),
    ("take the values from site/a/b/raw, multiply by 0.1 and push the result to site/a/b/scaled",
     {"site/a/b/raw": "in", "site/a/b/scaled": "out"}),
    ("when a message arrives on cell3/robot/state publish 'ALARM' to cell3/robot/alarm",
     {"cell3/robot/state": "in", "cell3/robot/alarm": "out"}),
    ("Our PLCs publish heartbeats to plc/+/heartbeat. If one goes quiet for 30 sec, send an alert to ops/alerts",
     {"plc/+/heartbeat": "in", "ops/alerts": "out"}),
    ("listen on sensors/room1/humidity and write it to /data/humidity.csv",
     {"sensors/room1/humidity": "in"}),
    ("the scale sends weights to scale/1/weight. convert grams to kg and republish on scale/1/weight_kg",
     {"scale/1/weight": "in", "scale/1/weight_kg": "out"}),
    ("set holding register 100 to the value received on cmd/setpoint/oven", {"cmd/setpoint/oven": "in"}),
    ("write msgs from cmd/valve/open to coil 00005 on 172.16.0.3", {"cmd/valve/open": "in"}),
    ("GET /status returns the last value of line/1/speed", {"line/1/speed": "in"}),
    ("PUT /setpoint writes the body to line/1/speed/set", {"line/1/speed/set": "out"}),
    ("expose POST /api/v1/orders that forwards the body to mes/orders/new",
     {"mes/orders/new": "out"}),
    ("if the temperature on oven/1/temp exceeds 250°C for more than 10 s, send 'OVERTEMP' to oven/1/alarm",
     {"oven/1/temp": "in", "oven/1/alarm": "out"}),
    ("topic data/in/raw -> data/out/clean", {"data/in/raw": "in", "data/out/clean": "out"}),
    ("sensor data comes in on iot/+/data as JSON; store the temp in /var/log/temps.log",
     {"iot/+/data": "in"}),
    ("the gateway pushes readings to gw/1/readings every 10s, I want the avg every minute on gw/1/avg",
     {"gw/1/readings": "in", "gw/1/avg": "out"}),
    ("every evening at 18:00 on weekdays publish DONE on shift/day/end", {"shift/day/end": "out"}),
    ("rate limit alerts from alerts/in/raw to 1 per minute before sending them to alerts/out/sms",
     {"alerts/in/raw": "in", "alerts/out/sms": "out"}),
    ("if no heartbeat on plc/7/hb within 2 min, raise an alarm on plc/7/alarm",
     {"plc/7/hb": "in", "plc/7/alarm": "out"}),
    ("messages on plc/cmd/speed should be written to holding register 3 of 10.0.0.2",
     {"plc/cmd/speed": "in"}),
    ("the HMI listens on hmi/display/text, send it there", {"hmi/display/text": "out"}),
    ("data from topic dev/in/x goes out as dev/out/x", {"dev/in/x": "in", "dev/out/x": "out"}),
    ("forward dev/in/y to dev/out/y only when it changes", {"dev/in/y": "in", "dev/out/y": "out"}),
    ("pls send plant/a/b/c to the cloud broker as cloud/a/b/c",
     {"plant/a/b/c": "in", "cloud/a/b/c": "out"}),
    ("line 4 packer counts get published to l4/packer/count. count them per shift and write to l4/packer/shift_total",
     {"l4/packer/count": "in", "l4/packer/shift_total": "out"}),
    ("grab the value on press/5/force every time it changes", {"press/5/force": "in"}),
    ("every 30 seconds ask the PLC for its inputs and push the states to io/di/states",
     {"io/di/states": "out"}),
    ("sensors write their readings into sensors/+/reading; compute a mean and output it on sensors/x/mean",
     {"sensors/+/reading": "in", "sensors/x/mean": "out"}),
    ("When something is published on chiller/sp/set, write it to the chiller", {"chiller/sp/set": "in"}),
    ("each time a barcode arrives on scanner/1/code look it up and send the result to scanner/1/item",
     {"scanner/1/code": "in", "scanner/1/item": "out"}),
    ("alarm if the level drops below 15 % (level is on tank/3/level) -> tank/3/low",
     {"tank/3/level": "in", "tank/3/low": "out"}),
    ("The robot controller reports its state every 2 seconds on robot/1/state. forward FAULT states to robot/1/fault",
     {"robot/1/state": "in", "robot/1/fault": "out"}),
    ("machines on line 9 publish their counts on l9/+/count. need the total on l9/total/count",
     {"l9/+/count": "in", "l9/total/count": "out"}),
    ("mixer/3/speed is an integer in rpm. make it rad/s and put it on mixer/3/speed_rads",
     {"mixer/3/speed": "in", "mixer/3/speed_rads": "out"}),
    ("the line controller answers on lc/reply/1 after we publish a request to lc/request/1",
     {"lc/reply/1": "in", "lc/request/1": "out"}),
    ("hvac/zone4/temp (plain number) -> convert to °F and republish on hvac/zone4/temp_f",
     {"hvac/zone4/temp": "in", "hvac/zone4/temp_f": "out"}),
    ("whenever a new order arrives on mes/orders/+ put the order number on line/2/order_active, retained",
     {"mes/orders/+": "in", "line/2/order_active": "out"}),
    ("new values land on lab/ph/raw; clamp them and forward to lab/ph/clean",
     {"lab/ph/raw": "in", "lab/ph/clean": "out"}),
    ("I'd like the door state from doors/+/open mirrored to bms/doors/state", {"doors/+/open": "in"}),
    ("publish the shift number to shift/current when node-red starts", {"shift/current": "out"}),
    ("the old topic legacy/oven/t is replaced by oven/3/temp from now on, publish there",
     {"legacy/oven/t": None, "oven/3/temp": "out"}),
    ("send the value on press/9/count to press/9/count_total, not press/9/old_total anymore",
     {"press/9/count": "in", "press/9/count_total": "out", "press/9/old_total": None}),
    ("subscribe to site/+/energy/kwh (e.g. site/hall1/energy/kwh) and sum all halls into site/all/energy/kwh",
     {"site/+/energy/kwh": "in", "site/hall1/energy/kwh": "in", "site/all/energy/kwh": "out"}),
    ("cameras post their verdicts to qc/cam/+/verdict - count the NOKs per hour on qc/nok/hourly",
     {"qc/cam/+/verdict": "in", "qc/nok/hourly": "out"}),
    ("if anything shows up on maint/requests/new, POST it to http://cmms.local/api/wo",
     {"maint/requests/new": "in"}),
    ("POST to https://hooks.example.com/x when plant/+/alarm payload contains CRITICAL",
     {"plant/+/alarm": "in"}),
    ("keep a rolling 10 minute average of plant/l1/power and publish it every minute to plant/l1/power_avg",
     {"plant/l1/power": "in", "plant/l1/power_avg": "out"}),
    ("MQTT in: factory/raw/#. strip the prefix and republish under factory/clean/",
     {"factory/raw/#": "in", "factory/clean/": "out"}),
    ("whenever plant/door/1 changes to OPEN send an sms", {"plant/door/1": "in"}),
    ("send the value on press/9/count to the historian", {"press/9/count": "in"}),
]


@pytest.mark.parametrize(("request_text", "expected"), TOPIC_ROLES)
def test_topic_roles(request_text: str, expected: dict[str, str | None]) -> None:
    found = roles(extract(request_text))
    assert {t: found.get(t, "MISSING") for t in expected} == expected


def test_topic_cue_is_kept_as_evidence() -> None:
    t = extract("values come in on plant/a/b and go out to plant/c/d").topics
    assert [(x.role, x.cue) for x in t] == [("in", "come"), ("out", "go")]
    assert all(x.strong for x in t)


@pytest.mark.parametrize(
    ("text", "wildcard"),
    [
        ("subscribe to plant/vib/<asset>/raw", "plant/vib/+/raw"),
        ("subscribe to plant/{line}/state", "plant/+/state"),
        ("copy everything under bms/hvac/... to the cloud", "bms/hvac/#"),
        ("from plant/line1/#", "plant/line1/#"),
        ("publish on energy/hall1/meter<id>", "energy/hall1/+"),
    ],
)
def test_topic_wildcard_form(text: str, wildcard: str) -> None:
    (topic,) = extract(text).topics
    assert topic.wildcard == wildcard
    assert topic.is_pattern


@pytest.mark.parametrize(
    "text",
    [
        "the flag is true/false and the mode RUN/STOP",
        "flow in m3/h and speed in m/min",
        "registers 40301/40302 hold the counter",
        "shifts at 06:00/14:00/22:00",
        "states STOPPED/RUNNING/IDLE",
        "append to /data/logs/x/y.csv",
        "GET http://10.0.0.1/api/a/b",
    ],
)
def test_no_false_topics(text: str) -> None:
    assert extract(text).topics == ()


def test_examples_of_a_wildcard_topic_are_marked() -> None:
    x = extract("copy bms/hvac/# to site/hvac/... (bms/hvac/ahu1/t -> site/hvac/ahu1/t)")
    by = {t.text: t for t in x.topics}
    assert by["bms/hvac/ahu1/t"].example and by["bms/hvac/ahu1/t"].role == "in"
    assert by["site/hvac/ahu1/t"].example and by["site/hvac/ahu1/t"].role == "out"
    assert not by["bms/hvac/#"].example


# --- Modbus ---------------------------------------------------------------------------------

REGISTERS = [
    # text, kind, address, count, notation
    ("holding reg 40015", "holding", 14, 1, "modicon5"),
    ("HR 0", "holding", 0, 1, "raw"),
    ("holding register 100", "holding", 100, 1, "raw"),
    ("IR 30051-30052", "input", 50, 2, "modicon5"),
    ("coils 00017-00020", "coil", 16, 4, "modicon5"),
    ("discrete input 10002", "discrete", 1, 1, "modicon5"),
    ("holding register 400001", "holding", 0, 1, "modicon6"),
    ("input regs 30021..30024", "input", 20, 4, "modicon5"),
    ("HR 40301/40302", "holding", 300, 2, "modicon5"),
    ("hr 40201-40202", "holding", 200, 2, "modicon5"),
    ("input register 30008", "input", 7, 1, "modicon5"),
    ("holding regs 0-9", "holding", 0, 10, "raw"),
    ("Input Registers 30101 to 30104", "input", 100, 4, "modicon5"),
    ("reg 40110", "holding", 109, 1, "modicon5"),
    ("register 30005", "input", 4, 1, "modicon5"),
    ("coil 00001", "coil", 0, 1, "modicon5"),
    ("DI 10001-10016", "discrete", 0, 16, "modicon5"),
    ("holding register #40050", "holding", 49, 1, "modicon5"),
    ("input reg 5", "input", 5, 1, "raw"),
    ("HR 40001-3", "holding", 0, 3, "modicon5"),
    ("4 input registers starting at 30011", "input", 10, 4, "modicon5"),
    ("input registers 30053 and 30054", "input", 52, 2, "modicon5"),
    ("HR40015", "holding", 14, 1, "modicon5"),
    ("2 floats from HR 40101", "holding", 100, 4, "modicon5"),
]


@pytest.mark.parametrize(("text", "kind", "address", "count", "notation"), REGISTERS)
def test_register_addresses(text: str, kind: str, address: int, count: int, notation: str) -> None:
    (r,) = extract(f"read {text} from the PLC at 10.0.0.1").registers
    assert (r.kind, r.address, r.count, r.notation) == (kind, address, count, notation)


def test_plain_coil_number_is_read_one_based_with_the_other_reading_kept() -> None:
    (r,) = extract("pulse coil 1 on the drive gateway 10.0.0.2").registers
    assert (r.kind, r.address, r.alt_address, r.access) == ("coil", 0, 1, "write")
    (h,) = extract("read holding register 100 of 10.0.0.2").registers
    assert (h.address, h.alt_address) == (100, 99)


def test_separately_listed_registers_are_separate_items() -> None:
    x = extract("PLC 10.1.1.1: HR 40011 = pressure (bar x100), HR 40012 = current (A x10)")
    assert [(r.address, r.count) for r in x.registers] == [(10, 1), (11, 1)]
    assert [[s.factor for s in r.scales] for r in x.registers] == [[0.01], [0.1]]
    assert [r.scales[0].unit for r in x.registers] == ["bar", "A"]


def test_register_lists_without_repeating_the_kind() -> None:
    x = extract("PLC 10.0.0.5: HR 40001 good parts, 40002 rejects, 40004 planned time")
    assert [(r.kind, r.address) for r in x.registers] == [("holding", 0), ("holding", 1), ("holding", 3)]


@pytest.mark.parametrize(
    ("text", "data_type", "order", "words"),
    [
        ("energy is uint32 in IR 30051-30052, LOW word first", "uint32", "low_first", 2),
        ("keeps it as UDINT in HR 40301/40302, high word first", "uint32", "high_first", 2),
        ("flow is a 32bit float at 40101 (big endian)", "float32", "high_first", 2),
        ("IR 30013 float, word swapped", "float32", "low_first", 2),
        ("HR 40020 holds an int32", "int32", None, 2),
        ("4 temps in IR 30011..30014, value x10 signed", "int16", None, 4),
    ],
)
def test_register_data_types(text: str, data_type: str, order: str | None, words: int) -> None:
    (r,) = extract(text + " on plc 10.0.0.1").registers
    assert (r.data_type, r.word_order, r.words) == (data_type, order, words)


@pytest.mark.parametrize(
    ("text", "factor", "unit"),
    [
        ("read IR 30008, raw value is bar*100", 0.01, "bar"),
        ("input regs 30021 (0.01 Hz)", 0.01, "Hz"),
        ("IR 30051 resolution 0.1 kWh", 0.1, "kWh"),
        ("write to HR 40031 in 0.1 g units", 0.1, "g"),
        ("level is in mm in holding reg 40015", None, "mm"),
        ("temp in HR 40002 (°C x10)", 0.1, "°C"),
    ],
)
def test_register_scale_hints(text: str, factor: float | None, unit: str) -> None:
    (r,) = extract(text + " on 10.0.0.1").registers
    assert [(s.factor, s.unit) for s in r.scales] == [(factor, unit)]


def test_function_code_and_access() -> None:
    x = extract("PLC 10.6.3.1 keeps it in HR 40301/40302. write both regs in one FC16")
    assert [(r.function_code, r.access) for r in x.registers] == [(16, "write")]
    y = extract("poll discrete input 10003 and read coil 00007 of 10.0.0.4")
    assert [r.access for r in y.registers] == ["read", "read"]


def test_numbers_that_are_not_registers() -> None:
    x = extract("counter can be bigger than 65535; scale 0-27648 = 0-100 %; port 5020 on 10.0.0.1")
    assert x.registers == ()


ENDPOINTS = [
    ("read HR 0 from the PLC at 192.168.1.10", "modbus", "192.168.1.10", None, 502),
    ("heat meter at 172.20.1.15 port 5020 (unit 9)", "modbus", "172.20.1.15", 5020, 5020),
    ("modbus tcp 10.12.0.33:1502", "modbus", "10.12.0.33", 1502, 1502),
    ("the building mgmt system runs its own mosquitto on 10.50.0.5", "broker", "10.50.0.5", None, 1883),
    ("publish to our plant broker 10.20.0.5", "broker", "10.20.0.5", None, 1883),
    ("send it to the cloud broker iot.acme-cloud.example:8883 over TLS", "broker",
     "iot.acme-cloud.example", 8883, 8883),
    ("MQTT server is mqtt.plant.local", "broker", "mqtt.plant.local", None, 1883),
    ("opc ua server opc.tcp://10.12.0.112:4840", "opcua", "10.12.0.112", 4840, 4840),
    ("poll ns=3;i=1001 on the press 10.0.5.21:4840", "opcua", "10.0.5.21", 4840, 4840),
    ("the VFD (192.168.22.14, slave 2)", "modbus", "192.168.22.14", None, 502),
    ("RS485 gw 192.168.70.30", "modbus", "192.168.70.30", None, 502),
    ("LED marquee on raw TCP 10.20.3.50:9100", "tcp", "10.20.3.50", 9100, 9100),
]


@pytest.mark.parametrize(("text", "role", "host", "port", "effective"), ENDPOINTS)
def test_endpoints(text: str, role: str, host: str, port: int | None, effective: int | None) -> None:
    (e,) = extract(text).endpoints
    assert (e.role, e.host, e.port, e.effective_port) == (role, host, port, effective)


def test_hosts_inside_urls_and_network_ranges_are_not_devices() -> None:
    x = extract("POST to http://10.0.0.90:5000/api/errors; their PLCs are on 10.50.0.0/24")
    assert x.endpoints == ()


def test_opcua_endpoint_keeps_the_path() -> None:
    (e,) = extract("server opc.tcp://plc1.local:4840/UA/Server, read it").endpoints
    assert (e.role, e.host, e.url) == ("opcua", "plc1.local", "opc.tcp://plc1.local:4840/UA/Server")


UNIT_IDS = [
    ("radar 10.8.2.31 unit id 4.", (4,)),
    ("controller 10.14.2.9 uid 1", (1,)),
    ("VFD 10.9.0.44, slave 6", (6,)),
    ("gateway 10.4.0.20, slave ids 1,2,3", (1, 2, 3)),
    ("drives on gateway 10.3.0.2, unit id 11-14", (11, 12, 13, 14)),
    ("gw 192.168.70.30, slave id = fan no (1-6)", (1, 2, 3, 4, 5, 6)),
    ("meter 10.3.0.40 (Unit-ID: 7)", (7,)),
    ("PLC 10.0.0.1 slave address 3", (3,)),
    ("gateway 10.0.0.2, modbus id 7", (7,)),
]


@pytest.mark.parametrize(("text", "values"), UNIT_IDS)
def test_unit_ids_attach_to_the_device(text: str, values: tuple[int, ...]) -> None:
    x = extract(text)
    assert [u.values for u in x.unit_ids] == [values]
    (device,) = [e for e in x.endpoints if e.role == "modbus"]
    assert device.unit_ids == values and x.unit_ids[0].device == device.host


def test_several_devices_keep_their_own_unit_ids() -> None:
    x = extract("read IR 30001 from the flowmeter 192.168.80.10 (unit 3) and write HR 40100 "
                "on the VFD gateway 192.168.80.20, unit 7")
    assert {e.host: e.unit_ids for e in x.endpoints} == {"192.168.80.10": (3,), "192.168.80.20": (7,)}
    assert [r.device for r in x.registers] == ["192.168.80.10", "192.168.80.20"]


def test_pump_station_number_is_not_a_unit_id() -> None:
    assert extract("pump station 1, P3 publishes on plant/ps1/p3/running").unit_ids == ()


# --- HTTP -----------------------------------------------------------------------------------

def test_served_endpoints_and_methods() -> None:
    x = extract("POST /api/batch/start with {\"batch\":\"..\"}. GET /api/line5/scrap -> {\"count\": n}. "
                "QA resets it with a DELETE on the same url. helper: GET /tools/bar2psi?bar=6.5")
    assert [(h.method, h.path) for h in x.http_endpoints] == [
        ("post", "/api/batch/start"), ("get", "/api/line5/scrap"), ("delete", "/api/line5/scrap"),
        ("get", "/tools/bar2psi")]


@pytest.mark.parametrize(
    ("text", "method", "path"),
    [
        ("need a POST endpoint /api/ahu3/fan_speed for the BMS", "post", "/api/ahu3/fan_speed"),
        ("MES POSTs {\"zpl\":\"...\"} to /api/line2/label", "post", "/api/line2/label"),
        ("need GET /api/hall2/machines/<machine> returning json", "get", "/api/hall2/machines/:machine"),
        ("simple web page at /status/line2 for the shift lead", "get", "/status/line2"),
        ("webhook: PUT /hooks/cmms/{order} updates it", "put", "/hooks/cmms/:order"),
        ("serve the csv as a download at /api/alarms.csv", "get", "/api/alarms.csv"),
    ],
)
def test_served_endpoint_phrasings(text: str, method: str, path: str) -> None:
    (h,) = extract(text).http_endpoints
    assert (h.method, h.path) == (method, path)


@pytest.mark.parametrize(
    ("text", "method", "url"),
    [
        ("POST the error to our alarm webhook http://10.0.0.90:5000/api/errors", "POST",
         "http://10.0.0.90:5000/api/errors"),
        ("look it up: GET http://10.40.1.20:5000/api/items/<code>, then", "GET",
         "http://10.40.1.20:5000/api/items/<code>"),
        ("every 10min do a PUT to http://support.vendor.local/api/hb with json", "PUT",
         "http://support.vendor.local/api/hb"),
        ("each alarm should also be POSTed to the andon server http://10.20.8.50:3000/api/events.",
         "POST", "http://10.20.8.50:3000/api/events"),
        ("query the REST API http://10.20.4.31/api/v1/status every 30 s", None,
         "http://10.20.4.31/api/v1/status"),
        ("call https://erp.example.com/orders/{id}/confirm", None,
         "https://erp.example.com/orders/{id}/confirm"),
    ],
)
def test_outgoing_requests(text: str, method: str | None, url: str) -> None:
    (r,) = extract(text).http_requests
    assert (r.method, r.url) == (method, url)


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("answer 200 \"READY\" when true, otherwise 503 \"NOT READY\"", [200, 503]),
        ("missing rpm or more than 1800 -> 400", [400]),
        ("404 for a machine we never heard from", [404]),
        ("the caller must get a 500 with the error message", [500]),
        ("reply 202 straight away", [202]),
        ("keep the last 500 alarms and the severity >= 500 ones", []),
        ("[200 values, kN] per stroke", []),
    ],
)
def test_status_codes(text: str, codes: list[int]) -> None:
    assert [c.code for c in extract(text).status_codes] == codes


# --- OPC UA ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "node_id", "data_type"),
    [
        ("level ns=2;s=Tank4.Level, % on the server", "ns=2;s=Tank4.Level", None),
        ("write ns=2;s=Chiller2.SupplyTempSP (Double) on", "ns=2;s=Chiller2.SupplyTempSP", "Double"),
        ("cycle counter is ns=4;i=2107 (Int32). read it", "ns=4;i=2107", "Int32"),
        ("burner = ns=2;s=Kiln1.Burner.On (bool) at", "ns=2;s=Kiln1.Burner.On", "Boolean"),
        ("-> opc ua ns=3;i=2050, datatype Int32, endpoint", "ns=3;i=2050", "Int32"),
        ("write it as Double to ns=2;s=Oven1.TempSetpoint on", "ns=2;s=Oven1.TempSetpoint", "Double"),
        ("the order no. ns=3;s=Packer2.OrderNo (String) on", "ns=3;s=Packer2.OrderNo", "String"),
        ("events of the server object (i=2253)", "i=2253", None),
    ],
)
def test_opcua_node_ids(text: str, node_id: str, data_type: str | None) -> None:
    (n,) = extract(text).node_ids
    assert (n.node_id, n.data_type) == (node_id, data_type)


def test_opcua_string_ids_with_quotes() -> None:
    (n,) = extract('read ns=3;s="Line1"."Temperature" on opc.tcp://10.0.0.1:4840').node_ids
    assert n.node_id == 'ns=3;s="Line1"."Temperature"'


def test_opcua_type_before_a_list_applies_to_all() -> None:
    x = extract("as metres, Double: ns=2;s=T.A, ns=2;s=T.B, ns=2;s=T.C. refresh every 2s")
    assert [(n.node_id, n.data_type) for n in x.node_ids] == [
        ("ns=2;s=T.A", "Double"), ("ns=2;s=T.B", "Double"), ("ns=2;s=T.C", "Double")]


def test_node_id_inside_json_stops_at_the_bracket() -> None:
    x = extract('POST json {"code":<value of ns=2;s=Press7.FaultCode>} to http://h/api')
    assert [n.node_id for n in x.node_ids] == ["ns=2;s=Press7.FaultCode"]


# --- intervals and schedules ----------------------------------------------------------------

INTERVALS = [
    ("read it every 5 s", "poll", 5.0),
    ("poll every second", "poll", 1.0),
    ("read it evry 2s and send it", "poll", 2.0),
    ("every 10min do a PUT", "poll", 600.0),
    ("sample every 500 ms", "poll", 0.5),
    ("every hour append a line", "poll", 3600.0),
    ("each minute publish the count", "poll", 60.0),
    ("poll 1s", "poll", 1.0),
    ("subscribe (1s) and send", "poll", 1.0),
    ("subscribe with 1 s publishing interval", "poll", 1.0),
    ("refresh every 2 secs", "poll", 2.0),
    ("publish it every quarter hour", "poll", 900.0),
    ("read it every other minute", "poll", 120.0),
    ("read each every 15 mins", "poll", 900.0),
    ("monitor the tag with 250ms sampling", "poll", 0.25),
    ("twice a minute query the api", "poll", 30.0),
    ("the station should be polled every 10 minutes", "poll", 600.0),
    ("FT-210 flow (m³/h, ~1 value/s) from the meter", "source", 1.0),
    ("score a window of 64 samples, new score every 32 s", "window", 32.0),
    ("P3 publishes its flag every second on plant/p3/run", "source", 1.0),
    ("the gateway sends json every 5 s on pumps/p7/features", "source", 5.0),
    ("both come on robot/r3/torque and robot/r3/speed, both ~5 Hz", "source", 0.2),
    ("temp arrives 10x per second on plant/temp_raw", "source", 0.1),
    ("has to come within 5s", "timeout", 5.0),
    ("if no product for 5 s, alarm", "timeout", 5.0),
    ("if nothing arrives for 20 s publish lost", "timeout", 20.0),
    ("door open > 5 min -> alarm", "timeout", 300.0),
    ("raise it if the link is down for more than 30 s", "timeout", 30.0),
    ("wait 10 s and then reset", "delay", 10.0),
    ("if reading fails try again every 2 s", "retry", 2.0),
    ("ERP is flaky - retry every 60 s, max 5 tries", "retry", 60.0),
    ("15-min kWh values come in", "window", 900.0),
    ("1 min average on plant/x/avg", "window", 60.0),
]


@pytest.mark.parametrize(("text", "kind", "seconds"), INTERVALS)
def test_intervals(text: str, kind: str, seconds: float) -> None:
    (i,) = extract(text).intervals
    assert i.kind == kind
    assert i.seconds == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "count", "seconds"),
    [
        ("max 1 msg per 10 s, drop the rest", 1, 10.0),
        ("throttle to 1 msg/s but queue", 1, 1.0),
        ("max one SMS every 30 s", 1, 30.0),
        ("the gateway chokes on more than 1 write per sec", 1, 1.0),
        ("max once every 5 s", 1, 5.0),
        ("rate limit the alerts to 1 per minute", 1, 60.0),
        ("at most 10 messages per minute", 10, 60.0),
    ],
)
def test_rate_limits(text: str, count: int, seconds: float) -> None:
    (i,) = extract(text).intervals
    assert (i.kind, i.count, i.seconds) == ("rate_limit", count, seconds)


def test_service_counter_in_hours_is_no_timer() -> None:
    (i,) = extract("when service is due (every 2000 h) POST a work request").intervals
    assert i.kind != "poll" and i.seconds == 7_200_000


SCHEDULES = [
    ("mon-fri at 05:40 send WARMUP", "40 5 * * 1-5"),
    ("every day at 00:05 score the values", "5 0 * * *"),
    ("at every shift change 06:00 / 14:00 / 22:00 read the meter", "0 6,14,22 * * *"),
    ("every monday 7am reset it", "0 7 * * 1"),
    ("every morning 05:55 pulse the reset", "55 5 * * *"),
    ("05:30 Mon-Sat send the recipe", "30 5 * * 1-6"),
    ("at 6:00, 14:00 and 22:00 read the counters", "0 6,14,22 * * *"),
    ("the shift total at 6/14/22 h", "0 6,14,22 * * *"),
    ("on weekdays at 7:15 pm send it", "15 19 * * 1-5"),
    ("daily at noon publish the report", "0 12 * * *"),
    ("every saturday and sunday at 23:00 archive it", "0 23 * * 0,6"),
    ("weekends at 08:00 send a test message", "0 8 * * 0,6"),
]


@pytest.mark.parametrize(("text", "cron"), SCHEDULES)
def test_schedules(text: str, cron: str) -> None:
    (s,) = extract(text).schedules
    assert s.cron == cron


def test_timestamps_in_examples_are_not_schedules() -> None:
    assert extract("append a line like 2024-05-02 10:15:03 cycle=812ms").schedules == ()
    assert extract("publish at 05:40, nothing on weekends").schedules[0].cron == "40 5 * * *"


def test_schedule_phrase_is_not_also_an_interval() -> None:
    x = extract("every day at 00:05 score yesterdays values")
    assert x.intervals == () and len(x.schedules) == 1


# --- thresholds, decimals, qos, retain ------------------------------------------------------

THRESHOLDS = [
    ("let only the values above 7.1 through", "gt", 7.1, None, None, "limit"),
    ("> 0.3 = anomaly", "gt", 0.3, None, None, "limit"),
    ("when it goes over 80 °C send", "gt", 80.0, None, "°C", "limit"),
    ("missing rpm or more than 1800 -> 400", "gt", 1800.0, None, None, "limit"),
    ("warn below 4 bar", "lt", 4.0, None, "bar", "limit"),
    ("anomaly when < -0.1", "lt", -0.1, None, None, "limit"),
    ("only 4.0-12.0 °C allowed", "range", 4.0, 12.0, "°C", "range"),
    ("ignore anything outside 20-250", "outside", 20.0, 250.0, None, "range"),
    ("ignore 0 / negative values", "le", 0.0, None, None, "limit"),
    ("when it moved by 2 or more against the last value", "ge", 2.0, None, None, "deadband"),
    ("only when it moves more than 0.5 °C", "gt", 0.5, None, "°C", "deadband"),
    ("severity >= 500 -> mqtt", "ge", 500.0, None, None, "limit"),
    ("warn at >90% on tanks/t12/alarm", "gt", 90.0, None, "%", "limit"),
    ("target must be between 10 and 5000 g", "range", 10.0, 5000.0, "g", "range"),
    ("speed at least 20 rpm", "ge", 20.0, None, "rpm", "limit"),
    ("clamp 0-100%", "range", 0.0, 100.0, "%", "range"),
]


@pytest.mark.parametrize(("text", "op", "value", "high", "unit", "kind"), THRESHOLDS)
def test_thresholds(text: str, op: str, value: float, high: float | None, unit: str | None,
                    kind: str) -> None:
    (t,) = extract(text).thresholds
    assert (t.op, t.value, t.high, t.unit, t.kind) == (op, value, high, unit, kind)


@pytest.mark.parametrize(
    "text",
    ["4-20mA = 0-16 bar", "scaled 0-27648 = 0-100%", "max 5 tries then alarm", "port 1880",
     "give up after 3 retries", "more sensors are coming"],
)
def test_no_false_thresholds(text: str) -> None:
    assert extract(text).thresholds == ()


@pytest.mark.parametrize(
    ("text", "places"),
    [("1 decimal", 1), ("with 2 decimals", 2), ("metres (3 decimals)", 3), ("bar w/ 2 decimals", 2),
     ("rounded to one decimal", 1), ("round to 2 decimal places", 2), ("no decimals", 0)],
)
def test_decimals(text: str, places: int) -> None:
    assert [d.places for d in extract(text).decimals] == [places]


def test_qos_and_retain_attach_to_the_nearest_topic() -> None:
    x = extract("pass it on to plc/line6/recipe/cmd, qos2 and retained. raw data on plant/a/b")
    assert [(q.level, q.topic) for q in x.qos] == [(2, "plc/line6/recipe/cmd")]
    assert [(r.retain, r.topic) for r in x.retain] == [(True, "plc/line6/recipe/cmd")]
    y = extract("publish the state with QoS 1, not retained")
    assert [(q.level, q.topic) for q in y.qos] == [(1, None)]
    assert [r.retain for r in y.retain] == [False]


def test_keeping_retained_flags_is_no_retain_request() -> None:
    assert extract("mirror everything to acme/x/y, keep retained flags").retain == ()


# --- files, literals, json, triggers --------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "path", "kind", "mode"),
    [
        ("append to /data/logs/wrapped_pallets.txt, one id per line", "/data/logs/wrapped_pallets.txt",
         "file", "append"),
        ("write it to /data/line5/active_recipe.json (replace the file)", "/data/line5/active_recipe.json",
         "file", "overwrite"),
        ("watch the folder /data/reports/outbox: whenever a file shows up", "/data/reports/outbox",
         "folder", "watch"),
        ("score it with /opt/plumb/models/st5_torque.onnx", "/opt/plumb/models/st5_torque.onnx",
         "model", None),
        ("log every reading to /var/log/plant/b2.csv", "/var/log/plant/b2.csv", "file", "append"),
        ("return /data/recipes/<name>.json", "/data/recipes/<name>.json", "file", None),
    ],
)
def test_files(text: str, path: str, kind: str, mode: str | None) -> None:
    (f,) = extract(text).files
    assert (f.path, f.kind, f.mode) == (path, kind, mode)


def test_relative_file_names_and_http_paths_are_told_apart() -> None:
    x = extract("drop the summary in there as line1_shift.txt. GET /api/press7/events serves the log")
    assert [(f.path, f.relative) for f in x.files] == [("line1_shift.txt", True)]
    assert [h.path for h in x.http_endpoints] == ["/api/press7/events"]


def test_literals() -> None:
    x = extract("publish 'loaded <code>' on a/b/c and \"START FAILED conv4\" on a/b/d; send the "
                "text HIGH OIL TEMP to a/b/e, publish RUNNING / STOPPED / FAULT on a/b/f. it's fine")
    assert [(lit.value, lit.quoted) for lit in x.literals] == [
        ("loaded <code>", True), ("START FAILED conv4", True), ("HIGH OIL TEMP", False),
        ("RUNNING", False), ("STOPPED", False), ("FAULT", False)]


def test_literals_say_whether_the_flow_must_send_them() -> None:
    x = extract("answer on a/b/ack: 'ok' when written, 'rejected: local' otherwise. open the "
                "'Line 2' dashboard. one text line like 'L3 OEE 82.4%'. with \"line\":\"line2\"")
    assert [(lit.value, lit.output, lit.example) for lit in x.literals] == [
        ("ok", True, False), ("rejected: local", True, False), ("Line 2", False, False),
        ("L3 OEE 82.4%", False, True)]


def test_json_shapes_and_their_role() -> None:
    x = extract('edge alive: every 15s publish {"host":"edge02","ts":<epoch ms>} on site/e/alive. '
                'BMS publishes json like {"sp": 6.5, "user": "jdoe"} on bms/sp. '
                "POST /api/x with {\"batch\":\"..\",\"qty\":n} -> put it on a/b/c")
    assert [(j.keys, j.role) for j in x.json_shapes] == [
        (("host", "ts"), "out"), (("sp", "user"), "in"), (("batch", "qty"), "in")]


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("give me a button in node red that acks all alarms", ["button"]),
        ("no cyclic polling, only when I click", ["button"]),
        ("read it at request time and answer", ["on_request"]),
        ("read the two tags at call time", ["on_request"]),
        ("keep them in context, dont query the devices on each call", []),
        ("set it right after a restart too", ["startup"]),
        ("first trigger after a deploy has no start value yet", []),
    ],
)
def test_triggers(text: str, kinds: list[str]) -> None:
    assert [t.kind for t in extract(text).triggers] == kinds


# --- the whole result -----------------------------------------------------------------------

def test_summary_and_to_dict() -> None:
    x = extract("heat meter at 172.20.1.15 port 5020 (unit 9): uint32 in IR 30051-30052, LOW word "
                "first. read it every 2 s -> utilities/heat/hm3/energy_kwh")
    lines = x.summary()
    assert "Modbus device 172.20.1.15 port 5020, unit id 9" in lines
    assert any("zero-based addresses 50-51" in line and "low word first" in line for line in lines)
    assert "publish to utilities/heat/hm3/energy_kwh" in lines
    assert "every 2 s" in lines
    data = x.to_dict()
    assert data["registers"][0]["address"] == 50 and data["registers"][0]["words"] == 2
    assert data["endpoints"][0]["unit_ids"] == [9]
    json.dumps(data)  # plain JSON types only


def test_empty_request() -> None:
    x = extract("make the PLC data available to the other systems")
    assert x.is_empty() and x.summary() == []


def test_items_are_frozen() -> None:
    (t,) = extract("publish to a/b/c").topics
    with pytest.raises(AttributeError):
        t.role = "in"  # type: ignore[misc]


# --- the eval cases as ground truth ---------------------------------------------------------

def _covers(pattern: str, topic: str) -> bool:
    p, t = pattern.split("/"), topic.split("/")
    for i, level in enumerate(p):
        if level == "#":
            return True
        if i >= len(t) or level not in ("+", t[i]):
            return False
    return len(p) == len(t)


def true_role(case: dict[str, Any], topic: Topic) -> str | None:
    """What a topic really is in a case: subscribed by an mqtt in of the reference, published
    by an mqtt out, or (for topics computed at run time) what the behaviour steps do with it."""
    flow = case["reference"]
    ins = [str(n.get("topic") or "") for n in flow if n.get("type") == "mqtt in"]
    outs = [str(n.get("topic") or "") for n in flow if n.get("type") == "mqtt out"]
    if any(f and (_covers(f, topic.wildcard) or f == topic.wildcard) for f in ins):
        return "in"
    if any(t in (topic.text, topic.wildcard) for t in outs):
        return "out"
    for step in (s for b in case.get("behaviour", []) for s in b["steps"]):
        if "mqtt_publish" in step and _covers(topic.wildcard, step["mqtt_publish"]["topic"]):
            return "in"
        if "expect_mqtt" in step and _covers(topic.wildcard, step["expect_mqtt"]["topic"]):
            return "out"
    return "out" if "" in outs else None


def topic_role_report() -> tuple[int, int, list[str]]:
    """(correct, total, wrong lines) of topic roles over every flow case."""
    good, total, wrong = 0, 0, []
    for path in CASES:
        case = _load(path)
        if case["outcome"] != "flow":
            continue
        for topic in extract(case["request"]).topics:
            expected, got = true_role(case, topic), topic.role
            total += 1
            good += expected == got
            if expected != got:
                wrong.append(f"{case['id']}: {topic.text} expected {expected}, got {got} ({topic.cue})")
    return good, total, wrong


def test_topic_roles_on_the_eval_cases() -> None:
    good, total, wrong = topic_role_report()
    assert total >= 130
    assert wrong == [] and good == total


# Topics of the example library whose role the rules do not find, and why.
EXAMPLE_ROLE_MISSES = {
    ".../percent",  # a tail of the input topic, not a topic of its own
    "plant/utilities/mcc1/kw",  # "break it up: X, .../kvar": the list after a colon has no cue
}


def test_topic_roles_on_the_example_library() -> None:
    misses, total = set(), 0
    for path in sorted((REPO / "corpus" / "examples").glob("*.json")):
        example = _load(path)
        case = {"reference": example["flow"], "behaviour": []}
        for topic in extract(example["request"]).topics:
            total += 1
            if true_role(case, topic) != topic.role:
                misses.add(topic.text)
    assert total >= 80
    assert misses <= EXAMPLE_ROLE_MISSES


def _stated(value: str, text: str) -> bool:
    return re.search(rf"(?<![\w/.-]){re.escape(value)}(?![\w/-])", text) is not None


def _pinned_values(m: dict[str, Any], x: Extracted, text: str) -> list[bool]:
    """For one matcher: whether each value it pins that the request states was extracted."""
    types, props = m.get("type", []), m.get("props", {})
    checks: list[bool] = []
    topic = props.get("topic")
    if isinstance(topic, str) and {"mqtt in", "mqtt out"} & set(types) and _stated(topic, text):
        checks.append(topic in {t.text for t in x.topics} | {t.wildcard for t in x.topics})
    if "adr" in props and x.registers:
        adr = int(props["adr"])
        checks.append(any(r.address <= adr < r.address + r.words for r in x.registers))
    if isinstance(props.get("tcpHost"), str) and _stated(props["tcpHost"], text):
        checks.append(props["tcpHost"] in {e.host for e in x.endpoints})
    for key in ("unit_id", "unitid"):
        if key in props and x.unit_ids:
            checks.append(int(props[key]) in {v for u in x.unit_ids for v in u.values})
    if isinstance(props.get("url"), str) and "http in" in types:
        checks.append(props["url"] in {h.path for h in x.http_endpoints})
    if isinstance(props.get("url"), str) and "http request" in types:
        checks.append(props["url"] in {r.url for r in x.http_requests})
    if isinstance(props.get("item"), str):
        checks.append(props["item"] in {n.node_id for n in x.node_ids})
    if isinstance(props.get("endpoint"), str):
        checks.append(props["endpoint"] in {e.url for e in x.endpoints})
    if "interval_s" in m:
        checks.append(float(m["interval_s"]) in {i.seconds for i in x.intervals if i.kind == "poll"})
    if "cron" in m:
        checks.append(cron_sets(m["cron"]) in {cron_sets(s.cron) for s in x.schedules})
    return checks


FLOW_CASES = [p for p in CASES if _load(p)["outcome"] == "flow"]


@pytest.mark.parametrize("path", FLOW_CASES, ids=lambda p: p.stem)
def test_extraction_covers_what_the_case_matchers_pin(path: Path) -> None:
    """Every concrete value a case's matchers pin and the request states is extracted,
    normalised the way the matcher spells it (topics, zero-based registers, hosts, unit ids,
    urls, node ids, intervals, crontabs). A matcher with alternatives needs one of them."""
    case = _load(path)
    x = extract(case["request"])
    for name, matcher in case["nodes"].items():
        options = [_pinned_values(alt, x, case["request"]) for alt in matcher.get("any", [matcher])]
        pinned = [o for o in options if o]
        assert not pinned or any(all(o) for o in pinned), (name, matcher)


WORDS = st.sampled_from(
    ["every", "5", "s", "read", "HR", "40001", "40002-40005", "coil", "00001", "unit", "3", "slave", "id", "=", "(1-6)", "from", "to", "on", "->", "10.0.0.1", ":502", "port", "a/b/c", "+", "#", "<x>", "{y}", "...", "/", "/api/x", "GET", "POST", "http://h/x", "opc.tcp://h:4840", "ns=2;s=A.B", "(Double)", ">", "<", "%", "°C", "x10", "*100", "0.1", "kWh", "at", "05:40", "mon-fri", "7am", '"', "'", "{", "}", "(", ")", ",", ".", ";", ":", "decimals", "qos", "2", "retained", "button", "within", "for", "max", "msg", "per", "sec", "min", "h"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(WORDS, max_size=30), st.sampled_from([" ", "", "  "]))
def test_any_text_extracts_without_error(words: list[str], sep: str) -> None:
    text = sep.join(words)
    x = extract(text)
    for item in x.items():
        assert text[item.start:item.end] == item.text
    json.dumps(x.to_dict())
    x.summary()


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_offsets_point_at_the_text(path: Path) -> None:
    request = _load(path)["request"]
    for item in extract(request).items():
        assert request[item.start:item.end] == item.text, item


def test_fast_enough_for_every_request() -> None:
    requests = [_load(p)["request"] for p in CASES]
    extract(requests[0])
    start = time.perf_counter()
    for r in requests:
        extract(r)
    assert time.perf_counter() - start < 2.0


if __name__ == "__main__":  # python -m tests.assistant.test_extract: the topic-role report
    ok, n, lines = topic_role_report()
    print("\n".join(lines))
    print(f"topic roles on the eval cases: {ok}/{n} correct ({ok / n:.1%})")
