"""The primitive edit operations: pure, id- and position-preserving, valid results."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest

from assistant.edit import ops
from assistant.edit.graph import by_id
from assistant.edit.model import Op, OpError
from assistant.edit.nodes import make_node, modbus_client, mqtt_broker
from flowschema import default_catalog, validate_flow

CATALOG = default_catalog()
TAB = "aaaaaaaaaaaaaaaa"
BROKER = "bbbbbbbbbbbbbbbb"


def _ids() -> Any:
    counter = itertools.count(1)
    return lambda: f"{next(counter):016x}"


NEW = _ids()


def node(kind: str, node_id: str, x: int, y: int, **props: Any) -> dict[str, Any]:
    made = make_node(kind, CATALOG, lambda: node_id, z=TAB, **props)
    made["x"], made["y"] = x, y
    return made


def chain_flow() -> list[dict[str, Any]]:
    """tab, broker, mqtt in -> function -> mqtt out, on one lane."""
    broker = make_node(
        "mqtt-broker", CATALOG, lambda: BROKER, name="Plant broker", broker="10.20.0.5"
    )
    sub = node("mqtt in", "1111111111111111", 150, 60, topic="plant/m1/temp_raw", broker=BROKER)
    scale = node(
        "function", "2222222222222222", 350, 60, name="x10 -> C",
        func="msg.payload = Number(msg.payload) / 10;\nreturn msg;",
    )  # fmt: skip
    pub = node("mqtt out", "3333333333333333", 550, 60, name="m1 temp", topic="plant/m1/temp",
               broker=BROKER)  # fmt: skip
    sub["wires"] = [[scale["id"]]]
    scale["wires"] = [[pub["id"]]]
    tab = {"id": TAB, "type": "tab", "label": "Line 1", "disabled": False, "info": "", "env": []}
    return [tab, broker, sub, scale, pub]


def _assert_valid(flow: list[dict[str, Any]]) -> None:
    report = validate_flow(flow)
    assert not report.errors, [f.to_dict() for f in report.errors]


def _assert_untouched(before: list[dict[str, Any]], after: list[dict[str, Any]], *ids: str) -> None:
    old, new = by_id(before), by_id(after)
    for node_id in ids:
        assert new[node_id] == old[node_id]


def test_base_flow_is_valid() -> None:
    _assert_valid(chain_flow())


def test_set_property_is_pure_and_keeps_the_rest() -> None:
    flow = chain_flow()
    frozen = copy.deepcopy(flow)
    result = ops.set_property(flow, "3333333333333333", "topic", "plant/m1/temperature")
    assert flow == frozen
    assert by_id(result)["3333333333333333"]["topic"] == "plant/m1/temperature"
    _assert_untouched(flow, result, "1111111111111111", "2222222222222222", BROKER, TAB)
    _assert_valid(result)


def test_set_property_refuses_unknown_ids_and_structure() -> None:
    with pytest.raises(OpError):
        ops.set_property(chain_flow(), "ffffffffffffffff", "topic", "x")
    with pytest.raises(OpError):
        ops.set_property(chain_flow(), "3333333333333333", "wires", [])


def test_add_node_wires_and_places_right_of_after_in_a_free_lane() -> None:
    flow = chain_flow()
    frozen = copy.deepcopy(flow)
    debug = make_node("debug", CATALOG, NEW)
    result = ops.add_node(flow, debug, after="1111111111111111")
    assert flow == frozen
    added = by_id(result)[debug["id"]]
    assert added["z"] == TAB
    assert (added["x"], added["y"]) == (350, 120)  # 350,60 is taken by the function
    assert by_id(result)["1111111111111111"]["wires"] == [["2222222222222222", debug["id"]]]
    _assert_untouched(flow, result, "2222222222222222", "3333333333333333", BROKER)
    _assert_valid(result)


def test_add_node_refuses_a_taken_id_and_a_missing_port() -> None:
    taken = make_node("debug", CATALOG, lambda: "2222222222222222")
    with pytest.raises(OpError):
        ops.add_node(chain_flow(), taken, after="1111111111111111")
    with pytest.raises(OpError):
        ops.add_node(
            chain_flow(), make_node("debug", CATALOG, NEW), after="1111111111111111", port=3
        )


def test_add_branch_chains_nodes_off_several_outputs() -> None:
    flow = chain_flow()
    switch = make_node("switch", CATALOG, NEW, rules=[{"t": "gt", "v": "80", "vt": "num"}])
    out = make_node("mqtt out", CATALOG, NEW, topic="plant/m1/alarm", broker=BROKER)
    result = ops.add_branch(flow, [switch, out], after=["2222222222222222"])
    index = by_id(result)
    assert index["2222222222222222"]["wires"] == [["3333333333333333", switch["id"]]]
    assert index[switch["id"]]["wires"] == [[out["id"]]]
    assert index[out["id"]]["y"] == index[switch["id"]]["y"] == 120
    assert index[out["id"]]["x"] - index[switch["id"]]["x"] == 200
    _assert_untouched(flow, result, "1111111111111111", "3333333333333333")
    _assert_valid(result)


def test_add_branch_without_after_starts_a_new_lane() -> None:
    flow = chain_flow()
    http_in = make_node("http in", CATALOG, NEW, url="/api/x", method="get")
    reply = make_node("http response", CATALOG, NEW)
    result = ops.add_branch(flow, [http_in, reply])
    index = by_id(result)
    assert index[http_in["id"]]["y"] > 60 and index[http_in["id"]]["wires"] == [[reply["id"]]]
    _assert_untouched(flow, result, "1111111111111111", "2222222222222222", "3333333333333333")
    _assert_valid(result)


def test_insert_between_rewires_only_the_two_nodes() -> None:
    flow = chain_flow()
    frozen = copy.deepcopy(flow)
    rbe = make_node("rbe", CATALOG, NEW)
    result = ops.insert_between(flow, "2222222222222222", "3333333333333333", rbe)
    assert flow == frozen
    index = by_id(result)
    assert index["2222222222222222"]["wires"] == [[rbe["id"]]]
    assert index[rbe["id"]]["wires"] == [["3333333333333333"]]
    assert index["3333333333333333"] == by_id(flow)["3333333333333333"]  # position kept too
    _assert_valid(result)
    with pytest.raises(OpError):
        ops.insert_between(
            flow, "1111111111111111", "3333333333333333", make_node("rbe", CATALOG, NEW)
        )


def test_insert_before_takes_every_incoming_wire() -> None:
    flow = ops.duplicate_chain(chain_flow(), ["1111111111111111", "2222222222222222"], {"m1": "m2"})
    rbe = make_node("rbe", CATALOG, NEW)
    result = ops.insert_before(flow, "3333333333333333", rbe)
    feeders = [n for n in result if any("3333333333333333" in p for p in n.get("wires", []))]
    assert [n["id"] for n in feeders] == [rbe["id"]]
    assert sum(rbe["id"] in p for n in result for p in n.get("wires", [])) == 2
    _assert_valid(result)


def test_insert_after_takes_over_the_port() -> None:
    flow = chain_flow()
    change = make_node("change", CATALOG, NEW)
    result = ops.insert_after(flow, "1111111111111111", change)
    index = by_id(result)
    assert index["1111111111111111"]["wires"] == [[change["id"]]]
    assert index[change["id"]]["wires"] == [["2222222222222222"]]
    _assert_valid(result)


def test_replace_source_keeps_place_and_downstream() -> None:
    flow = chain_flow()
    frozen = copy.deepcopy(flow)
    client_id, client = modbus_client(flow, CATALOG, NEW, "10.30.2.15", None, 1)
    assert client is not None
    read = make_node(
        "modbus-read", CATALOG, NEW, dataType="HoldingRegister", adr="11", quantity="1",
        rate="2", rateUnit="s", server=client_id,
    )  # fmt: skip
    result = ops.replace_source(ops.add_node(flow, client), "1111111111111111", read)
    assert flow == frozen
    index = by_id(result)
    assert "1111111111111111" not in index
    assert (index[read["id"]]["x"], index[read["id"]]["y"]) == (150, 60)
    assert index[read["id"]]["wires"] == [["2222222222222222"], []]
    _assert_untouched(flow, result, "2222222222222222", "3333333333333333", BROKER)
    _assert_valid(result)


def test_duplicate_chain_substitutes_text_and_lays_out_below() -> None:
    flow = chain_flow()
    frozen = copy.deepcopy(flow)
    ids = ["1111111111111111", "2222222222222222", "3333333333333333"]
    new_ids = {i: f"{n:016x}" for n, i in enumerate(ids, start=0xA0)}
    result = ops.duplicate_chain(flow, ids, {"m1": "m2"}, new_ids)
    assert flow == frozen
    index = by_id(result)
    sub, scale, pub = (index[new_ids[i]] for i in ids)
    assert sub["topic"] == "plant/m2/temp_raw" and pub["topic"] == "plant/m2/temp"
    assert pub["name"] == "m2 temp" and pub["broker"] == BROKER
    assert sub["wires"] == [[scale["id"]]] and scale["wires"] == [[pub["id"]]]
    assert {n["y"] for n in (sub, scale, pub)} == {120}
    assert [n["x"] for n in (sub, scale, pub)] == [150, 350, 550]
    _assert_untouched(flow, result, *ids, BROKER)
    _assert_valid(result)


def test_duplicate_chain_keeps_shared_sinks_shared() -> None:
    flow = chain_flow()
    result = ops.duplicate_chain(flow, ["1111111111111111", "2222222222222222"], {"m1": "m3"})
    copies = [n for n in result if n["id"] not in by_id(flow)]
    assert len(copies) == 2
    function_copy = next(n for n in copies if n["type"] == "function")
    assert function_copy["wires"] == [["3333333333333333"]]
    _assert_valid(result)


def test_substitute_replaces_whole_tokens_only() -> None:
    assert ops.substitute("plant/m1/x m10 cm1 M1", {"m1": "m2"}) == "plant/m2/x m10 cm1 M1"


def test_remove_node_bridges_single_in_single_out() -> None:
    flow = chain_flow()
    frozen = copy.deepcopy(flow)
    result = ops.remove_node(flow, "2222222222222222")
    assert flow == frozen
    index = by_id(result)
    assert "2222222222222222" not in index
    assert index["1111111111111111"]["wires"] == [["3333333333333333"]]
    _assert_untouched(flow, result, "3333333333333333", BROKER)
    _assert_valid(result)


def test_wire_and_unwire() -> None:
    flow = chain_flow()
    debug = make_node("debug", CATALOG, NEW)
    with_debug = ops.add_node(flow, debug)
    wired = ops.wire(with_debug, "2222222222222222", debug["id"])
    assert debug["id"] in by_id(wired)["2222222222222222"]["wires"][0]
    unwired = ops.unwire(wired, "2222222222222222", debug["id"])
    assert by_id(unwired)["2222222222222222"]["wires"] == [["3333333333333333"]]


def test_ops_replay_from_data() -> None:
    flow = chain_flow()
    debug = make_node("debug", CATALOG, NEW)
    plan = [
        Op("add_node", {"node": debug, "after": "2222222222222222"}),
        Op("set_property", {"node_id": "3333333333333333", "prop": "qos", "value": "1"}),
    ]
    once, twice = ops.apply_ops(flow, plan), ops.apply_ops(flow, plan)
    assert once == twice
    assert "set_property(node_id=3333333333333333, prop=qos, value=1)" in [str(o) for o in plan]
    with pytest.raises(OpError):
        ops.apply_op(flow, Op("teleport", {}))


def test_config_nodes_are_reused_by_host() -> None:
    flow = chain_flow()
    same, new = mqtt_broker(flow, CATALOG, NEW, "10.20.0.5", None)
    assert (same, new) == (BROKER, None)
    other, created = mqtt_broker(flow, CATALOG, NEW, "10.9.9.9", None)
    assert created is not None and created["broker"] == "10.9.9.9" and other == created["id"]
    assert created["port"] == 1883 and "z" not in created and "wires" not in created
    client_id, client = modbus_client(flow, CATALOG, NEW, "10.0.0.7", 5020, 3)
    assert client is not None and client["tcpPort"] == 5020 and client["unit_id"] == 3
    again = ops.add_node(flow, client)
    assert modbus_client(again, CATALOG, NEW, "10.0.0.7", None, None) == (client_id, None)


def test_new_nodes_get_catalog_defaults_without_placeholders() -> None:
    debug = make_node("debug", CATALOG, NEW, z=TAB)
    assert debug["name"] == "" and debug["complete"] == "false" and debug["wires"] == []
    switch = make_node("switch", CATALOG, NEW, z=TAB)
    assert switch["wires"] == [[]] and switch["property"] == "payload"
    with pytest.raises(OpError):
        make_node("flux-capacitor", CATALOG, NEW)
