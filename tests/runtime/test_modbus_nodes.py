"""Modbus nodes against a real pymodbus TCP server on a free loopback port (the flow
benchmark's ModbusSlave, unit ids 0-16, 247 and 255): polling, getters, writes checked in the
server's datastore, unit id routing, a server that goes away and comes back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

import runtime.nodes.modbus  # noqa: F401  (registers the Modbus node types)
from evals.flows.servers import ModbusSlave, wait_for_port
from runtime.engine import FlowRuntime
from runtime.nodes.modbus import ModbusError, rate_seconds, write_values
from tests.runtime.conftest import debug_values, node, run_flow, statuses, until

DEADLINE = 15.0  # seconds: generous, the machine may be busy


class Slave(ModbusSlave):
    """ModbusSlave that can go away and come back on the same port."""

    def halt(self) -> None:
        self._loop.run(self._server.shutdown(), timeout=10)

    def resume(self) -> None:
        from pymodbus.server import ModbusTcpServer

        async def create() -> Any:
            return ModbusTcpServer(self.context, address=("127.0.0.1", self.port))

        deadline = time.monotonic() + DEADLINE
        while True:  # the port may linger a moment after the shutdown
            self._server = self._loop.run(create())
            future = asyncio.run_coroutine_threadsafe(self._server.serve_forever(),
                                                      self._loop.loop)
            try:
                wait_for_port(self.port, timeout=2)
                return
            except RuntimeError:
                future.cancel()
                if time.monotonic() > deadline:
                    raise


@pytest.fixture(scope="module")
def slave() -> Iterator[Slave]:
    server = Slave()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def clean(slave: Slave) -> None:
    slave.reset()


def client(port: int, **props: Any) -> dict[str, Any]:
    base = {"id": "plc", "type": "modbus-client", "clienttype": "tcp", "tcpHost": "127.0.0.1",
            "tcpPort": str(port), "tcpType": "DEFAULT", "unit_id": 1, "clientTimeout": 1000,
            "reconnectTimeout": 200}
    return {**base, **props}


def debug(id_: str) -> dict[str, Any]:
    return node(id_, "debug", complete="true")


def payloads(rt: FlowRuntime, node_id: str) -> list[Any]:
    return [m["payload"] for m in debug_values(rt, node_id)]


def test_read_polls_registers_inputs_and_coils(slave: Slave) -> None:
    slave.set(1, "holding", 10, [11, 12, 13])
    slave.set(1, "input", 3, [400, 65535])
    slave.set(1, "coils", 16, [True, False, True, True])
    slave.set(1, "discrete", 0, [False, True])
    reads = [("hr", "HoldingRegister", 10, 3), ("ir", "InputRegister", 3, 2),
             ("co", "Coil", 16, 4), ("di", "Input", 0, 2)]
    flow = [client(slave.port)] + [
        node(name, "modbus-read", [[f"d_{name}"], [f"raw_{name}"]], server="plc",
             dataType=kind, adr=str(adr), quantity=str(qty), rate="100", rateUnit="ms",
             unitid="", topic="" if name != "hr" else "boiler")
        for name, kind, adr, qty in reads] + [
        debug(f"d_{name}") for name, *_ in reads] + [debug("raw_hr")]

    async def actions(rt: FlowRuntime) -> None:
        await until(lambda: all(payloads(rt, f"d_{n}") for n, *_ in reads), "first reads")
        slave.set(1, "holding", 11, 99)  # the next poll sees it
        await until(lambda: [11, 99, 13] in payloads(rt, "d_hr"), "the changed register")

    rt = run_flow(flow, actions, settle=0)
    assert payloads(rt, "d_hr")[0] == [11, 12, 13]
    assert payloads(rt, "d_ir")[0] == [400, 65535]
    # node-red-contrib-modbus (modbus-serial) pads bits to whole bytes
    assert payloads(rt, "d_co")[0] == [True, False, True, True, False, False, False, False]
    assert payloads(rt, "d_di")[0] == [False, True, False, False, False, False, False, False]
    first = debug_values(rt, "d_hr")[0]
    assert first["topic"] == "boiler"
    assert first["responseBuffer"] == {"data": [11, 12, 13], "buffer": bytes([0, 11, 0, 12, 0, 13])}
    assert debug_values(rt, "d_co")[0]["responseBuffer"]["buffer"] == bytes([0b1101])
    assert debug_values(rt, "d_ir")[0]["topic"] == "polling"
    raw = debug_values(rt, "raw_hr")[0]
    assert raw["payload"]["data"] == [11, 12, 13] and raw["values"] == [11, 12, 13]
    assert len(payloads(rt, "d_hr")) >= 2  # it kept polling
    assert {"fill": "green", "shape": "dot", "text": "polling"} in statuses(rt, "hr")


def test_getter_reads_on_demand_with_unit_ids_and_kept_properties(slave: Slave) -> None:
    slave.set(1, "holding", 5, [101, 102])
    slave.set(2, "holding", 5, [201, 202])
    flow = [client(slave.port),
            node("g1", "modbus-getter", [["d1"]], server="plc", dataType="HoldingRegister",
                 adr="5", quantity="2", unitid="", keepMsgProperties=False),
            node("g2", "modbus-getter", [["d2"]], server="plc", dataType="HoldingRegister",
                 adr="5", quantity="2", unitid="2", keepMsgProperties=True),
            debug("d1"), debug("d2")]

    async def actions(rt: FlowRuntime) -> None:
        await until(lambda: rt.nodes["plc"].state == "connected", "the connection")  # type: ignore[attr-defined]
        await asyncio.sleep(0.3)
        assert not debug_values(rt)  # nothing is read without a message
        for target in ("g1", "g2"):
            rt.inject(target, {"payload": "", "topic": "t", "tag": "kept"})
        await until(lambda: debug_values(rt, "d1") and debug_values(rt, "d2"), "the reads")

    rt = run_flow(flow, actions)
    [one], [two] = debug_values(rt, "d1"), debug_values(rt, "d2")
    assert one["payload"] == [101, 102] and two["payload"] == [201, 202]
    assert one["topic"] == "t" and "tag" not in one and one["input"]["tag"] == "kept"
    assert two["tag"] == "kept" and two["topic"] == "t"


def test_writes_reach_the_datastore(slave: Slave) -> None:
    writes = [("w_hr", "HoldingRegister", 40, 1, 1234), ("w_mhr", "MHoldingRegisters", 50, 3, [1, 2, 65535]),
              ("w_co", "Coil", 7, 1, True), ("w_mco", "MCoils", 60, 3, "true,false,true"),
              ("w_obj", "HoldingRegister", 41, 1, {"value": "77"})]
    flow = [client(slave.port)] + [
        node(name, "modbus-write", [[f"d_{name}"]], server="plc", dataType=kind, adr=str(adr),
             quantity=str(qty), unitid="3", keepMsgProperties=True)
        for name, kind, adr, qty, _ in writes] + [debug(f"d_{n}") for n, *_ in writes]

    async def actions(rt: FlowRuntime) -> None:
        await until(lambda: rt.nodes["plc"].state == "connected", "the connection")  # type: ignore[attr-defined]
        for name, *_, value in writes:
            rt.inject(name, {"payload": value, "tag": name})
        await until(lambda: all(debug_values(rt, f"d_{n}") for n, *_ in writes), "the writes")

    rt = run_flow(flow, actions)
    assert slave.get(3, "holding", 40) == 1234
    assert [slave.get(3, "holding", a) for a in (50, 51, 52)] == [1, 2, 65535]
    assert slave.get(3, "coils", 7) is True
    assert [slave.get(3, "coils", a) for a in (60, 61, 62)] == [True, False, True]
    assert slave.get(3, "holding", 41) == 77
    assert slave.get(1, "holding", 40) == 0  # unit 3 only
    out = debug_values(rt, "d_w_mhr")[0]
    assert out["payload"] == {"value": [1, 2, 65535], "fc": 16, "unitid": 3, "address": 50,
                              "quantity": 3}
    assert out["tag"] == "w_mhr"
    assert debug_values(rt, "d_w_co")[0]["payload"]["fc"] == 5


def test_flex_getter_and_flex_write(slave: Slave) -> None:
    slave.set(4, "coils", 16, [True, True])
    slave.set(1, "input", 8, [8])
    flow = [client(slave.port),
            node("fg", "modbus-flex-getter", [["dg"]], server="plc", showErrors=True),
            node("fw", "modbus-flex-write", [["dw"]], server="plc", showErrors=True),
            node("catch", "catch", [["dc"]]),
            debug("dg"), debug("dw"), debug("dc")]

    async def actions(rt: FlowRuntime) -> None:
        await until(lambda: rt.nodes["plc"].state == "connected", "the connection")  # type: ignore[attr-defined]
        rt.inject("fg", {"payload": {"fc": 1, "unitid": 4, "address": 16, "quantity": 2}})
        await until(lambda: debug_values(rt, "dg"), "the coils")
        rt.inject("fg", {"payload": '{"fc": 4, "address": 8}'})  # unit 1, quantity 1
        await until(lambda: len(debug_values(rt, "dg")) == 2, "the input register")
        rt.inject("fw", {"payload": {"value": [7, 8], "fc": 16, "unitid": 4, "address": 30,
                                     "quantity": 2}})
        await until(lambda: debug_values(rt, "dw"), "the write")
        rt.inject("fg", {"payload": {"fc": 16, "address": 0}})  # not a read function
        rt.inject("fw", {"payload": {"value": 1, "fc": 6}})  # no address or quantity
        rt.inject("fw", {"payload": {"value": [1], "fc": 16, "address": 0, "quantity": 2}})
        await until(lambda: len(debug_values(rt, "dc")) == 3, "three errors")

    rt = run_flow(flow, actions)
    assert payloads(rt, "dg") == [[True, True] + [False] * 6, [8]]
    assert [slave.get(4, "holding", a) for a in (30, 31)] == [7, 8]
    errors = sorted(m["error"]["message"] for m in debug_values(rt, "dc"))
    assert any("not a read function" in e for e in errors)
    assert any("lacks address, quantity" in e for e in errors)
    assert any("quantity 2 does not match the 1 values" in e for e in errors)


def test_server_gone_then_back(slave: Slave) -> None:
    slave.set(1, "holding", 0, [5])
    flow = [client(slave.port),
            node("poll", "modbus-read", [["dp"]], server="plc", dataType="HoldingRegister",
                 adr="0", quantity="1", rate="100", rateUnit="ms"),
            node("get", "modbus-getter", [["dg"]], server="plc", dataType="HoldingRegister",
                 adr="0", quantity="1", showErrors=True),
            node("quiet", "modbus-getter", [["dg"]], server="plc", dataType="HoldingRegister",
                 adr="0", quantity="1", showErrors=False),
            node("catch", "catch", [["dc"]]),
            debug("dp"), debug("dg"), debug("dc")]
    seen: dict[str, int] = {}

    async def actions(rt: FlowRuntime) -> None:
        await until(lambda: [5] in payloads(rt, "dp"), "the first poll")
        await asyncio.to_thread(slave.halt)
        await until(lambda: statuses(rt, "poll")[-1]["fill"] == "red", "a red status")
        seen["polls"] = len(payloads(rt, "dp"))
        rt.inject("get", {"payload": 1})
        rt.inject("quiet", {"payload": 1})
        await until(lambda: debug_values(rt, "dc"), "the error at the catch node")
        await asyncio.sleep(0.5)
        seen["after"] = len(payloads(rt, "dp"))
        await asyncio.to_thread(slave.resume)
        await asyncio.to_thread(slave.set, 1, "holding", 0, [6])
        await until(lambda: [6] in payloads(rt, "dp"), "polling after the restart")
        rt.inject("get", {"payload": 1})
        await until(lambda: debug_values(rt, "dg"), "a getter read after the restart")

    rt = run_flow(flow, actions)
    assert seen["after"] <= seen["polls"] + 1  # no polling while the server is away
    [caught] = debug_values(rt, "dc")  # only the showErrors getter goes to Catch
    assert caught["error"]["source"]["id"] == "get"
    assert "Not Ready To Read" in caught["error"]["message"]
    assert "127.0.0.1" in caught["error"]["message"]
    assert any(e["kind"] == "log" and e["id"] == "quiet" and e["level"] == "error"
               for e in rt.events)
    poll = statuses(rt, "poll")
    assert poll[-1]["fill"] == "green"
    assert any(s["fill"] == "red" for s in poll)
    assert payloads(rt, "dg") == [[6]]


def test_exception_response_and_unsupported_client(slave: Slave) -> None:
    flow = [client(slave.port),
            client(slave.port, id="serial", clienttype="serial"),
            node("far", "modbus-getter", [["d"]], server="plc", dataType="Coil",
                 adr="4999", quantity="10", showErrors=True),
            node("ser", "modbus-getter", [["d"]], server="serial", dataType="Coil",
                 adr="0", quantity="1", showErrors=True),
            node("catch", "catch", [["dc"]]), debug("d"), debug("dc")]

    async def actions(rt: FlowRuntime) -> None:
        await until(lambda: rt.nodes["plc"].state == "connected", "the connection")  # type: ignore[attr-defined]
        rt.inject("far", {"payload": 1})
        rt.inject("ser", {"payload": 1})
        await until(lambda: len(debug_values(rt, "dc")) == 2, "two errors")

    rt = run_flow(flow, actions)
    assert not debug_values(rt, "d")
    errors = {m["error"]["source"]["id"]: m["error"]["message"] for m in debug_values(rt, "dc")}
    assert errors["far"].startswith("Modbus exception 2: Illegal data address")
    assert "not supported" in errors["ser"]
    assert statuses(rt, "ser")[-1]["fill"] == "red"
    assert statuses(rt, "far")[-1]["text"].startswith("error: Modbus exception 2")


def test_value_rules() -> None:
    assert rate_seconds("5", "s") == 5 and rate_seconds("250", "ms") == 0.25
    assert rate_seconds("2", "m") == 120 and rate_seconds("1", "h") == 3600
    assert rate_seconds("3", "weeks") == 10
    assert write_values(5, "true", 1) is True and write_values(5, 0, 1) is False
    assert write_values(6, "42", 1) == 42
    assert write_values(16, "1,2,3", 3) == [1, 2, 3]
    assert write_values(15, [1, 0], 2) == [True, False]
    for fc, value, qty in ((6, 70000, 1), (6, -1, 1), (5, 2, 1), (16, [1, 2], 3), (3, 1, 1)):
        with pytest.raises(ModbusError):
            write_values(fc, value, qty)
