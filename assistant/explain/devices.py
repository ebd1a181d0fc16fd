"""What the protocol nodes talk to: broker and device addresses, registers, OPC UA ids.

Addresses come from the config nodes the flow nodes reference (mqtt-broker,
modbus-client, OpcUa-Endpoint, websocket config) and from the nodes' own properties.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from assistant.explain.graph import FlowGraph
from assistant.explain.text import num, number, show, text_of, truthy

MODBUS_TABLES = {
    "Coil": ("coil", "coils"),
    "Input": ("discrete input", "discrete inputs"),
    "HoldingRegister": ("holding register", "holding registers"),
    "InputRegister": ("input register", "input registers"),
    "MCoils": ("coil", "coils"),
    "MHoldingRegisters": ("holding register", "holding registers"),
}


def broker_address(broker: Mapping[str, Any] | None) -> str | None:
    if broker is None:
        return None
    host = text_of(broker.get("broker"))
    if not host:
        return "(no broker host set)"
    if "://" in host:
        return show(host)
    port = number(broker.get("port"))
    if port is None:
        port = 8883 if truthy(broker.get("usetls")) else 1883
    return show(f"{host}:{num(port)}")


def mqtt_broker(graph: FlowGraph, node: Mapping[str, Any]) -> str | None:
    """The broker an mqtt in/out node uses, or None when it references none that exists."""
    broker = graph.config(node, "broker")
    if broker is None or broker["type"] != "mqtt-broker":
        return None
    return broker_address(broker)


def modbus_address(client: Mapping[str, Any] | None) -> str | None:
    if client is None:
        return None
    if text_of(client.get("clienttype")) in ("serial", "simpleser"):
        port = text_of(client.get("serialPort")) or "(no serial port set)"
        baud = number(client.get("serialBaudrate"))
        speed = f", {num(baud)} baud" if baud is not None else ""
        return f"serial {show(port)}{speed}"
    host = text_of(client.get("tcpHost")) or "127.0.0.1"
    tcp_port = number(client.get("tcpPort"))
    return show(f"{host}:{num(tcp_port if tcp_port is not None else 502)}")


def modbus_client(graph: FlowGraph, node: Mapping[str, Any]) -> Mapping[str, Any] | None:
    client = graph.config(node, "server")
    return client if client is not None and client["type"] == "modbus-client" else None


def modbus_device(graph: FlowGraph, node: Mapping[str, Any]) -> str:
    """ "the Modbus device 192.168.1.10:502" (or a note that no client is configured)."""
    address = modbus_address(modbus_client(graph, node))
    return f"the Modbus device {address}" if address else "a Modbus device (no client configured)"


def modbus_unit(graph: FlowGraph, node: Mapping[str, Any]) -> str | None:
    unit = text_of(node.get("unitid"))
    if not unit:
        client = modbus_client(graph, node)
        unit = text_of(client.get("unit_id")) if client is not None else ""
    return unit or None


def registers(node: Mapping[str, Any]) -> str:
    """ "holding register 100" or "holding registers 100-103" from dataType/adr/quantity."""
    singular, many = MODBUS_TABLES.get(text_of(node.get("dataType")), ("register", "registers"))
    address = number(node.get("adr"))
    count = number(node.get("quantity"))
    count = count if count is not None and count >= 1 else 1
    if address is None:
        return f"{many} (no address set)" if count > 1 else f"{singular} (no address set)"
    if count > 1:
        return f"{many} {num(address)}-{num(address + count - 1)}"
    return f"{singular} {num(address)}"


def register_count(node: Mapping[str, Any]) -> int:
    count = number(node.get("quantity"))
    return int(count) if count is not None and count >= 1 else 1


def opcua_endpoint(graph: FlowGraph, node: Mapping[str, Any]) -> str | None:
    endpoint = graph.config(node, "endpoint")
    if endpoint is None or endpoint["type"] != "OpcUa-Endpoint":
        return None
    url = text_of(endpoint.get("endpoint"))
    return show(url) if url else "(no endpoint URL set)"


def opcua_server(graph: FlowGraph, node: Mapping[str, Any]) -> str:
    url = opcua_endpoint(graph, node)
    return f"the OPC UA server {url}" if url else "an OPC UA server (no endpoint configured)"


def websocket_peer(graph: FlowGraph, node: Mapping[str, Any]) -> str:
    client = graph.config(node, "client")
    if client is not None and client["type"] == "websocket-client":
        return f"the WebSocket server {show(text_of(client.get('path')) or '(no URL)')}"
    server = graph.config(node, "server")
    if server is not None and server["type"] == "websocket-listener":
        return f"clients of the WebSocket path {show(text_of(server.get('path')) or '/')}"
    return "a WebSocket (not configured)"


def host_port(host: Any, port: Any, default_host: str = "") -> str:
    shown_host = text_of(host) or default_host
    shown_port = text_of(port)
    if shown_host and shown_port:
        return show(f"{shown_host}:{shown_port}")
    if shown_port:
        return f"port {show(shown_port)}"
    return show(shown_host) if shown_host else "(address from the message)"
