"""Function bodies code writes for common patterns: each recipe's code is run in QuickJS on
messages and its output checked; requests outside the patterns must be declined."""

from __future__ import annotations

import time
from typing import Any

import pytest

from assistant.generate.functions import FunctionSpec, check_code
from assistant.generate.jsrun import run_messages
from assistant.generate.pipeline import generate
from assistant.generate.recipes import write_by_recipe
from assistant.generate.skeleton import build_skeleton
from assistant.generate.understand import understand
from assistant.models.base import FakeModel


def recipe(request: str, role: str = "main") -> tuple[str | None, FunctionSpec]:
    """The recipe code for the (first) function of `role` the skeleton plans."""
    u, found = understand(request)
    skeleton = build_skeleton(u)
    specs = [s for s in skeleton.functions.values() if s.role == role]
    assert specs, f"the skeleton planned no {role} function for: {request}"
    code = write_by_recipe(specs[0], found, u)
    if code is not None:
        assert check_code(code, specs[0]) is None, code
    return code, specs[0]


def outputs(code: str, payloads: list[Any], n: int = 1, **extra: Any) -> list[Any]:
    runs = run_messages(code, [{"payload": p, "topic": "t", **extra} for p in payloads], n)
    assert all(r.ok for r in runs), [r.error for r in runs]
    assert len(runs) == len(payloads)
    return [r.outputs for r in runs]


def payload_of(code: str, payload: Any, **extra: Any) -> Any:
    out = outputs(code, [payload], **extra)[0][0]
    return None if out is None else out["payload"]


def fails(code: str, payload: Any) -> str:
    run = run_messages(code, [{"payload": payload, "topic": "t"}])[0]
    assert not run.ok
    return run.error or ""


def test_register_scaled_and_rounded() -> None:
    code, _ = recipe("every 2 s read holding register 40010 of PLC 10.1.1.5 (value x10) "
                     "and publish it in °C with 1 decimal on site/oven3/temp")
    assert code is not None
    assert payload_of(code, [253]) == 25.3
    assert payload_of(code, [-7]) == -0.7
    assert "array" in fails(code, 12)


def test_fahrenheit_to_celsius_throws_on_text() -> None:
    code, _ = recipe("the probe reports degF on lab/bath/f. republish in °C, 1 decimal, "
                     "on lab/bath/c")
    assert code is not None
    assert payload_of(code, 212) == 100
    assert payload_of(code, "50") == 10
    assert "not a number" in fails(code, "n/a")


def test_loop_current_range() -> None:
    code, _ = recipe("level probe sends raw mA on tank2/ma. 4-20mA = 0-5 m. publish metres "
                     "with 2 decimals to tank2/level")
    assert code is not None
    assert payload_of(code, 12) == 2.5
    assert payload_of(code, 4) == 0


def test_envelope_template_with_time() -> None:
    code, _ = recipe('FT-9 flow arrives as a number (m3/h) on area2/ft9. wrap it as '
                     '{"tag":"FT9","value":<num>,"ts":<epoch ms>} and publish on hist/ft9')
    assert code is not None
    before = time.time() * 1000
    body = payload_of(code, 12.5)
    assert body["tag"] == "FT9" and body["value"] == 12.5
    assert body["ts"] >= before - 1000


def test_uint32_low_word_first_with_resolution() -> None:
    code, _ = recipe("water meter at 10.3.3.9 unit 2: volume is uint32 in IR 30011-30012, "
                     "low word first, resolution 0.1 m3. read it every 5 s -> util/water/m3")
    assert code is not None
    assert payload_of(code, [1, 2]) == pytest.approx((2 * 65536 + 1) / 10)


def test_block_of_registers_to_named_json() -> None:
    code, _ = recipe("drive 7 (10.2.2.7, slave 1): input regs 30101..30103 = speed (0.1 rpm), "
                     "torque (0.01 Nm), temp (°C). read all 3 every 2 s and publish one json "
                     "{speed_rpm, torque_nm, temp_c} on drives/d7")
    assert code is not None
    assert payload_of(code, [15005, 1234, 40]) == {"speed_rpm": 1500.5, "torque_nm": 12.34,
                                                   "temp_c": 40}


