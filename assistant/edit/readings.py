"""Reading more data: a Modbus read (or a getter on the existing trigger) for a register the
instruction names, wired to a new output. Also the Modbus read factory that replacing a
source uses."""

from __future__ import annotations

import re

from assistant.edit import graph
from assistant.edit.context import Context, op
from assistant.edit.model import Node, Op, Plan, Unresolved
from assistant.edit.nodes import modbus_client
from assistant.edit.outputs import ADDITION, CHANGE, broker_for
from assistant.edit.parse import number_text

_SHORT = {"HoldingRegister": "HR", "InputRegister": "IR", "Coil": "coil", "Input": "input"}


def client_for(ctx: Context, ops: list[Op]) -> str:
    """The modbus-client for the instruction's PLC (reused by host), adding one if needed."""
    facts = ctx.facts
    host, port = facts.hosts[0] if facts.hosts else (None, None)
    try:
        client_id, client = modbus_client(
            ctx.flow, ctx.catalog, ctx.new_id, host, port or facts.port, facts.unit_id
        )
    except ValueError as exc:
        raise Unresolved(
            "which PLC? give its IP address (the flow has no Modbus client to reuse)"
        ) from exc
    if client is not None:
        ops.append(op("add_node", node=client))
    return client_id


def rate_of(ctx: Context, fallback: tuple[str, str] | None, notes: list[str]) -> tuple[str, str]:
    every = ctx.facts.new_interval
    if every is None:
        if fallback is not None:
            return fallback
        notes.append("note: no polling interval given; the Modbus read polls every 5 s")
        return "5", "s"
    if float(every.value).is_integer():
        return number_text(every.value), every.unit
    return number_text(every.seconds * 1000), "ms"


def register_props(ctx: Context) -> dict[str, str]:
    reg = ctx.facts.register
    if reg is None:
        raise Unresolved("which register should be read? (e.g. 'holding register 40012')")
    return {
        "name": f"{_SHORT[reg.table]} {reg.written}",
        "unitid": str(ctx.facts.unit_id) if ctx.facts.unit_id is not None else "",
        "dataType": reg.table,
        "adr": str(reg.address),
        "quantity": str(ctx.facts.quantity or 1),
    }


def unwrap(ctx: Context, near: Node | None) -> Node:
    """A change node taking the single register out of the array a read delivers."""
    rule = {"t": "set", "p": "payload", "pt": "msg", "to": "payload[0]", "tot": "jsonata"}
    return ctx.make("change", near, name="first register", rules=[rule])


def address_note(ctx: Context) -> list[str]:
    reg = ctx.facts.register
    if reg is None or reg.written == reg.address:
        return []
    return [f"note: register {reg.written} is protocol address {reg.address} (zero-based)"]


def add_reading(ctx: Context) -> Plan | None:
    """ "also read holding register 40013 and publish it to plant/x/current"."""
    facts = ctx.facts
    if not ctx.has(ADDITION) or ctx.has(CHANGE):
        return None
    if facts.register is None:
        return _add_opcua_reading(ctx) if facts.node_ids else None
    if not ctx.has(r"\b(?:read\w*|poll\w*|get|fetch|register|reg|coil|input)\b"):
        return None
    new_topics = [t for t in facts.topics if t not in ctx.flow_topics()]
    if not new_topics and not facts.files:
        if ctx.nodes("modbus-read", "modbus-getter"):
            return None  # nowhere new to send it: a register change, not an addition
        raise Unresolved("where should the new register go? give a topic or a file")
    plan = Plan([])
    client_id = client_for(ctx, plan.ops)
    props = register_props(ctx)
    getters = [n for n in ctx.nodes("modbus-getter") if n.get("server") == client_id]
    triggers = [
        p for g in getters for p, _ in graph.predecessors(ctx.flow, g["id"])
        if ctx.node(p).get("type") == "inject"
    ]  # fmt: skip
    chain: list[Node] = []
    if triggers and facts.new_interval is None:
        trigger = ctx.node(triggers[0])
        chain.append(ctx.make("modbus-getter", trigger, server=client_id, **props))
        after: list[list[object]] | None = [[trigger["id"], 0]]
    else:
        readers = [n for n in ctx.nodes("modbus-read") if n.get("server") == client_id]
        fallback = (str(readers[0]["rate"]), str(readers[0]["rateUnit"])) if readers else None
        rate, unit = rate_of(ctx, fallback, plan.notes)
        chain.append(ctx.make("modbus-read", None, server=client_id, rate=rate, rateUnit=unit,
                              **props))  # fmt: skip
        after = None
    if props["quantity"] == "1":
        chain.append(unwrap(ctx, None))
    chain.append(_destination(ctx, new_topics, plan.ops))
    plan.ops.append(op("add_branch", nodes=chain, after=after))
    plan.notes += address_note(ctx)
    return plan


def _destination(ctx: Context, new_topics: list[str], ops: list[Op]) -> Node:
    if new_topics:
        topic = new_topics[0]
        if re.search(r"[+#]", topic):
            raise Unresolved(f"cannot publish to {topic}: no wildcards when publishing")
        host = None  # the PLC address is not the broker's
        broker = broker_for(ctx, host, None, ops)
        return ctx.make("mqtt out", None, name="", topic=topic, broker=broker)
    path = ctx.facts.files[0]
    return ctx.make(
        "file", None, name=path.rsplit("/", 1)[-1], filename=path, filenameType="str",
        appendNewline=True, createDir=True, overwriteFile="false",
    )  # fmt: skip


def _add_opcua_reading(ctx: Context) -> Plan | None:
    """ "also read ns=3;i=1002 and publish it to plant/press4/pressure": a new item and
    client like the flow's own, on the same trigger."""
    items = ctx.nodes("OpcUa-Item")
    fresh = [i for i in ctx.facts.node_ids if i not in {n.get("item") for n in items}]
    new_topics = [t for t in ctx.facts.topics if t not in ctx.flow_topics()]
    if not fresh or not items or not (new_topics or ctx.facts.files):
        return None
    model = items[0]
    clients = [
        ctx.node(t) for _, t in graph.successors(model) if ctx.node(t).get("type") == "OpcUa-Client"
    ]
    if not clients:
        raise Unresolved("found no OPC UA client to copy for the new item")
    client = clients[0]
    plan = Plan([])
    datatype = ctx.facts.opc_type or str(model.get("datatype") or "Double")
    if ctx.facts.opc_type is None:
        plan.notes.append(f"note: {fresh[0]} is read as {datatype}, like {graph.describe(model)}")
    item = ctx.make(
        "OpcUa-Item", model, name=fresh[0].split("=")[-1], item=fresh[0], datatype=datatype
    )
    settings = {k: client[k] for k in ("endpoint", "action", "time", "timeUnit") if k in client}
    reader = ctx.make("OpcUa-Client", client, name=str(client.get("name") or ""), **settings)
    chain = [item, reader, _destination(ctx, new_topics, plan.ops)]
    triggers = [[p, port] for p, port in graph.predecessors(ctx.flow, model["id"])]
    plan.ops.append(op("add_branch", nodes=chain, after=triggers or None))
    return plan
