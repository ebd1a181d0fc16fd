"""Who the flow talks to: brokers, devices, servers, URLs, files, commands, models.

Config nodes (mqtt-broker, modbus-client, OpcUa-Endpoint, WebSocket configs) are listed
with the flow nodes that use them; flow nodes with their own address (http request,
tcp/udp, file, exec, plumb-onnx, http in) add theirs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from assistant.explain import devices
from assistant.explain.graph import FlowGraph, Node
from assistant.explain.text import node_name, quote, show, text_of

_ORDER = [
    "modbus",
    "opcua",
    "mqtt",
    "http",
    "http-endpoint",
    "websocket",
    "tcp",
    "udp",
    "file",
    "command",
    "model",
]
_LABELS = {
    "modbus": "Modbus device",
    "opcua": "OPC UA server",
    "mqtt": "MQTT broker",
    "http": "HTTP server",
    "http-endpoint": "HTTP endpoint",
    "websocket": "WebSocket",
    "tcp": "TCP peer",
    "udp": "UDP peer",
    "file": "file",
    "command": "command on the host",
    "model": "ONNX model file",
}


@dataclass
class Endpoint:
    kind: str
    address: str
    detail: str | None = None
    name: str | None = None
    config_id: str | None = None
    used_by: list[dict[str, Any]] = field(default_factory=list)

    @property
    def title(self) -> str:
        return _LABELS.get(self.kind, self.kind)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "title": self.title,
            "address": self.address,
            "detail": self.detail,
            "name": self.name,
            "config_id": self.config_id,
            "used_by": self.used_by,
        }


def node_ref(node: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": node.get("id"), "type": node.get("type"), "name": node_name(node)}


def _config_endpoint(graph: FlowGraph, node: Node) -> Endpoint | None:
    node_type = node["type"]
    if node_type == "mqtt-broker":
        address = devices.broker_address(node) or "(no broker host set)"
        tls = "TLS" if text_of(node.get("usetls")) == "true" else None
        return Endpoint("mqtt", address, tls)
    if node_type == "modbus-client":
        unit = text_of(node.get("unit_id"))
        return Endpoint(
            "modbus", devices.modbus_address(node) or "?", f"unit {unit}" if unit else None
        )
    if node_type == "OpcUa-Endpoint":
        url = text_of(node.get("endpoint"))
        mode = text_of(node.get("secmode")) or "None"
        return Endpoint(
            "opcua",
            show(url, 120) if url else "(no endpoint URL set)",
            f"security mode {show(mode)}",
        )
    if node_type == "websocket-client":
        return Endpoint("websocket", show(text_of(node.get("path")) or "(no URL)", 120), "client")
    if node_type == "websocket-listener":
        path = show(text_of(node.get("path")) or "/", 120)
        return Endpoint("websocket", path, "served by Node-RED")
    return None


def _node_endpoint(node: Node) -> Endpoint | None:
    node_type = node["type"]
    get = node.get
    if node_type == "http request":
        url = text_of(get("url"))
        method = (text_of(get("method")) or "GET").upper()
        return Endpoint(
            "http",
            show(url, 120) if url else "(URL from msg.url)",
            "method from msg.method" if method == "USE" else method,
        )
    if node_type == "http in":
        method = (text_of(get("method")) or "get").upper()
        url = show(text_of(get("url")) or "(no URL)", 120)
        return Endpoint("http-endpoint", url, f"{method}, served by Node-RED")
    if node_type in ("file", "file in", "watch"):
        key = "files" if node_type == "watch" else "filename"
        path = text_of(get(key))
        dynamic = node_type != "watch" and (text_of(get("filenameType")) or "str") != "str"
        if not path or dynamic:
            return None
        detail = {"file": "written", "file in": "read", "watch": "watched"}[node_type]
        return Endpoint("file", show(path, 120), detail)
    if node_type == "tcp request":
        return Endpoint("tcp", devices.host_port(get("server"), get("port")), "request/reply")
    if node_type == "tcp out":
        mode = text_of(get("beserver")) or "client"
        if mode == "client":
            return Endpoint("tcp", devices.host_port(get("host"), get("port")), "sends")
        return _listening("tcp", get("port")) if mode == "server" else None
    if node_type == "tcp in":
        if text_of(get("server")) == "client":
            return Endpoint("tcp", devices.host_port(get("host"), get("port")), "receives")
        return _listening("tcp", get("port"))
    if node_type == "udp out":
        return Endpoint("udp", devices.host_port(get("addr"), get("port")), "sends")
    if node_type == "udp in":
        return _listening("udp", get("port"))
    if node_type == "exec":
        command = text_of(get("command"))
        return Endpoint("command", quote(command, 80)) if command else None
    if node_type == "plumb-onnx":
        model = text_of(get("model"))
        return Endpoint("model", show(model, 120)) if model else None
    return None


def _listening(kind: str, port: Any) -> Endpoint | None:
    shown = text_of(port)
    return Endpoint(kind, f"port {show(shown)}", "Node-RED listens") if shown else None


def collect_endpoints(graph: FlowGraph) -> list[Endpoint]:
    found: dict[tuple[str, str, str | None], Endpoint] = {}
    for config in graph.config_nodes():
        endpoint = _config_endpoint(graph, config)
        if endpoint is None:
            continue
        endpoint.name = node_name(config)
        endpoint.config_id = config["id"]
        endpoint.used_by = [node_ref(n) for n in graph.users_of(config["id"])]
        found[(endpoint.kind, endpoint.address, config["id"])] = endpoint
    for node in graph.flow_nodes():
        endpoint = _node_endpoint(node)
        if endpoint is None:
            continue
        key = (endpoint.kind, endpoint.address, endpoint.detail)
        existing = found.setdefault(key, endpoint)
        existing.used_by.append(node_ref(node))
    return sorted(found.values(), key=lambda e: _ORDER.index(e.kind) if e.kind in _ORDER else 99)