def test_formula_on_json_fields_with_error_guard() -> None:
    code, _ = recipe("dryer batches come on plant/dry/batch as json (batch, wet, dry in kg). "
                     "calc loss = wet - dry and publish {batch, loss_kg} on plant/dry/loss. if "
                     "anything throws (missing fields, loss < 0) put the error text on "
                     "plant/dry/alarm")
    assert code is not None
    assert payload_of(code, {"batch": "B1", "wet": 100, "dry": 80}) == {"batch": "B1",
                                                                         "loss_kg": 20}
    assert "wet" in fails(code, {"batch": "B2", "dry": 80})
    assert "loss < 0" in fails(code, {"batch": "B3", "wet": 50, "dry": 80})


def test_one_field_per_device_topic() -> None:
    code, _ = recipe('every pump pushes json like {"flow":3.2,"rpm":1450} to site/pumps/<pump>/'
                     "data. I only need the flow as a plain number on site/pumps/<pump>/flow")
    assert code is not None
    out = outputs(code, [{"flow": 3.2, "rpm": 1450}], topic="site/pumps/p7/data")
    assert out[0][0]["payload"] == 3.2
    assert out[0][0]["topic"] == "site/pumps/p7/flow"


def test_value_and_alarm_outputs() -> None:
    code, spec = recipe("oil temp ns=2;s=Gear1.OilTemp on opc.tcp://10.9.9.9:4840 - read it "
                        "every 5 s, value to gear1/oil_temp, and when it's above 80 °C send HOT "
                        "to gear1/alarm")
    assert code is not None and len(spec.outputs) == 2
    [[value, alarm]] = outputs(code, [85.5], n=2)
    assert value["payload"] == 85.5 and alarm["payload"] == "HOT"
    [[value, alarm]] = outputs(code, [60], n=2)
    assert value["payload"] == 60 and alarm is None


def test_status_word_bits_with_priority() -> None:
    code, _ = recipe("mixer M1, controller 10.6.6.1 uid 1. status word is HR 40020: bit 1 = "
                     "running, bit 4 = fault. poll it every second and publish RUNNING / IDLE / "
                     "FAULT on mix/m1/state, fault wins over running")
    assert code is not None
    assert payload_of(code, [2]) == "RUNNING"
    assert payload_of(code, [18]) == "FAULT"
    assert payload_of(code, [0]) == "IDLE"


def test_delta_skips_the_first_reading() -> None:
    code, _ = recipe("gas meter 4 sends its running m3 total on util/gm4/total. publish the "
                     "consumption since the previous reading on util/gm4/delta")
    assert code is not None
    results = outputs(code, [1000.5, 1003.7, 1003.7])
    assert results[0] == [None]
    assert results[1][0]["payload"] == pytest.approx(3.2)
    assert results[2][0]["payload"] == 0


def test_uint32_split_for_a_register_pair() -> None:
    code, _ = recipe("order quantity comes on mes/l3/qty as a plain integer, may exceed 65535. "
                     "PLC 10.7.7.7 unit 1 keeps it as UDINT in HR 40501/40502, high word first. "
                     "write both regs in one FC16")
    assert code is not None
    assert payload_of(code, 70000) == [1, 4464]
    assert "uint32" in fails(code, 1.5)


def test_error_reports() -> None:
    original, _ = recipe("cycle data on plant/p1/cycle (json cycle, a, b). c = a * b -> "
                         "publish {cycle, c} on plant/p1/c. if a message makes the calc fail, "
                         "put the original message unchanged on dlq/plant/p1/cycle", "errors")
    assert original is not None
    error = {"message": "boom", "source": {"id": "n1", "type": "function", "name": "calc"}}
    assert payload_of(original, {"cycle": 1}, error=error) == {"cycle": 1}
    as_json, _ = recipe("TT4 comes in °F on plant/x/tt4 -> convert to °C in a function, publish "
                        "on plant/x/tt4_c. all errors of that tab go to plant/x/errors as json "
                        "{source, error}", "errors")
    assert as_json is not None
    assert payload_of(as_json, 1, error=error) == {"source": "calc", "error": "boom"}


