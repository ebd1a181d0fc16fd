"""What starts a walk: inject timing (interval, cron, once, button), subscriptions, HTTP
endpoints, Modbus polling, file watches, error/status handlers, link and subflow inputs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from assistant.explain import devices
from assistant.explain.graph import FlowGraph
from assistant.explain.text import (
    duration,
    join_words,
    label,
    node_name,
    number,
    plural,
    quote,
    show,
    text_of,
    truthy,
    typed_value,
    unit_seconds,
)

_DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]


@dataclass(frozen=True)
class Trigger:
    kind: str  # interval, cron, once, button, mqtt, http, modbus-poll, opcua-subscription, ...
    description: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "description": self.description}


def _days(field: str) -> str | None:
    if field in ("*", "?"):
        return "every day"
    days: list[int] = []
    for part in field.split(","):
        low, _, high = part.partition("-")
        if not low.isdigit() or (high and not high.isdigit()) or max(len(low), len(high)) > 1:
            return None
        days.extend(range(int(low), int(high or low) + 1))
    days = sorted({d % 7 for d in days if 0 <= d <= 7})
    if not days:
        return None
    if len(days) == 7:
        return "every day"
    if len(days) >= 3 and days == list(range(days[0], days[-1] + 1)):
        return f"{_DAYS[days[0]]} to {_DAYS[days[-1]]}"
    return f"on {join_words(_DAYS[d] for d in days)}"


def describe_cron(expression: str) -> str:
    """The usual shapes in plain words; anything else quoted as it is."""
    fields = expression.split()
    if len(fields) == 6:
        fields = fields[1:] if fields[0] in ("0", "00") else []
    if len(fields) == 5 and fields[2] in ("*", "?") and fields[3] == "*":
        minute, hour, _, _, weekday = fields
        days = _days(weekday)
        if days is not None:
            hours = hour.split(",")
            if minute.isdigit() and all(h.isdigit() for h in hours):
                times = [f"{int(h):02d}:{int(minute):02d}" for h in hours]
                return f"at {join_words(times)} {days}"
            if minute.startswith("*/") and minute[2:].isdigit() and hour == "*":
                every = duration(int(minute[2:]) * 60.0)
                return f"every {every}" + ("" if days == "every day" else f", {days}")
            if minute.startswith("*/") and minute[2:].isdigit() and "-" in hour:
                low, _, high = hour.partition("-")
                if low.isdigit() and high.isdigit():
                    every = duration(int(minute[2:]) * 60.0)
                    return f"every {every} between {int(low):02d}:00 and {int(high):02d}:59, {days}"
            if minute.isdigit() and hour == "*":
                return f"every hour at minute {int(minute)}" + (
                    "" if days == "every day" else f", {days}"
                )
    return f"on the cron schedule {quote(expression, 60)}"


def inject_timing(node: Mapping[str, Any]) -> tuple[str, str]:
    """(kind, phrase) of an inject node: interval, cron, once or button."""
    repeat = number(node.get("repeat"))
    cron = text_of(node.get("crontab"))
    once = truthy(node.get("once"))
    delay = number(node.get("onceDelay"))
    at_start = f"once {duration(delay if delay else 0.1)} after each deploy or restart"
    if repeat and repeat > 0:
        extra = ", and once at start-up" if once else ""
        return "interval", f"every {duration(repeat)}{extra}"
    if cron:
        extra = ", and once at start-up" if once else ""
        return "cron", describe_cron(cron) + extra
    if once:
        return "once", at_start
    return "button", "only when someone clicks its button in the editor"


def inject_payload(node: Mapping[str, Any]) -> str:
    props = node.get("props")
    if not isinstance(props, list):
        props = [{"p": "payload"}, {"p": "topic", "vt": "str"}]
    parts = []
    for prop in props[:4]:
        if not isinstance(prop, dict):
            continue
        name = text_of(prop.get("p"))
        if name == "payload":
            value = typed_value(node.get("payload"), node.get("payloadType") or "date")
        elif name == "topic":
            topic = text_of(node.get("topic"))
            if not topic:
                continue
            value = quote(topic, 60)
        else:
            value = typed_value(prop.get("v"), prop.get("vt") or "str")
        if name:
            parts.append(f"msg.{show(name, 40)} = {value}")
    return f" (sends {join_words(parts)})" if parts else ""


def scope_text(graph: FlowGraph, node: Mapping[str, Any]) -> str:
    scope = node.get("scope")
    container = "this subflow" if graph.in_subflow(node) else "its tab"
    if scope == "group":
        return "any node in its group"
    if isinstance(scope, list) and scope:
        targets = [graph.get(i) for i in scope]
        names = [label(t) for t in targets if t is not None][:3]
        extra = len(scope) - len(names)
        if extra > 0:
            names.append(plural(extra, "other node"))
        return join_words(names, "or") if names else "nodes that do not exist"
    return f"any node on {container}"


def describe_trigger(graph: FlowGraph, node: Mapping[str, Any]) -> Trigger:
    node_type = node.get("type")
    if node_type == "inject":
        kind, timing = inject_timing(node)
        return Trigger(kind, timing + inject_payload(node))
    if node_type == "mqtt in":
        broker = devices.mqtt_broker(graph, node) or "(no broker configured)"
        if number(node.get("inputs")) == 1:
            return Trigger(
                "mqtt", f"each message on the topics it is told to follow, from broker {broker}"
            )
        topic = text_of(node.get("topic"))
        qos = text_of(node.get("qos")) or "2"
        shown = show(topic, 100) if topic else "(no topic set)"
        data = " parsed as JSON" if text_of(node.get("datatype")) == "json" else ""
        return Trigger(
            "mqtt",
            f"each message{data} on MQTT topic {shown} (QoS {show(qos)}) from broker {broker}",
        )
    if node_type == "http in":
        method = (text_of(node.get("method")) or "get").upper()
        url = text_of(node.get("url"))
        return Trigger("http", f"an HTTP {method} request to {show(url) if url else '(no URL)'}")
    if node_type == "modbus-read":
        return Trigger("modbus-poll", modbus_poll(graph, node))
    if node_type == "watch":
        files = text_of(node.get("files")) or "(nothing set)"
        deep = " and its sub-folders" if truthy(node.get("recursive")) else ""
        return Trigger("file-watch", f"a change to {show(files, 120)}{deep}")
    if node_type == "link in":
        return Trigger(
            "link",
            "a message from a link node elsewhere (no link out or link call "
            "in this flow points here)",
        )
    if node_type == "catch":
        handled = " that no other catch node handled" if truthy(node.get("uncaught")) else ""
        return Trigger("catch", f"an error thrown by {scope_text(graph, node)}{handled}")
    if node_type == "status":
        return Trigger("status", f"a status change of {scope_text(graph, node)}")
    if node_type == "complete":
        return Trigger("complete", f"{scope_text(graph, node)} finishing a message")
    if node_type == "tcp in":
        return Trigger("tcp", _tcp_in(node))
    if node_type == "udp in":
        port = show(text_of(node.get("port")) or "?")
        group = text_of(node.get("group"))
        multicast = f" (multicast group {show(group)})" if truthy(node.get("multicast")) else ""
        return Trigger("udp", f"each UDP datagram on port {port}{multicast}")
    if node_type == "websocket in":
        return Trigger("websocket", f"each message from {devices.websocket_peer(graph, node)}")
    if node_type == "function":
        return Trigger("setup", "messages its setup code sends on its own")
    if node_type == "subflow":
        return Trigger("subflow-input", _subflow_input(graph, node))
    spec = graph.spec(node)
    if spec is None:
        return Trigger("other", f"messages from a node of the unknown type {quote(node_type)}")
    return Trigger("other", f"messages the {show(spec.type)} node emits")


def modbus_poll(graph: FlowGraph, node: Mapping[str, Any]) -> str:
    registers = devices.registers(node)
    unit = devices.modbus_unit(graph, node)
    unit_text = f" (unit {show(unit)})" if unit else ""
    rate = number(node.get("rate"))
    every = (
        f"every {duration(rate * unit_seconds(node.get('rateUnit') or 's'))}"
        if rate
        else ("(no polling interval set)")
    )
    return f"polls {registers}{unit_text} on {devices.modbus_device(graph, node)} {every}"


def _tcp_in(node: Mapping[str, Any]) -> str:
    port = text_of(node.get("port")) or "?"
    if text_of(node.get("server")) in ("client", "false"):
        return f"data from TCP {devices.host_port(node.get('host'), port)}"
    return f"data arriving on TCP port {show(port)} (Node-RED listens)"


def _subflow_input(graph: FlowGraph, subflow: Mapping[str, Any]) -> str:
    instances = graph.instances.get(str(subflow.get("id")), [])
    users = [label(i) for i in instances[:3]]
    used = f" (used by {join_words(users)})" if users else " (no instance uses it)"
    name = node_name(subflow) or str(subflow.get("id"))
    return f"a message arriving at the input of the subflow {quote(name)}{used}"
