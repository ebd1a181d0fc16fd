"""Adding an output: a new MQTT topic, file, HTTP call or debug, hung off the value (or a
named node), with an optional condition and payload shaping."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlparse

from assistant.edit import graph
from assistant.edit.conditions import (
    DEADBAND,
    ONLY_CHANGES,
    SYMBOL,
    attach_points,
    condition_nodes,
    extra_ports,
    rbe_node,
    rules_for,
    value_limits,
)
from assistant.edit.context import Context, op
from assistant.edit.model import Node, Op, Plan, Unresolved
from assistant.edit.nodes import mqtt_broker
from assistant.edit.parse import message_text

ADDITION = (
    r"\b(?:also|additionally|as well|too|in addition|besides|add|adding|extra|another|second|"
    r"alarms?|alerts?|warn(?:ing)?s?|notify|notification|copy|mirror|duplicate it to|plus)\b"
)
CHANGE = (
    r"\b(?:instead|rather than|any ?more|no longer|rename|move|from now on|not\s+\S+\s+any ?more|"
    r"change the topic|switch the topic|replace)\b"
)
_POST_WORDS = (
    r"\b(?:post(?:ed|ing)?|put|send|sent|forward|push|call|notify|webhook|http|rest|api|upload)\b"
)
_FILE_WORDS = r"\b(?:write|writ|log|logg|append|save|store|dump|record|file|csv|archive)\w*"
_DEBUG = r"\bdebug\b"
_CSV_TIME = r"\b(?:time ?stamps?|timestamped|date|time first|datetime)\b"


def add_output(ctx: Context) -> Plan | None:
    """ "also publish alarms to T when > N", "also write to /x.csv", "also POST to URL",
    "add a debug after the switch"."""
    facts = ctx.facts
    adding = ctx.has(ADDITION)
    changing = ctx.has(CHANGE)
    existing = ctx.flow_topics()
    new_topics = [t for t in facts.topics if t not in existing]
    urls = [u for u in facts.urls if u.lower().startswith("http")]
    existing_urls = {n.get("url") for n in ctx.nodes("http request")}
    existing_files = {n.get("filename") for n in ctx.nodes("file")}
    dests: list[str] = []
    if urls and ctx.has(_POST_WORDS) and not (changing and existing_urls and not adding):
        if all(u in existing_urls for u in urls) and not adding:
            return None
        dests.append("http")
    if facts.files and ctx.has(_FILE_WORDS) and not (changing and existing_files and not adding):
        dests.append("file")
    if new_topics and (adding or ctx.facts.thresholds) and not changing:
        dests.append("mqtt")
    if ctx.has(_DEBUG) and (adding or ctx.has(r"\b(?:put|insert|wire|hook|attach|see|show)\b")):
        dests.append("debug")
    if not dests:
        return None
    points = attach_points(ctx)
    if not points:
        raise Unresolved("found no node whose messages the new output could take")
    near = ctx.node(points[0][0])
    ops: list[Op] = []
    for dest in dests:
        chain: list[Node] = []
        if dest != "debug":
            chain += condition_nodes(ctx, near)
            if ctx.has(ONLY_CHANGES) or DEADBAND.search(ctx.text):
                chain.append(rbe_node(ctx, near))
        chain += _DESTS[dest](ctx, near, new_topics, urls, ops)
        ops.append(op("add_branch", nodes=chain, after=[list(p) for p in points]))
        if chain[0]["type"] == "switch" and len(chain) > 1:
            ops += extra_ports(chain[0], chain[1]["id"])
    return Plan(ops)


def _mqtt_dest(
    ctx: Context, near: Node, topics: list[str], urls: list[str], ops: list[Op]
) -> list[Node]:
    topic = topics[0]
    if any(c in topic for c in "+#"):
        raise Unresolved(f"cannot publish to {topic}: MQTT topics to publish on hold no wildcards")
    chain: list[Node] = []
    text = message_text(ctx.text, [topic, *ctx.facts.urls])
    limits = value_limits(ctx)
    alarm = ctx.has(r"\b(?:alarms?|alerts?|warnings?)\b")
    if ctx.facts.json_example is not None:
        shape = json.dumps(ctx.facts.json_example)
        chain.append(set_payload(ctx, near, "alarm message" if alarm else "message", shape, "json"))
    elif text:
        chain.append(set_payload(ctx, near, "alarm text", text, "str"))
    elif alarm and limits:
        rules = rules_for(limits, False)
        limit = " or ".join(
            f"{r['v']}..{r['v2']}" if r["t"] == "btwn" else f"{SYMBOL[r['t']]} {r['v']}"
            for r in rules
        )
        what = graph.label(near).replace('"', "'")
        expr = f'{{"alarm": "{what} {limit}", "value": payload}}'
        chain.append(set_payload(ctx, near, "alarm message", expr, "jsonata"))
    if alarm and not limits and _loose_number(ctx, topic):
        raise Unresolved(
            "could not tell the alarm condition; say it like 'when the value goes over 80'"
        )
    host, port = ctx.facts.hosts[0] if ctx.facts.hosts else (None, None)
    broker = broker_for(ctx, host, port, ops)
    props: dict[str, Any] = {"name": "", "topic": topic, "broker": broker}
    if ctx.facts.qos is not None:
        props["qos"] = str(ctx.facts.qos)
    if ctx.facts.retain is not None:
        props["retain"] = "true" if ctx.facts.retain else "false"
    chain.append(ctx.make("mqtt out", near, **props))
    return chain


def _loose_number(ctx: Context, topic: str) -> bool:
    """A number the instruction states that no fact explains (a limit not understood)."""
    text = ctx.text
    for value in (*ctx.facts.topics, *ctx.facts.urls, *ctx.facts.files, *ctx.facts.quoted):
        text = text.replace(value, " ")
    for host, _ in ctx.facts.hosts:
        text = text.replace(host, " ")
    if ctx.facts.json_example is not None:
        text = re.sub(r"\{[^{}]*\}", " ", text)
    text = re.sub(r"\b[A-Za-z]+\d+\b", " ", text)  # m1, line8, comp1
    return re.search(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])", text) is not None


def broker_for(ctx: Context, host: str | None, port: int | None, ops: list[Op]) -> str:
    if host is None and len([n for n in ctx.flow if n.get("type") == "mqtt-broker"]) > 1:
        users = [n.get("broker") for n in ctx.nodes("mqtt out", "mqtt in") if n.get("broker")]
        if users:
            return str(users[0])  # the broker the flow already publishes through
    broker_id, new_broker = mqtt_broker(ctx.flow, ctx.catalog, ctx.new_id, host, port)
    if new_broker is not None:
        if not any(o.name == "add_node" and o.args["node"]["id"] == broker_id for o in ops):
            ops.append(op("add_node", node=new_broker))
        if host is None:
            ctx.notes.append("note: the flow has no MQTT broker; added one for localhost:1883")
    return broker_id


def set_payload(ctx: Context, near: Node, name: str, value: str, kind: str) -> Node:
    rule = {"t": "set", "p": "payload", "pt": "msg", "to": value, "tot": kind}
    return ctx.make("change", near, name=name, rules=[rule])


def _file_dest(
    ctx: Context, near: Node, topics: list[str], urls: list[str], ops: list[Op]
) -> list[Node]:
    path = ctx.facts.files[0]
    chain: list[Node] = []
    csv = path.lower().endswith(".csv") or ctx.has(r"\bcsv\b")
    if csv or ctx.has(_CSV_TIME):
        sep = '","' if csv else '" "'
        stamp = "$millis()" if ctx.has(r"\b(?:epoch|unix|millis)") else "$now()"
        if ctx.has(
            r"\b(?:value|temp\w*|reading|number) first\b|\btime ?stamp (?:last|at the end)\b"
        ):
            expr = f"$string(payload) & {sep} & {stamp}"
        else:
            expr = f"{stamp} & {sep} & $string(payload)"
        chain.append(
            set_payload(ctx, near, "csv line" if csv else "timestamped line", expr, "jsonata")
        )
    overwrite = (
        "true"
        if ctx.has(r"\b(?:overwrite|replace the file|only the latest|keep only)\b")
        else "false"
    )
    chain.append(
        ctx.make(
            "file",
            near,
            name=path.replace("\\", "/").rsplit("/", 1)[-1],
            filename=path,
            filenameType="str",
            appendNewline=True,
            createDir=True,
            overwriteFile=overwrite,
        )
    )
    return chain


def _http_dest(
    ctx: Context, near: Node, topics: list[str], urls: list[str], ops: list[Op]
) -> list[Node]:
    url = urls[0]
    method = (
        "PUT"
        if ctx.has(r"\bput\b")
        else "GET"
        if ctx.has(r"\b(?:get|fetch|call)\b") and not ctx.has(r"\bpost|send|forward|push")
        else "POST"
    )
    host = urlparse(url).netloc or url
    request = ctx.make(
        "http request", near, name=f"{method} {host}", method=method, url=url, ret="txt"
    )
    answer = ctx.make(
        "debug", near, name="http answer", active=True, tosidebar=True, complete="false"
    )
    return [request, answer]


def _debug_dest(
    ctx: Context, near: Node, topics: list[str], urls: list[str], ops: list[Op]
) -> list[Node]:
    full = ctx.has(r"\b(?:full|complete|whole|entire) (?:msg|message|object)\b")
    props: dict[str, Any] = {"name": "", "active": True, "tosidebar": True, "console": False}
    props.update({"complete": "true", "targetType": "full"} if full else {"complete": "false"})
    if ctx.has(r"\bstatus\b"):
        props["tostatus"] = True
    return [ctx.make("debug", near, **props)]


_DESTS = {"mqtt": _mqtt_dest, "file": _file_dest, "http": _http_dest, "debug": _debug_dest}