def test_fixed_text_reply() -> None:
    code, _ = recipe("the load balancer needs GET /alive -> 200 with the body just UP "
                     "(text/plain)")
    assert code is not None
    [[reply]] = outputs(code, [{}])
    assert reply["payload"] == "UP" and reply["statusCode"] == 200
    assert reply["headers"]["content-type"] == "text/plain"


@pytest.mark.parametrize("request_text", [
    # state the recipes do not model, routing, formats: these are the model's to write
    "vibration of mill 4 comes on plant/m4/vib. keep a 10 minute rolling window and publish "
    "the highest value in it on plant/m4/vib_max",
    'inspection results on qc/res as json {part, verdict}. route PASS -> qc/ok, FAIL -> qc/bad',
    "shift events on plant/l2/event (json: who, what). send a text like  Anna: stop  to "
    "display/l2",
    "good and reject counts of line 2 come on plant/l2/good and plant/l2/reject. publish the "
    "scrap rate in % on plant/l2/scrap_rate",
])
def test_requests_outside_the_patterns_are_declined(request_text: str) -> None:
    code, _ = recipe(request_text)
    assert code is None


def test_a_recipe_flow_needs_no_model() -> None:
    # The fake has no answers queued: any call to it raises, so the flow must come from code.
    model = FakeModel.of()
    outcome = generate("boiler 3 steam pressure comes in psi on plant/b3/psi; republish it in "
                       "bar with 2 decimals on plant/b3/bar", model)
    assert outcome.kind == "flow", outcome.message
    assert model.calls == []
    [function] = [n for n in outcome.flow if n["type"] == "function"]
    assert payload_of(function["func"], 145.038) == 10


def test_post_body_checked_written_and_answered() -> None:
    code, spec = recipe('need a POST endpoint /api/pump4/speed for the SCADA, body {"hz": 42.5}. '
                        "write the hz into the VFD, holding register 40101, slave 3 behind "
                        'gateway 10.4.4.4. reply {"done":true}. missing hz or more than 60 -> 400')
    assert code is not None and spec.sink_types == ["modbus-write", "http response"]
    [[write, reply]] = outputs(code, [{"hz": 42.5}], n=2)
    assert write["payload"] == 42.5
    assert reply["payload"] == {"done": True} and reply["statusCode"] == 200
    for bad in ({"hz": 75}, {"speed": 10}, "text"):
        [[write, reply]] = outputs(code, [bad], n=2)
        assert write is None and reply["statusCode"] == 400 and reply["payload"]["error"]


def test_post_without_400_throws_for_the_catch() -> None:
    code, _ = recipe('POST /api/lot/open with {"lot":"..","kg":n} -> put it on plant/lots/open '
                     'and answer 200 {"ok":true}. if something blows up (lot missing, kg not a '
                     "number) the caller must get a 500 with the error message")
    assert code is not None
    [[forward, reply]] = outputs(code, [{"lot": "L1", "kg": 5}], n=2)
    assert forward["payload"] == {"lot": "L1", "kg": 5} and reply["payload"] == {"ok": True}
    assert "kg must be a number" in fails(code, {"lot": "L2", "kg": "lots"})


def test_limits_stated_as_filters() -> None:
    code, _ = recipe("line speed setpoint from mqtt l4/speed/set (plain number) -> opc ua "
                     "ns=2;s=L4.SpeedSP, datatype Double, endpoint opc.tcp://10.4.0.4:4840. "
                     "ignore 0 / negative values")
    assert code is not None
    assert payload_of(code, 12.5) == 12.5
    assert payload_of(code, 0) is None and payload_of(code, -3) is None
    code, _ = recipe('dosing setpoint: DCS publishes json like {"sp": 2.5, "by": "op1"} on '
                     "dcs/dose/sp_cmd. write sp to ns=2;s=Dose.SP (Double) on "
                     "opc.tcp://10.5.0.5:4840. only 1.0-5.0 allowed, anything else just drop it")
    assert code is not None
    assert payload_of(code, {"sp": 2.5, "by": "op1"}) == 2.5
    assert payload_of(code, {"sp": 7, "by": "op1"}) is None


