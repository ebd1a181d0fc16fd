"""Families that change settings of existing nodes: a switch limit, server address,
register, file path, URL, node name."""

from __future__ import annotations

import re
from typing import Any

from assistant.edit import graph, locate
from assistant.edit.change import CUE, choose, set_op
from assistant.edit.context import Context
from assistant.edit.model import Op, Unresolved
from assistant.edit.parse import number_text

# --- threshold ------------------------------------------------------------------------------------


_LIMIT = (
    r"\b(?:limit|threshold|setpoint|set point|trip(?: point)?|alarm (?:level|at|point)"
    r"|trigger (?:level|at)|alarm when)\b"
)


def threshold(ctx: Context) -> list[Op] | None:
    if not (ctx.has(_LIMIT) or (ctx.facts.thresholds and ctx.has(CUE))):
        return None
    switches = [
        n for n in ctx.nodes("switch") if any(_numeric_rule(r) for r in n.get("rules") or [])
    ]
    numbers = re.findall(r"(?<![\w.])(-?\d+(?:\.\d+)?)(?![\w.])", ctx.text)
    if not numbers:
        return None
    old_m = re.search(
        r"(?:from|instead of|rather than|not|was)\s+(-?\d+(?:\.\d+)?)", ctx.text, re.I
    )
    new_m = re.search(
        r"(?:\bto|\bat|\bbe|>=?|<=?|above|below|over|under)\s+(-?\d+(?:\.\d+)?)", ctx.text, re.I
    )
    if new_m is None and ctx.facts.thresholds:
        new_value = ctx.facts.thresholds[0].value
    elif new_m is not None:
        new_value = float(new_m.group(1))
    else:
        return None
    old_value = float(old_m.group(1)) if old_m else None
    if not switches:
        functions = [
            n for n in ctx.nodes("function") if re.search(r"[<>]=?\s*\d", str(n.get("func")))
        ]
        if functions:
            raise Unresolved(
                "the limit is inside function code; I do not rewrite code to change it"
            )
        return None
    rules = [
        (n, i)
        for n in switches
        for i, r in enumerate(n["rules"])
        if _numeric_rule(r) and (old_value is None or abs(float(r["v"]) - old_value) < 1e-9)
    ]
    if not rules:
        raise Unresolved(f"no switch tests against {number_text(old_value or 0)}")
    nodes = list(dict.fromkeys(id(n) for n, _ in rules))
    if len(nodes) > 1:
        chosen = ctx.pick([n for n in switches if id(n) in nodes], "switch nodes")
        rules = [(n, i) for n, i in rules if n in chosen]
    ops = []
    for node in {id(n): n for n, _ in rules}.values():
        new_rules = [dict(r) for r in node["rules"]]
        for n, i in rules:
            if n is node:
                old_text = str(new_rules[i]["v"])
                new_rules[i]["v"] = number_text(new_value)
                if ctx.facts.thresholds:
                    new_rules[i]["t"] = ctx.facts.thresholds[0].op
        ops.append(set_op(node, "rules", new_rules))
        name = str(node.get("name") or "")
        if old_text in name:
            ops.append(
                set_op(
                    node,
                    "name",
                    re.sub(
                        rf"(?<![\d.]){re.escape(old_text)}(?![\d.])", number_text(new_value), name
                    ),
                )
            )
    return ops


