"""Modbus devices and registers, OPC UA servers and node ids, other hosts."""

from __future__ import annotations

import json
import re

from assistant.extract import Endpoint, Extracted, Register
from assistant.valuecheck.flow import (
    Flow,
    Mismatch,
    Node,
    has,
    host_port,
    id_list,
    norm_url,
    num,
    num_eq,
    quote,
)

_MODBUS_NODES = ("modbus-read", "modbus-getter", "modbus-write")
_FLEX = ("modbus-flex-getter", "modbus-flex-write", "modbus-flex-connector")


def _unit(node: Node, client: Node | None) -> float | None:
    own = num(node.get("unitid"))
    return own if own is not None else (num(client.get("unit_id")) if client else None)


def check_modbus_device(e: Endpoint, f: Flow) -> list[Mismatch]:
    clients = f.of("modbus-client")
    hosts = [str(c.get("tcpHost", "")) for c in clients]
    same = [c for c in clients if str(c.get("tcpHost", "")).strip().lower() == e.host.lower()]
    if not same:
        return [
            Mismatch(
                "modbus_device",
                e.host,
                hosts,
                f"the request names Modbus device {e.host}, but no modbus-client connects "
                f"to it; modbus-client hosts: {quote(hosts)}",
                id_list(clients),
            )
        ]
    out: list[Mismatch] = []
    port = e.effective_port or 502
    if not any(num_eq(num(c.get("tcpPort", 502)), float(port)) for c in same):
        out.append(
            Mismatch(
                "modbus_device",
                f"{e.host}:{port}",
                [str(c.get("tcpPort")) for c in same],
                f"the request puts Modbus device {e.host} on port {port}"
                f"{'' if e.port else ' (the default)'}, but its modbus-client uses port "
                f"{quote(str(c.get('tcpPort')) for c in same)}",
                id_list(same),
            )
        )
    ids = {str(c["id"]) for c in same}
    users = [n for n in f.of(*_MODBUS_NODES) if str(n.get("server")) in ids]
    flex = [n for n in f.of(*_FLEX) if str(n.get("server")) in ids]
    effective = {_unit(n, f.by_id.get(str(n.get("server")))) for n in users}
    if not users:
        effective = {num(c.get("unit_id")) for c in same}
    for uid in e.unit_ids:
        if float(uid) in effective:
            continue
        if flex:
            continue  # flex nodes take the unit id from the message
        found = sorted(f"{u:g}" for u in effective if u is not None)
        out.append(
            Mismatch(
                "unit_id",
                str(uid),
                found,
                f"the request names unit id {uid} for {e.host}, but its Modbus nodes "
                f"address unit {quote(found)}",
                id_list(users or same),
            )
        )
    return out

def check_opcua_endpoint(e: Endpoint, f: Flow) -> list[Mismatch]:
    eps = f.of("OpcUa-Endpoint")
    found = [str(n.get("endpoint", "")) for n in eps]
    if any(norm_url(x) == norm_url(e.url or e.text) for x in found):
        return []
    if not e.url and any(host_port(x)[0] == e.host.lower() for x in found):
        return []
    return [
        Mismatch(
            "opcua_endpoint",
            e.url or e.host,
            found,
            f"the request names OPC UA server {e.url or e.host}, but no OpcUa-Endpoint has "
            f"it; endpoints: {quote(found)}",
            id_list(eps),
        )
    ]


def check_other_host(e: Endpoint, f: Flow) -> list[Mismatch]:
    if any(e.host.lower() in json.dumps(n).lower() for n in f.nodes):
        return []
    return [Mismatch("host", e.host, [], f"the request names host {e.host}, but no node uses it",
                     [], "warning")]


# --- modbus registers -------------------------------------------------------------------

_READ_TYPE = {
    "holding": "HoldingRegister", "input": "InputRegister", "coil": "Coil", "discrete": "Input"
}
_WRITE_TYPES = {"holding": ("HoldingRegister", "MHoldingRegisters"), "coil": ("Coil", "MCoils")}
_FC_TYPE = {
    1: ("Coil", False), 2: ("Input", False), 3: ("HoldingRegister", False),
    4: ("InputRegister", False), 5: ("Coil", True), 6: ("HoldingRegister", True),
    15: ("MCoils", True), 16: ("MHoldingRegisters", True)
}


def _block(n: Node) -> tuple[float, float] | None:
    adr = num(n.get("adr"))
    qty = num(n.get("quantity")) or 1.0
    return (adr, qty) if adr is not None else None


def _describe(n: Node) -> str:
    return f"{n.get('type')} {n.get('dataType')} adr {n.get('adr')} qty {n.get('quantity') or 1}"


