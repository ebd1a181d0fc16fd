"""One line per understood value, to show the user what Plumb took from the request."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from assistant.extract.model import Extracted, Register

_KIND = {
    "holding": "holding register", "input": "input register", "coil": "coil",
    "discrete": "discrete input"
}
_OPS = {"gt": ">", "ge": ">=", "lt": "<", "le": "<=", "eq": "==", "threshold": "threshold"}


def _seconds(value: float) -> str:
    for unit, size in (("h", 3600), ("min", 60), ("s", 1)):
        if value >= size and value % size == 0:
            return f"{value / size:g} {unit}"
    return f"{value * 1000:g} ms" if value < 1 else f"{value:g} s"


def _register(r: Register) -> str:
    kind = _KIND[r.kind] + ("s" if r.count > 1 else "")
    where = (
        f"address {r.address}"
        if r.count == 1
        else f"addresses {r.address}-{r.address + r.count - 1}"
    )
    parts = [f"Modbus {kind} '{r.text}' -> zero-based {where}"]
    if r.words != r.count:
        parts.append(f"({r.words} registers for {r.data_type})")
    elif r.data_type:
        parts.append(f"({r.data_type})")
    if r.word_order:
        parts.append("low word first" if r.word_order == "low_first" else "high word first")
    for s in r.scales:
        if s.factor is not None:
            parts.append(f"scale x{s.factor:g}" + (f" {s.unit}" if s.unit else ""))
        elif s.unit:
            parts.append(f"in {s.unit}")
    if r.function_code:
        parts.append(f"FC{r.function_code}")
    if r.access:
        parts.append(f"[{r.access}]")
    if r.device:
        parts.append(f"on {r.device}")
    return " ".join(parts)


def summary_lines(x: Extracted) -> list[str]:
    lines: list[str] = []
    for e in x.endpoints:
        name = {
            "modbus": "Modbus device",
            "broker": "MQTT broker",
            "opcua": "OPC UA server",
            "tcp": "TCP device",
            "other": "host",
        }[e.role]
        port = f" port {e.effective_port}" + ("" if e.port is not None else " (default)")
        units = f", unit id {', '.join(map(str, e.unit_ids))}" if e.unit_ids else ""
        lines.append(f"{name} {e.url or e.host}{port if e.effective_port else ''}{units}")
    for u in x.unit_ids:
        if not u.device:
            lines.append(f"Modbus unit id {', '.join(map(str, u.values))}")
    lines += [_register(r) for r in x.registers]
    for t in x.topics:
        if t.replaced:
            lines.append(f"MQTT topic {t.text}: no longer used")
            continue
        role = {"in": "subscribe to", "out": "publish to", None: "MQTT topic"}[t.role]
        extra = f" (as filter {t.wildcard})" if t.wildcard != t.text else ""
        note = " (example)" if t.example else ""
        lines.append(f"{role} {t.text}{extra}{note}" if t.role else f"MQTT topic {t.text}{note}")
    for h in x.http_endpoints:
        lines.append(f"serve HTTP {h.method.upper()} {h.path}")
    for r in x.http_requests:
        lines.append(f"call HTTP {r.method or '(method not stated)'} {r.url}")
    if x.status_codes:
        lines.append("HTTP status codes: " + ", ".join(str(c.code) for c in x.status_codes))
    for n in x.node_ids:
        lines.append(f"OPC UA node {n.node_id}" + (f" ({n.data_type})" if n.data_type else ""))
    for i in x.intervals:
        label = {
            "poll": "every",
            "source": "data arrives every",
            "timeout": "timeout",
            "delay": "delay",
            "retry": "retry every",
            "window": "window",
            "unknown": "interval",
        }.get(i.kind, i.kind)
        if i.kind == "rate_limit":
            lines.append(f"at most {i.count} message(s) per {_seconds(i.seconds)}")
        else:
            lines.append(f"{label} {_seconds(i.seconds)}")
    lines += [f"schedule '{s.text}' -> cron {s.cron}" for s in x.schedules]
    for th in x.thresholds:
        unit = f" {th.unit}" if th.unit else ""
        if th.op in ("range", "outside"):
            word = "allowed" if th.op == "range" else "outside"
            lines.append(f"{word} range {th.value:g}..{th.high or 0:g}{unit}")
        else:
            kind = "change " if th.kind == "deadband" else ""
            lines.append(f"{kind}{_OPS.get(th.op, th.op)} {th.value:g}{unit}")
    lines += [f"round to {d.places} decimal(s)" for d in x.decimals]
    lines += [f"MQTT QoS {q.level}" + (f" on {q.topic}" if q.topic else "") for q in x.qos]
    lines += [
        ("retained" if r.retain else "not retained") + (f" on {r.topic}" if r.topic else "")
        for r in x.retain
    ]
    for f in x.files:
        mode = f" ({f.mode})" if f.mode else ""
        lines.append(f"{f.kind} {f.path}{mode}")
    lines += [f"text {lit.value!r}" for lit in x.literals]
    for j in x.json_shapes:
        role = {"in": "incoming ", "out": "outgoing ", None: ""}[j.role]
        lines.append(f"{role}JSON with keys {', '.join(j.keys)}")
    lines += [
        {
            "button": "started by a button",
            "on_request": "read at request time",
            "startup": "runs at start-up",
        }[t.kind]
        for t in x.triggers
    ]
    return lines
