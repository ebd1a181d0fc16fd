"""OPC UA nodes against a real asyncua server on a free loopback port (the flow benchmark's
OpcUaServer): reads and writes of each type checked on the server, subscriptions, a bad node
id to Catch, a server that goes away and comes back."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

import runtime.nodes.opcua  # noqa: F401  (registers the OPC UA node types)
from evals.flows.servers import OpcUaServer
from runtime.engine import FlowRuntime
from runtime.nodes.opcua import OpcUaError, convert, interval_ms, split_topic, variant
from tests.runtime.conftest import debug_values, node, run_flow, statuses, until

DEADLINE = 20.0  # seconds: generous, the machine may be busy


class Server(OpcUaServer):
    """OpcUaServer that can stop and start again on the same port."""

    def halt(self) -> None:
        self._loop.run(self._server.stop(), timeout=15)

    def resume(self) -> None:
        self._loop.run(self._server.start(), timeout=30)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    srv = Server()
    try:
        yield srv
    finally:
        srv.stop()


def endpoint(url: str) -> dict[str, Any]:
    return {"id": "ep", "type": "OpcUa-Endpoint", "endpoint": url, "secpol": "None",
            "secmode": "None", "none": True, "login": False}


def client(id_: str, action: str, wires: list[list[str]], **props: Any) -> dict[str, Any]:
    return node(id_, "OpcUa-Client", wires, endpoint="ep", action=action, time=100,
                timeUnit="ms", **props)


def item(id_: str, node_id: str, datatype: str, target: str, value: Any = None) -> dict[str, Any]:
    return node(id_, "OpcUa-Item", [[target]], item=node_id, datatype=datatype, value=value)


def debug(id_: str) -> dict[str, Any]:
    return node(id_, "debug", complete="true")


def connected(rt: FlowRuntime, node_id: str) -> bool:
    found = statuses(rt, node_id)
    return bool(found) and found[-1].get("fill") == "green"


def caught(rt: FlowRuntime) -> list[str]:
    return [m["error"]["message"] for m in debug_values(rt, "d_catch")]


CATCH = [node("catch", "catch", [["d_catch"]]), debug("d_catch")]


def test_helpers() -> None:
    assert interval_ms(1, "s") == 1000
    assert interval_ms(5, "x") == 10_000
    assert split_topic("ns=3;s=Counter;datatype=Double") == ("ns=3;s=Counter", "Double")
    assert convert("12", "Int16") == 12
    assert convert("false", "Boolean") is False
    with pytest.raises(OpcUaError):
        convert("1.5", "Int32")
    with pytest.raises(OpcUaError):
        variant(1, "")


def test_read_each_type(server: Server) -> None:
    tags = {"ns=2;s=Read.Double": 21.5, "ns=2;s=Read.Int32": -7, "ns=2;s=Read.String": "hello",
            "ns=2;s=Read.Bool": True}
    for node_id, value in tags.items():
        server.ensure(node_id, value)
        server.set(node_id, value)
    types = {"ns=2;s=Read.Double": "Double", "ns=2;s=Read.Int32": "Int32",
             "ns=2;s=Read.String": "String", "ns=2;s=Read.Bool": "Boolean"}
    flow = [endpoint(server.url), client("cl", "read", [["d"], [], []]), debug("d"), *CATCH] + [
        item(f"it{i}", nid, types[nid], "cl") for i, nid in enumerate(tags)]

    async def actions(rt: FlowRuntime) -> None:
        await until(lambda: connected(rt, "cl"), "the connection")
        for i in range(len(tags)):
            rt.inject(f"it{i}", {"payload": ""})
        await until(lambda: len(debug_values(rt, "d")) == len(tags), "four reads")

    rt = run_flow(flow, actions, settle=0)
    got = {m["topic"]: m["payload"] for m in debug_values(rt, "d")}
    assert got == tags
    assert isinstance(got["ns=2;s=Read.Int32"], int)
    first = debug_values(rt, "d")[0]
    assert first["statusCode"]["name"] == "Good"
    assert first["datatype"] in types.values()
    assert caught(rt) == []


def test_write_each_type(server: Server) -> None:
    cases = [("ns=3;s=W.Bool", "Boolean", False, "true", True),
             ("ns=3;s=W.Int16", "Int16", 0, "-12", -12),
             ("ns=3;s=W.Int32", "Int32", 0, 123456, 123456),
             ("ns=3;s=W.Int64", "Int64", 0, 2**40, 2**40),
             ("ns=3;s=W.UInt16", "UInt16", 0, "65535", 65535),
             ("ns=3;s=W.UInt32", "UInt32", 0, 4_000_000_000, 4_000_000_000),
             ("ns=3;s=W.Float", "Float", 0.0, 1.5, 1.5),
             ("ns=3;s=W.Double", "Double", 0.0, "3.25", 3.25),
             ("ns=3;s=W.String", "String", "", "recipe 7", "recipe 7")]
    for node_id, datatype, initial, _, _ in cases:
        server.ensure(node_id, initial, datatype)
    flow = [endpoint(server.url), client("cl", "write", [["d"], [], []]), debug("d"), *CATCH] + [
        item(f"it{i}", nid, dt, "cl") for i, (nid, dt, *_) in enumerate(cases)]

    async def actions(rt: FlowRuntime) -> None:
        await until(lambda: connected(rt, "cl"), "the connection")
        for i, case in enumerate(cases):
            rt.inject(f"it{i}", {"payload": case[3]})
        await until(lambda: len(debug_values(rt, "d")) + len(caught(rt)) >= len(cases),
                    "all writes")

    rt = run_flow(flow, actions, settle=0)
    assert caught(rt) == []
    for node_id, _, _, _, expected in cases:
        assert server.get(node_id) == expected, node_id
    acks = debug_values(rt, "d")
    assert all(m["payload"] == {"value": 0, "description": "No Error", "name": "Good"}
               for m in acks)
    assert {m["topic"] for m in acks} == {c[0] for c in cases}


def test_write_datetime_and_item_value(server: Server) -> None:
    import datetime

    stamp = datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.UTC)
    server.ensure("ns=3;s=W.Fixed", 0.0, "Double")
    flow = [endpoint(server.url), client("cl", "write", [["d"], [], []]), debug("d"), *CATCH,
            item("it", "ns=3;s=W.Fixed", "Double", "cl", value="66.6")]

    async def actions(rt: FlowRuntime) -> None:
        await until(lambda: connected(rt, "cl"), "the connection")
        rt.inject("it", {"payload": ""})
        await until(lambda: debug_values(rt, "d") or caught(rt), "the write")

    rt = run_flow(flow, actions, settle=0)
    assert caught(rt) == []
    assert server.get("ns=3;s=W.Fixed") == 66.6
    assert variant(stamp.isoformat(), "DateTime").Value == stamp


def test_write_type_mismatch_and_bad_node_go_to_catch(server: Server) -> None:
    server.ensure("ns=3;s=W.Mismatch", 5, "Int32")
    flow = [endpoint(server.url), client("cl", "write", [["d"], [], []]),
            client("rd", "read", [["d"], [], []]), debug("d"), *CATCH]

    async def actions(rt: FlowRuntime) -> None:
        await until(lambda: connected(rt, "cl") and connected(rt, "rd"), "the connection")
        rt.inject("rd", {"topic": "ns=2;s=Does.Not.Exist"})
        rt.inject("rd", {"topic": "not a node id"})
        rt.inject("cl", {"topic": "ns=3;s=W.Mismatch", "datatype": "String", "payload": "x"})
        await until(lambda: len(caught(rt)) >= 3, "three errors")

    rt = run_flow(flow, actions, settle=0)
    errors = caught(rt)
    assert any("BadNodeIdUnknown" in e and "Does.Not.Exist" in e for e in errors), errors
    assert any("invalid node id" in e for e in errors), errors
    assert any("BadTypeMismatch" in e for e in errors), errors
    assert debug_values(rt, "d") == []
    assert server.get("ns=3;s=W.Mismatch") == 5
    assert statuses(rt, "rd")[-1]["fill"] == "red"


def test_subscribe_receives_changes(server: Server) -> None:
    server.ensure("ns=4;s=Sub.Level", 1.0)
    server.set("ns=4;s=Sub.Level", 1.0)
    flow = [endpoint(server.url), client("cl", "subscribe", [["d"], [], []]), debug("d"),
            *CATCH, item("it", "ns=4;s=Sub.Level", "Double", "cl")]

    def values(rt: FlowRuntime) -> list[Any]:
        return [m["payload"] for m in debug_values(rt, "d") if m["topic"] == "ns=4;s=Sub.Level"]

    async def actions(rt: FlowRuntime) -> None:
        await until(lambda: connected(rt, "cl"), "the connection")
        rt.inject("it", {"payload": ""})
        await until(lambda: 1.0 in values(rt), "the initial value")
        server.set("ns=4;s=Sub.Level", 2.5)
        await until(lambda: 2.5 in values(rt), "the first change")
        server.set("ns=4;s=Sub.Level", 7.0)
        await until(lambda: 7.0 in values(rt), "the second change")

    rt = run_flow(flow, actions, settle=0)
    assert caught(rt) == []
    messages = debug_values(rt, "d")
    assert messages[0]["topic"] == "subscriptionId"
    assert isinstance(messages[0]["payload"], int)
    assert values(rt)[-3:] == [1.0, 2.5, 7.0]


def test_server_gone_then_back(server: Server) -> None:
    server.ensure("ns=2;s=Back.Value", 3.0)
    server.set("ns=2;s=Back.Value", 3.0)
    flow = [endpoint(server.url), client("cl", "read", [["d"], [], []]), debug("d"), *CATCH]

    async def actions(rt: FlowRuntime) -> None:
        await until(lambda: connected(rt, "cl"), "the connection")
        rt.inject("cl", {"topic": "ns=2;s=Back.Value"})
        await until(lambda: debug_values(rt, "d"), "the first read")
        await asyncio.to_thread(server.halt)
        await until(lambda: statuses(rt, "cl")[-1]["text"] == "disconnected", "red status")
        rt.inject("cl", {"topic": "ns=2;s=Back.Value"})
        await until(lambda: caught(rt), "the failed read")
        await asyncio.to_thread(server.resume)
        await until(lambda: connected(rt, "cl"), "the reconnection")
        server.set("ns=2;s=Back.Value", 4.0)
        rt.inject("cl", {"topic": "ns=2;s=Back.Value"})
        await until(lambda: len(debug_values(rt, "d")) >= 2, "the read after the restart")

    rt = run_flow(flow, actions, settle=0)
    assert [m["payload"] for m in debug_values(rt, "d")] == [3.0, 4.0]
    assert "not connected" in caught(rt)[0]
    assert any(s.get("fill") == "red" for s in statuses(rt, "cl"))