def test_route_by_value() -> None:
    code, spec = recipe("checks come in on plant/qc/check as json {part, result}, result is OK "
                        "/ NOK. route the msg: OK -> plant/qc/good, NOK -> plant/qc/scrap. "
                        "anything else just drop")
    assert code is not None and len(spec.outputs) == 2
    [[good, scrap]] = outputs(code, [{"part": "P1", "result": "NOK"}], n=2)
    assert good is None and scrap["payload"]["part"] == "P1"
    assert outputs(code, [{"part": "P2", "result": "MAYBE"}], n=2) == [[None, None]]


def test_file_lines() -> None:
    code, _ = recipe("flow meter FT2 reports each batch on plant/ft2/batch as json {litres, "
                     "secs}. log it to /data/logs/ft2.csv with a header row ts,litres,secs at "
                     "the top (only once) then one row per batch")
    assert code is not None
    first, second = outputs(code, [{"litres": 5.5, "secs": 3}, {"litres": 6, "secs": 4}])
    assert first[0]["payload"].startswith("ts,litres,secs\n")
    assert first[0]["payload"].endswith(",5.5,3")
    assert "ts,litres" not in second[0]["payload"] and second[0]["payload"].endswith(",6,4")
    code, _ = recipe("scale 2 publishes every weighing on plant/sc2/weight (json). write them "
                     "to /data/sc2.jsonl, one json object per line, and add a field at with "
                     "the time we received it")
    assert code is not None
    line = payload_of(code, {"kg": 12.5})
    assert line.startswith('{"kg":12.5,"at":"') and "\n" not in line


def test_mean_of_the_latest_value_per_topic() -> None:
    code, _ = recipe("silo 2 has two load cells, WT-21 on plant/silo2/wt21 and WT-22 on "
                     "plant/silo2/wt22 (both t). put the average of their latest values on "
                     "plant/silo2/weight every time one of them updates")
    assert code is not None
    runs = run_messages(code, [{"payload": 10, "topic": "plant/silo2/wt21"},
                               {"payload": 14, "topic": "plant/silo2/wt22"},
                               {"payload": 12, "topic": "plant/silo2/wt21"}])
    assert [r.outputs[0]["payload"] for r in runs if r.outputs] == [10, 12, 13]


def test_starts_counted_on_a_repeating_signal() -> None:
    code, _ = recipe("count the starts of compressor C2. plant/air/c2/running is true/false, "
                     "repeated every 10 s. publish the number of starts on plant/air/c2/starts")
    assert code is not None
    results = outputs(code, [False, True, True, False, False, True])
    sent = [r[0]["payload"] for r in results if r[0] is not None]
    assert sent == [1, 2]


def test_coils_are_trimmed_to_the_ones_asked_for() -> None:
    code, _ = recipe("a button that reads the 3 door switches (coils 00005-00007) of PLC "
                     "10.8.8.8 uid 1 and publishes them as json array of true/false on "
                     "site/doors/snapshot")
    assert code is not None
    assert payload_of(code, [1, 0, 1, 0, 0, 0, 0, 0]) == [True, False, True]


def test_listed_fields_become_one_csv_line() -> None:
    code, _ = recipe('ERP wants lot records as csv text. from plant/lots/done ({"lot":"L7",'
                     '"kg":12.5,"line":"L2"}) make one line lot,line,kg - no header - and '
                     "publish it on erp/inbound/lots")
    assert code is not None
    assert payload_of(code, {"lot": "L7", "kg": 12.5, "line": "L2"}) == "L7,L2,12.5"


def _flow(request: str) -> list[dict[str, Any]]:
    outcome = generate(request, FakeModel.of())
    assert outcome.kind == "flow" and outcome.flow is not None, outcome.message
    return outcome.flow


