"""A node factory: fresh nodes with Node-RED's editor defaults from the catalog, and config
nodes reused when the flow already has one for the same server."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from assistant.edit.graph import by_id
from assistant.edit.model import Flow, Node, OpError
from flowschema.catalog import Catalog

_PLACEHOLDER = "_DEFAULT_"


def make_node(
    node_type: str,
    catalog: Catalog,
    new_id: Callable[[], str],
    z: str | None = None,
    **props: Any,
) -> Node:
    """A node of `node_type` as the editor would drop it, with `props` on top. Flow nodes get
    `z` and one empty wire list per output; `x`/`y` are left to the operation that places it."""
    spec = catalog.get(node_type)
    if spec is None:
        raise OpError(f"unknown node type {node_type!r}")
    node: Node = {"id": new_id(), "type": node_type}
    for key, value in spec.defaults().items():
        node[key] = "" if value == _PLACEHOLDER else copy.deepcopy(value)
    node.update(props)
    if not spec.config:
        if z is not None:
            node["z"] = z
        node["wires"] = [[] for _ in range(spec.output_count(node))]
    return node


def _same_host(a: Any, b: Any) -> bool:
    return str(a or "").strip().lower() == str(b or "").strip().lower()


def find_config(flow: Flow, node_type: str, host_key: str, host: str | None) -> Node | None:
    """An existing config node of `node_type` for `host`, or the only one when `host` is None."""
    candidates = [n for n in flow if n.get("type") == node_type]
    if host is None:
        return candidates[0] if len(candidates) == 1 else None
    for node in candidates:
        if _same_host(node.get(host_key), host):
            return node
    return None


def mqtt_broker(
    flow: Flow, catalog: Catalog, new_id: Callable[[], str], host: str | None, port: int | None
) -> tuple[str, Node | None]:
    """The broker id to use, and the new broker node when none of the flow's fits."""
    found = find_config(flow, "mqtt-broker", "broker", host)
    if found is not None and (port is None or str(found.get("port", 1883)) == str(port)):
        return str(found["id"]), None
    node = make_node(
        "mqtt-broker",
        catalog,
        new_id,
        name=f"broker {host or 'localhost'}",
        broker=host or "localhost",
        port=port or 1883,
    )
    return str(node["id"]), node


def modbus_client(
    flow: Flow,
    catalog: Catalog,
    new_id: Callable[[], str],
    host: str | None,
    port: int | None,
    unit: int | None,
) -> tuple[str, Node | None]:
    """The modbus-client id to use, and the new client node when none of the flow's fits."""
    found = find_config(flow, "modbus-client", "tcpHost", host)
    if found is not None and (port is None or str(found.get("tcpPort", 502)) == str(port)):
        return str(found["id"]), None
    if host is None:
        raise OpError("no PLC address given and the flow has no single modbus-client to reuse")
    props: dict[str, Any] = {"name": f"PLC {host}", "tcpHost": host, "tcpPort": port or 502}
    if unit is not None:
        props["unit_id"] = unit
    node = make_node("modbus-client", catalog, new_id, **props)
    return str(node["id"]), node


def config_ids(flow: Flow) -> set[str]:
    """Ids that are referenced as config nodes (not wired)."""
    index = by_id(flow)
    return {
        value
        for node in flow
        for key, value in node.items()
        if key not in ("id", "z", "g", "wires") and isinstance(value, str) and value in index
    }