def check_register(r: Register, f: Flow) -> list[Mismatch]:
    nodes = f.of(*_MODBUS_NODES)
    kind_ok: list[Node] = []
    for n in nodes:
        writes = n.get("type") == "modbus-write"
        dtype = str(n.get("dataType", ""))
        if r.function_code in _FC_TYPE:
            want, want_write = _FC_TYPE[r.function_code]
            ok = dtype == want and writes == want_write
        elif writes:
            ok = r.access != "read" and dtype in _WRITE_TYPES.get(r.kind, ())
        else:
            ok = r.access != "write" and dtype == _READ_TYPE[r.kind]
        if ok:
            kind_ok.append(n)

    def covering(address: int) -> list[Node]:
        hits = []
        for n in kind_ok:
            block = _block(n)
            if block and block[0] <= address and address + r.words <= block[0] + block[1]:
                hits.append(n)
        return hits

    if covering(r.address):
        return []
    label = f"{r.kind} {'register' if r.kind in ('holding', 'input') else 'bit'} '{r.text}'"
    if r.alt_address is not None and covering(r.alt_address):
        if r.kind in ("coil", "discrete"):
            return []  # "coil 1" read as zero-based: a fair reading of a plain number
        return [
            Mismatch(
                "register",
                f"{r.kind} adr {r.address}",
                [_describe(n) for n in covering(r.alt_address)],
                f"{label} is zero-based address {r.address} as written, but the flow uses "
                f"{r.alt_address} (off by one?)",
                id_list(covering(r.alt_address)),
                "warning",
            )
        ]
    flex = f.of(*_FLEX)
    pattern = rf"[\"']?(?:address|adr|start)[\"']?\s*[:=]\s*\(?\s*{r.address}\b"
    if flex and re.search(pattern, f.all_text()):
        return []
    want = f"{r.kind} adr {r.address}" + (f" x{r.words}" if r.words > 1 else "")
    fc = f" with FC{r.function_code}" if r.function_code else ""
    access = f" ({r.access})" if r.access else ""
    found = [_describe(n) for n in nodes]
    return [
        Mismatch(
            "register",
            want,
            found,
            f"the request names {label}{access}{fc} = zero-based address {r.address}"
            f"{f', {r.words} registers' if r.words > 1 else ''}, but no modbus node "
            f"covers it; modbus nodes: {quote(found)}",
            id_list(kind_ok or nodes),
        )
    ]


def check_scales(r: Register, f: Flow) -> list[Mismatch]:
    out = []
    text = f.all_text()
    for s in r.scales:
        if not s.factor or s.factor == 1:
            continue
        n = round(1 / s.factor)
        pattern = rf"[*/]\s*\(?\s*(?:{n}(?:\.0+)?|{s.factor:g})\b|\b{n}\b"
        if not re.search(pattern, text):
            out.append(
                Mismatch(
                    "scale",
                    f"x{s.factor:g}",
                    [],
                    f"the request scales '{r.text}' by {s.text.strip()}, but no node "
                    f"multiplies or divides by {n}",
                    [],
                    "warning",
                )
            )
    return out


# --- OPC UA node ids ----------------------------------------------------------------------


def check_node_ids(x: Extracted, f: Flow) -> list[Mismatch]:
    out = []
    items = f.of("OpcUa-Item")
    text = f.all_text()
    for nid in x.node_ids:
        same = [n for n in items if str(n.get("item", "")).strip() == nid.node_id]
        setters = f.code_text() + f.text_of(id_list(f.of("OpcUa-Event", "OpcUa-Browser")))
        if not same and not has(setters, nid.node_id):
            out.append(
                Mismatch(
                    "node_id",
                    nid.node_id,
                    [str(n.get("item")) for n in items],
                    f"the request names OPC UA node {nid.node_id}, but no OpcUa-Item, "
                    f"inject or function sets it; OpcUa-Item ids: "
                    f"{quote(str(n.get('item')) for n in items)}",
                    id_list(items),
                )
            )
            continue
        if not nid.data_type:
            continue
        types = [str(n.get("datatype", "")) for n in same]
        if same and nid.data_type not in types:
            out.append(
                Mismatch(
                    "node_id",
                    f"{nid.node_id} ({nid.data_type})",
                    types,
                    f"the request gives OPC UA node {nid.node_id} the type "
                    f"{nid.data_type}, but its OpcUa-Item says {quote(types)}",
                    id_list(same),
                )
            )
        elif not same and not re.search(rf"\b{nid.data_type}\b", text):
            out.append(
                Mismatch(
                    "node_id",
                    f"{nid.node_id} ({nid.data_type})",
                    [],
                    f"the request gives OPC UA node {nid.node_id} the type "
                    f"{nid.data_type}, but the flow never sets that datatype",
                    [],
                    "warning",
                )
            )
    return out