def test_a_confirmation_hangs_off_the_write_itself() -> None:
    flow = _flow("filler 2 recipe select: a recipe code comes in on fill/f2/recipe_select. "
                 "write it into ns=3;s=Filler2.Recipe (String), server "
                 "opc.tcp://10.2.2.20:4840, and once the write went thru publish 'active "
                 "<code>' on fill/f2/recipe_ack")
    by_id = {n["id"]: n for n in flow}
    client = next(n for n in flow if n["type"] == "OpcUa-Client")
    confirm = by_id[client["wires"][0][0]]
    assert confirm["type"] == "change"
    assert confirm["rules"][0]["to"] == '"active " & $string(written)'
    assert by_id[confirm["wires"][0][0]]["topic"] == "fill/f2/recipe_ack"
    # The value is kept before the write: the client answers with a status code.
    keep = next(n for n in flow if n["type"] == "change" and n["rules"][0]["p"] == "written")
    assert by_id[keep["wires"][0][0]]["type"] == "OpcUa-Item"


def test_a_failed_file_write_is_reported_on_the_ack_topic() -> None:
    flow = _flow("setpoints for oven 2 come on plant/oven2/sp/push as json. write them to "
                 "/data/oven2/sp.json (replace the file) and only when the write has finished "
                 "confirm on plant/oven2/sp/ack. if the write fails say so on the same ack "
                 "topic")
    by_id = {n["id"]: n for n in flow}
    writer = next(n for n in flow if n["type"] == "file")
    ack = next(n for n in flow if n.get("topic") == "plant/oven2/sp/ack")
    confirm = by_id[writer["wires"][0][0]]
    assert confirm["wires"][0] == [ack["id"]]
    catch = next(n for n in flow if n["type"] == "catch")
    assert catch["scope"] == [writer["id"]]
    assert by_id[catch["wires"][0][0]]["wires"][0] == [ack["id"]]


def test_a_lookup_url_takes_the_payload_in_its_own_template() -> None:
    flow = _flow("scanner 2 publishes each order number on plant/pack/scan2/order. look it up "
                 "in the ERP: GET http://10.1.2.3:8080/api/orders/<order>, and put whatever "
                 "comes back on plant/pack/scan2/order_info")
    [get] = [n for n in flow if n["type"] == "http request"]
    assert get["url"] == "http://10.1.2.3:8080/api/orders/{{{payload}}}"


def _request(payload: Any = None, **req: Any) -> dict[str, Any]:
    return {"payload": payload or {}, "topic": "t",
            "req": {"query": req.get("query", {}), "params": req.get("params", {})}}


def test_a_query_value_is_converted_or_refused() -> None:
    code, _ = recipe("helper url for the fitters, celsius to fahrenheit: GET /tools/c2f?c=20 "
                     'should give back {"c":20,"f":68.0} (f 1 decimal). if c is missing or not '
                     "a number answer 400")
    assert code is not None
    [ok] = run_messages(code, [_request(query={"c": "37"})])
    assert ok.outputs is not None and ok.outputs[0]["payload"] == {"c": 37, "f": 98.6}
    for query in ({"c": "warm"}, {}):
        [bad] = run_messages(code, [_request(query=query)])
        assert bad.outputs is not None and bad.outputs[0]["statusCode"] == 400


def test_an_endpoint_answers_from_the_latest_flag() -> None:
    code, _ = recipe('the crane asks GET /api/bay2/clear before moving. the clear bit comes on '
                     'mqtt plant/bay2/clear (true/false). answer 200 "CLEAR" when its true, '
                     'otherwise 409 "BLOCKED" (also before the first value). plain text')
    assert code is not None
    [before] = run_messages(code, [_request()])
    assert before.outputs is not None
    assert (before.outputs[0]["statusCode"], before.outputs[0]["payload"]) == (409, "BLOCKED")
    runs = run_messages("flow.set('latest', true);\n" + code, [_request()])
    assert runs[0].outputs is not None
    assert (runs[0].outputs[0]["statusCode"], runs[0].outputs[0]["payload"]) == (200, "CLEAR")