def _numeric_rule(rule: Any) -> bool:
    if not isinstance(rule, dict) or rule.get("t") not in ("gt", "gte", "lt", "lte", "eq", "neq"):
        return False
    try:
        float(rule.get("v"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return rule.get("vt") in ("num", None, "")


# --- servers, registers, paths, URLs, names -------------------------------------------------------


_KINDS = {
    "mqtt-broker": (r"\b(?:broker|mqtt|mosquitto)\b", "broker", "port"),
    "modbus-client": (
        r"\b(?:plc|modbus|controller|slave|device|gateway|rtu)\b",
        "tcpHost",
        "tcpPort",
    ),
}


def server(ctx: Context) -> list[Op] | None:
    """ "the PLC moved to 10.0.0.7", "use broker 10.1.1.1:1884", "OPC UA server is now at
    opc.tcp://..."."""
    opc = [u for u in ctx.facts.urls if u.lower().startswith("opc.tcp://")]
    endpoints = [n for n in ctx.flow if n.get("type") == "OpcUa-Endpoint"]
    if opc and endpoints and ctx.has(CUE + r"|\b(?:moved|migrat\w*)\b"):
        fresh = [u for u in opc if u not in {n.get("endpoint") for n in endpoints}]
        if fresh:
            chosen = [n for n in endpoints if n.get("endpoint") in opc] or endpoints
            if len(chosen) > 1:
                raise Unresolved("several OPC UA endpoints could be meant; name the old URL")
            return [set_op(chosen[0], "endpoint", fresh[0])]
    if not ctx.facts.hosts or not ctx.has(CUE + r"|\b(?:moved|migrat\w*|ip|address|host)\b"):
        return None
    known = {str(n.get(key)) for n in ctx.flow for _, key, _ in _KINDS.values() if n.get(key)}
    fresh_hosts = [h for h in ctx.facts.hosts if h[0] not in known]
    if not fresh_hosts:
        return None
    host, port = fresh_hosts[0]
    port = port or ctx.facts.port
    old_hosts = [h for h, _ in ctx.facts.hosts if h in known]
    for kind in _server_kinds(ctx, host):
        _, host_key, port_key = _KINDS[kind]
        configs = [n for n in ctx.flow if n.get("type") == kind]
        if old_hosts:
            configs = [n for n in configs if n.get(host_key) in old_hosts] or configs
        if len(configs) == 1:
            ops = [set_op(configs[0], host_key, host)]
            if port is not None:
                ops.append(set_op(configs[0], port_key, port))
            return ops
        if len(configs) > 1:
            raise Unresolved(
                f"several {kind} nodes could be meant: "
                + ", ".join(graph.describe(n) for n in configs)
                + "; give the old address too"
            )
    return None


def _server_kinds(ctx: Context, host: str) -> list[str]:
    """Config node types the new address is for: the server word nearest before it."""
    at = ctx.text.find(host)
    before = ctx.text[max(0, at - 80) : at] if at >= 0 else ctx.text
    best: list[tuple[int, str]] = []
    for kind, (word, _, _) in _KINDS.items():
        hits = [m.end() for m in re.finditer(word, before, re.I)]
        if hits:
            best.append((hits[-1], kind))
    if best:
        return [kind for _, kind in sorted(best, reverse=True)][:1]
    if ctx.facts.register is not None:
        return ["modbus-client"]
    return list(_KINDS)


def register(ctx: Context) -> list[Op] | None:
    reg = ctx.facts.register
    readers = ctx.nodes("modbus-read", "modbus-getter", "modbus-write")
    if not readers:
        return None
    if reg is None:
        if ctx.facts.unit_id is None or not ctx.has(CUE):
            return None
        chosen = choose(ctx, readers, "Modbus nodes")
        return [set_op(n, "unitid", str(ctx.facts.unit_id)) for n in chosen]
    chosen = choose(ctx, readers, "Modbus nodes")
    ops = []
    for node in chosen:
        ops.append(set_op(node, "adr", str(reg.address)))
        if node.get("dataType") != reg.table and node.get("type") != "modbus-write":
            ops.append(set_op(node, "dataType", reg.table))
        if ctx.facts.quantity is not None:
            ops.append(set_op(node, "quantity", str(ctx.facts.quantity)))
        if ctx.facts.unit_id is not None:
            ops.append(set_op(node, "unitid", str(ctx.facts.unit_id)))
    return ops


def file_path(ctx: Context) -> list[Op] | None:
    files = ctx.nodes("file", "file in")
    if not ctx.facts.files or not files or not ctx.has(CUE):
        return None
    existing = {n.get("filename") for n in files}
    fresh = [f for f in ctx.facts.files if f not in existing]
    if not fresh:
        return None
    old = [n for n in files if n.get("filename") in ctx.facts.files]
    chosen = old or choose(ctx, files, "file nodes")
    return [set_op(n, "filename", fresh[0]) for n in chosen]


def url(ctx: Context) -> list[Op] | None:
    requests = ctx.nodes("http request")
    urls = [u for u in ctx.facts.urls if u.lower().startswith("http")]
    if not urls or not requests or not ctx.has(CUE):
        return None
    existing = {n.get("url") for n in requests}
    fresh = [u for u in urls if u not in existing]
    if not fresh:
        return None
    old = [n for n in requests if n.get("url") in urls]
    chosen = old or choose(ctx, requests, "http request nodes")
    return [set_op(n, "url", fresh[0]) for n in chosen]


def opcua_item(ctx: Context) -> list[Op] | None:
    """ "read ns=2;s=Line1.Speed instead of ns=2;s=Line1.Temp"."""
    ids = ctx.facts.node_ids
    holders = [
        n for n in graph.canvas_nodes(ctx.flow, ctx.catalog)
        if re.match(r"ns=\d+;", str(n.get("item") or n.get("topic") or ""))
    ]  # fmt: skip
    if not ids or not holders:
        return None
    key = {id(n): "item" if n.get("item") else "topic" for n in holders}
    present = {str(n[key[id(n)]]).split(";datatype=")[0] for n in holders}
    fresh = [i for i in ids if i not in present]
    if not fresh:
        return None
    old = [n for n in holders if str(n[key[id(n)]]).split(";datatype=")[0] in ids]
    chosen = old or choose(ctx, holders, "OPC UA items")
    ops: list[Op] = []
    for node in chosen:
        ops.append(set_op(node, key[id(node)], fresh[0]))
        if node.get("type") == "OpcUa-Item" and ctx.facts.opc_type:
            ops.append(set_op(node, "datatype", ctx.facts.opc_type))
    return ops


_RENAME = re.compile(
    r"\brename (?:the )?(?P<what>.+?) (?:to|as|into) [\"'“]?(?P<name>[^\"'”]+?)[\"'”]?\s*$", re.I
)


def rename(ctx: Context) -> list[Op] | None:
    m = _RENAME.search(ctx.text.strip().rstrip("."))
    if m is None or ctx.facts.topics:
        return None
    found = locate.find(ctx.flow, m.group("what"), ctx.catalog)
    if not found:
        raise Unresolved(f"no node matches '{m.group('what')}' (the flow has: {ctx.inventory()})")
    if len(found) > 1:
        raise Unresolved(
            f"'{m.group('what')}' could be {', '.join(graph.describe(n) for n in found)}"
        )
    return [set_op(found[0], "name", m.group("name").strip())]
