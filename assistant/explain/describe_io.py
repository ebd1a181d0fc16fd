"""Descriptions of the nodes that talk to the outside: MQTT, HTTP, Modbus, OPC UA, files,
TCP/UDP, WebSockets, commands and Plumb's ONNX node. Each also returns an `Action`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from assistant.explain import devices
from assistant.explain.actions import Action, Context, Describer, Description
from assistant.explain.graph import OPCUA_WRITES, FlowGraph
from assistant.explain.text import (
    duration,
    msg_path,
    number,
    quote,
    show,
    text_of,
    truthy,
    unit_seconds,
)

OPCUA_ID = re.compile(r"^\s*(ns=\d+;)?[isgb]=", re.IGNORECASE)


def _mqtt_out(graph: FlowGraph, node: dict[str, Any], ctx: Context) -> Description:
    topic = text_of(node.get("topic"))
    shown = show(topic, 100) if topic else "the topic in msg.topic"
    broker = devices.mqtt_broker(graph, node)
    place = f"on broker {broker}" if broker else "with no broker configured"
    qos = text_of(node.get("qos"))
    retain = "retained" if truthy(node.get("retain")) else "not retained"
    details = f"QoS {show(qos)}, {retain}" if qos else f"QoS from msg.qos, {retain}"
    if topic:
        action = Action("publish", "publishes {obj} to", "MQTT topic", shown, place, "MQTT topics")
    else:
        action = Action(
            "publish", "publishes {obj} to MQTT with the topic from msg.topic", "", "", place
        )
    where = f"MQTT topic {shown}" if topic else "MQTT with the topic from msg.topic"
    return Description(f"publishes msg.payload to {where} ({details}) {place}", action)


def _mqtt_in(graph: FlowGraph, node: dict[str, Any], ctx: Context) -> Description:
    broker = devices.mqtt_broker(graph, node) or "(no broker configured)"
    return Description(
        f"changes its MQTT subscriptions on broker {broker} as incoming messages ask "
        "(msg.action subscribe/unsubscribe)"
    )


def _http_request(graph: FlowGraph, node: dict[str, Any], ctx: Context) -> Description:
    method = text_of(node.get("method")).upper() or "GET"
    url = text_of(node.get("url"))
    shown = show(url, 120) if url else "the URL in msg.url"
    verb = (
        "an HTTP request with the method in msg.method"
        if method == "USE"
        else (f"an HTTP {method} request")
    )
    result = {"obj": " (parsed as JSON)", "bin": " (as raw bytes)"}.get(
        text_of(node.get("ret")), " (as text)"
    )
    body = " with msg.payload" if method not in ("GET", "HEAD") else ""
    text = f"sends {verb}{body} to {shown} and passes on the response{result}"
    if method in ("GET", "HEAD"):
        return Description(text, Action("read", "fetches", "", shown))
    return Description(text, Action("send", f"sends {{obj}} with HTTP {method} to", "", shown))


def _http_response(graph: FlowGraph, node: dict[str, Any], ctx: Context) -> Description:
    status = text_of(node.get("statusCode"))
    code = f"status {show(status)}" if status else "status from msg.statusCode, else 200"
    return Description(
        f"sends msg.payload back as the HTTP response ({code})",
        Action("answer", "answers the HTTP request"),
    )


def _unit(graph: FlowGraph, node: Mapping[str, Any]) -> str:
    unit = devices.modbus_unit(graph, node)
    return f" (unit {show(unit)})" if unit else ""


def _modbus_getter(graph: FlowGraph, node: dict[str, Any], ctx: Context) -> Description:
    registers = devices.registers(node)
    device = devices.modbus_device(graph, node)
    return Description(
        f"reads {registers}{_unit(graph, node)} from {device} each time a message arrives",
        Action("read", "reads", "", registers, f"on {device}"),
    )


def _modbus_flex_getter(graph: FlowGraph, node: dict[str, Any], ctx: Context) -> Description:
    device = devices.modbus_device(graph, node)
    return Description(
        f"reads the coils or registers that msg.payload describes (fc, address, quantity) "
        f"from {device}",
        Action("read", "reads", "", "the registers the message asks for", f"on {device}"),
    )


def _modbus_write(graph: FlowGraph, node: dict[str, Any], ctx: Context) -> Description:
    registers = devices.registers(node)
    device = devices.modbus_device(graph, node)
    return Description(
        f"writes msg.payload to {registers}{_unit(graph, node)} on {device}",
        Action("write", "writes {obj} to", "", registers, f"on {device}"),
    )


def _modbus_flex_write(graph: FlowGraph, node: dict[str, Any], ctx: Context) -> Description:
    device = devices.modbus_device(graph, node)
    return Description(
        f"writes msg.payload.value to the coil or register that msg.payload describes "
        f"(fc, address) on {device}",
        Action("write", "writes {obj} to", "", "the register the message names", f"on {device}"),
    )


def _modbus_response(graph: FlowGraph, node: dict[str, Any], ctx: Context) -> Description:
    return Description("shows the Modbus reply in the node's status")


def _modbus_connector(graph: FlowGraph, node: dict[str, Any], ctx: Context) -> Description:
    return Description(
        f"switches the connection of {devices.modbus_device(graph, node)} to the settings "
        "in msg.payload"
    )


def _opcua_item(graph: FlowGraph, node: dict[str, Any], ctx: Context) -> Description:
    item = text_of(node.get("item"))
    kind = text_of(node.get("datatype"))
    typed = f" ({show(kind)})" if kind else ""
    if not item:
        return Description(f"tags the message with no OPC UA node id{typed}")
    return Description(
        f"sets msg.topic to the OPC UA node {show(item, 100)}{typed}",
        context=Context(topic=item),
    )


def _opcua_client(graph: FlowGraph, node: dict[str, Any], ctx: Context) -> Description:
    action = text_of(node.get("action")) or "read"
    server = devices.opcua_server(graph, node)
    url = devices.opcua_endpoint(graph, node) or "(no endpoint)"
    item = ctx.topic if ctx.topic and OPCUA_ID.match(ctx.topic) else None
    shown = show(item, 100) if item else "the node in msg.topic"
    value = show(item, 100) if item else "(node id from msg.topic)"
    seconds = (number(node.get("time")) or 0) * unit_seconds(node.get("timeUnit") or "s")
    interval = f"publishing interval {duration(seconds)}" if seconds else "default interval"
    if action == "read":
        return Description(
            f"reads {shown} from {server}",
            Action("read", "reads", "OPC UA node", value, f"from the server {url}"),
        )
    if action in OPCUA_WRITES:
        return Description(
            f"writes msg.payload to {shown} on {server}",
            Action(
                "write",
                "writes {obj} to",
                "OPC UA node",
                value,
                f"on the server {url}",
                "OPC UA nodes",
            ),
        )
    if action == "subscribe":
        return Description(
            f"subscribes to {shown} on {server} ({interval}); from then on it sends a "
            "message each time the value changes",
            Action("subscribe", "subscribes to", "OPC UA node", value, f"on the server {url}"),
        )
    if action == "monitor":
        band = text_of(node.get("deadbandvalue")) or "?"
        unit = "%" if text_of(node.get("deadbandtype")) == "p" else ""
        return Description(
            f"monitors {shown} on {server} ({interval}, deadband {show(band)}{unit}); it "
            "sends a message when the value moves by more than the deadband",
            Action("subscribe", "monitors", "OPC UA node", value, f"on the server {url}"),
        )
    if action == "events":
        return Description(
            f"subscribes to events from {server}; each event arrives as a message",
            Action("subscribe", "subscribes to events from", "", f"the server {url}"),
        )
    if action == "browse":
        return Description(f"browses {shown} on {server}")
    return Description(f"performs the OPC UA action {quote(action, 30)} on {server}")


def _opcua_browser(graph: FlowGraph, node: dict[str, Any], ctx: Context) -> Description:
    topic = text_of(node.get("topic"))
    start = show(topic) if topic else "the node in msg.topic (or the Objects folder)"
    return Description(f"lists the children of {start} on {devices.opcua_server(graph, node)}")


def _opcua_event(graph: FlowGraph, node: dict[str, Any], ctx: Context) -> Description:
    kind = (
        text_of(
            node.get("customeventtype" if truthy(node.get("activatecustomevent")) else "eventtype")
        )
        or "all"
    )
    root = text_of(node.get("root")) or "the server"
    return Description(
        f"prepares an event subscription for {show(kind)} events from {show(root)}",
        context=Context(topic=root),
    )


def _file_target(node: Mapping[str, Any]) -> str:
    """ "the file /data/x.csv", or where the name comes from when it is not fixed."""
    name = text_of(node.get("filename"))
    kind = text_of(node.get("filenameType")) or "str"
    if kind == "str" and name:
        return f"the file {show(name, 120)}"
    if kind == "env" and name:
        return f"the file named by env var {show(name)}"
    if kind == "jsonata" and name:
        return f"the file named by the expression {quote(name, 40)}"
    return f"the file named in msg.{show(name if kind == 'msg' and name else 'filename')}"


def _file(graph: FlowGraph, node: dict[str, Any], ctx: Context) -> Description:
    target = _file_target(node)
    mode = text_of(node.get("overwriteFile")) or "false"
    if mode == "delete":
        return Description(f"deletes {target}", Action("file", "deletes", "", target))
    extras = []
    if truthy(node.get("appendNewline"), True) and mode != "true":
        extras.append("adds a line break")
    if truthy(node.get("createDir")):
        extras.append("creates missing folders")
    extra = f" ({', '.join(extras)})" if extras else ""
    if mode == "true":
        return Description(
            f"overwrites {target} with msg.payload{extra}",
            Action("file", "writes {obj} to", "", target),
        )
    return Description(
        f"appends msg.payload to {target}{extra}",
        Action("file", "appends {obj} to", "", target),
    )


def _file_in(graph: FlowGraph, node: dict[str, Any], ctx: Context) -> Description:
    target = _file_target(node)
    form = {"lines": "one message per line", "": "a buffer", "stream": "a stream of chunks"}.get(
        text_of(node.get("format")), "text"
    )
    return Description(
        f"reads {target} into msg.payload as {form}", Action("read", "reads", "", target)
    )


def _exec(graph: FlowGraph, node: dict[str, Any], ctx: Context) -> Description:
    command = text_of(node.get("command"))
    shown = quote(command, 80) if command else "(no command set)"
    added = text_of(node.get("addpay"))
    arg = f", appending {msg_path(added)} as an argument" if added else ""
    timer = number(node.get("timer"))
    limit = f"; killed after {duration(timer)}" if timer else ""
    return Description(
        f"runs the command {shown} on the host{arg}{limit}",
        Action("command", "runs the command", "", shown),
    )


def _tcp_request(graph: FlowGraph, node: dict[str, Any], ctx: Context) -> Description:
    peer = devices.host_port(node.get("server"), node.get("port"))
    return Description(
        f"sends msg.payload to TCP {peer} and passes on the reply",
        Action("read", "queries", "", f"TCP {peer}"),
    )


def _tcp_out(graph: FlowGraph, node: dict[str, Any], ctx: Context) -> Description:
    mode = text_of(node.get("beserver")) or "client"
    if mode == "reply":
        return Description(
            "replies on the TCP connection the message came in on",
            Action("answer", "replies over TCP"),
        )
    if mode == "server":
        port = show(text_of(node.get("port")) or "?")
        return Description(
            f"sends msg.payload to every client connected to TCP port {port}",
            Action("send", "sends {obj} to TCP clients on port", "", port),
        )
    peer = devices.host_port(node.get("host"), node.get("port"))
    return Description(
        f"sends msg.payload over TCP to {peer}", Action("send", "sends {obj} over TCP to", "", peer)
    )


def _udp_out(graph: FlowGraph, node: dict[str, Any], ctx: Context) -> Description:
    peer = devices.host_port(node.get("addr"), node.get("port"))
    return Description(
        f"sends msg.payload as a UDP datagram to {peer}",
        Action("send", "sends {obj} by UDP to", "", peer),
    )


def _websocket_out(graph: FlowGraph, node: dict[str, Any], ctx: Context) -> Description:
    peer = devices.websocket_peer(graph, node)
    return Description(f"sends msg.payload to {peer}", Action("send", "sends {obj} to", "", peer))


def _onnx(graph: FlowGraph, node: dict[str, Any], ctx: Context) -> Description:
    model = text_of(node.get("model"))
    shown = show(model, 120) if model else "(no model file set)"
    source = msg_path(node.get("input") or "payload")
    target = msg_path(node.get("output") or "payload")
    details = [text_of(node.get("dtype")) or "float32"]
    if text_of(node.get("shape")):
        details.append(f"shape {show(text_of(node.get('shape')))}")
    return Description(
        f"runs the ONNX model {shown} on {source} ({', '.join(details)}) and writes the "
        f"result to {target}",
        Action("model", "runs {obj} through the ONNX model", "", shown),
    )


IO_DESCRIBERS: dict[str, Describer] = {
    "mqtt out": _mqtt_out,
    "mqtt in": _mqtt_in,
    "http request": _http_request,
    "http response": _http_response,
    "modbus-getter": _modbus_getter,
    "modbus-flex-getter": _modbus_flex_getter,
    "modbus-write": _modbus_write,
    "modbus-flex-write": _modbus_flex_write,
    "modbus-response": _modbus_response,
    "modbus-flex-connector": _modbus_connector,
    "OpcUa-Item": _opcua_item,
    "OpcUa-Client": _opcua_client,
    "OpcUa-Browser": _opcua_browser,
    "OpcUa-Event": _opcua_event,
    "file": _file,
    "file in": _file_in,
    "exec": _exec,
    "tcp request": _tcp_request,
    "tcp out": _tcp_out,
    "udp out": _udp_out,
    "websocket out": _websocket_out,
    "plumb-onnx": _onnx,
}