def test_an_endpoint_answers_per_device_from_the_latest_values() -> None:
    code, _ = recipe("pumps in station 4 publish their mode as text (AUTO / MAN ...) on "
                     "plant/ps4/<pump>/mode. need GET /api/ps4/pumps/<pump> returning "
                     '{"pump":"p1","mode":"AUTO"}, 404 for a pump we never heard from')
    assert code is not None
    seeded = 'flow.set("latest_by_topic", {"plant/ps4/p2/mode": "MAN"});\n' + code
    [known, unknown] = run_messages(seeded, [_request(params={"pump": "p2"}),
                                             _request(params={"pump": "p9"})])
    assert known.outputs is not None and unknown.outputs is not None
    assert known.outputs[0]["payload"] == {"pump": "p2", "mode": "MAN"}
    assert unknown.outputs[0]["statusCode"] == 404


def test_a_log_line_follows_the_example() -> None:
    code, _ = recipe("welder 3: for every msg on plant/weld3/spot (json current_kA, time_ms) "
                     "append a line to /data/logs/weld3.log like  2024-06-01 08:00:00 "
                     "current=9.5kA time=120ms")
    assert code is not None
    line = payload_of(code, {"current_kA": 10.25, "time_ms": 118})
    assert line.endswith(" current=10.25kA time=118ms")
    assert len(line.split(" ")[0]) == 10 and line[4] == "-"  # a local date first


def test_a_schedule_sends_the_newest_message_with_fields_added() -> None:
    code, spec = recipe("oven 4 counters come as json on plant/oven4/counters, many times a "
                        "minute. every 10 minutes POST only the newest one to "
                        'http://10.9.9.9/api/counters, with "oven":"oven4" added to the body')
    assert code is not None and spec.source == "latest"
    assert run_messages(code, [{"payload": 1, "topic": "t"}])[0].outputs == [None]
    seeded = 'flow.set("latest", {"good": 5});\n' + code
    assert payload_of(seeded, 1) == {"good": 5, "oven": "oven4"}


def test_supervision_arms_a_trigger_that_the_answer_resets() -> None:
    flow = _flow("press 2 clamp supervision: after a clamp cmd on plant/p2/cmd (payload clamp) "
                 "the feedback plant/p2/fb/clamped = true has to come within 4s. if it "
                 'doesn\'t, publish "CLAMP FAILED p2" on plant/p2/alarm')
    by_id = {n["id"]: n for n in flow}
    [trigger] = [n for n in flow if n["type"] == "trigger"]
    assert (trigger["op2"], trigger["duration"], trigger["units"]) == ("CLAMP FAILED p2", "4",
                                                                       "s")
    assert by_id[trigger["wires"][0][0]]["topic"] == "plant/p2/alarm"
    feeding = [n for n in flow
               if any(trigger["id"] in port for port in n.get("wires", []))]
    kinds = sorted(n["type"] for n in feeding)
    assert kinds == ["change", "switch"]  # the reset, and the command filtered to "clamp"
    reset = next(n for n in feeding if n["type"] == "change")
    assert reset["rules"][0]["p"] == "reset"
    command = next(n for n in feeding if n["type"] == "switch")
    assert command["rules"][0]["v"] == "clamp"


def test_values_to_ignore_keep_the_opposite() -> None:
    flow = _flow("line 9 batch size from mqtt l9/batch/set (plain int) -> opc ua ns=3;i=4100, "
                 "datatype Int32, endpoint opc.tcp://10.9.0.9:4840. ignore 0 / negative values")
    [switch] = [n for n in flow if n["type"] == "switch"]
    assert switch["rules"] == [{"t": "gt", "v": "0", "vt": "num"}]
    assert not [n for n in flow if n["type"] == "function"]


def test_one_conversion_table_for_recipes_and_prompt_facts() -> None:
    from assistant.generate.conversions import conversion_for, fact_for

    converted = conversion_for("the radar gives mm, publish metres")
    assert converted is not None and converted.formula == "v / 1000"
    assert fact_for("the radar gives mm, publish metres") == converted.fact
    # a bare "m" is enough to tell the model, not enough to write the division into code
    assert conversion_for("level in mm, publish in m on a/b") is None
    assert fact_for("level in mm, publish in m on a/b") == "millimetres to metres: m = mm / 1000"
    assert conversion_for("pressure in bar, nothing else") is None
