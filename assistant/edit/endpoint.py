"""Adding an HTTP GET endpoint that returns the last value seen on the data path."""

from __future__ import annotations

import re

from assistant.edit import graph
from assistant.edit.conditions import attach_points
from assistant.edit.context import Context, op
from assistant.edit.model import Plan, Unresolved


def endpoint(ctx: Context) -> Plan | None:
    """ "add an http GET /api/x that returns the last value (as json like {"v": 1})"."""
    if not ctx.facts.endpoints or not ctx.has(
        r"\b(?:http|get|endpoint|api|rest|route|url|serve|expose)\b"
    ):
        return None
    path = ctx.facts.endpoints[0]
    if ctx.has(r"\b(?:post|put|delete|patch)\b") and not ctx.has(r"\bget\b"):
        raise Unresolved(
            f"an endpoint at {path} that accepts data is not an edit I can map; only GET "
            "endpoints that return the last value are supported"
        )
    if any(n.get("url") == path for n in ctx.nodes("http in")):
        raise Unresolved(f"the flow already has an http in endpoint at {path}")
    points = attach_points(ctx) if ctx.target() is not None else ctx.value_points()
    if not points:
        raise Unresolved("found no value in the flow that the endpoint could return")
    near = ctx.node(points[0][0])
    key = "last_" + (re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_") or "value")
    store_rule = {"t": "set", "p": key, "pt": "flow", "to": "payload", "tot": "msg"}
    store = ctx.make("change", near, name=f"remember {graph.label(near)}", rules=[store_rule])
    field_name = "value"
    if ctx.facts.json_example and len(ctx.facts.json_example) >= 1:
        field_name = next(iter(ctx.facts.json_example))
    if (
        ctx.has(r"\b(?:plain text|as text|just the (?:number|value))\b")
        and not ctx.facts.json_example
    ):
        expr = f'$string($flowContext("{key}"))'
    else:
        expr = f'{{"{field_name}": $flowContext("{key}")}}'
    http_in = ctx.make("http in", near, name=f"GET {path}", url=path, method="get")
    reply_rule = {"t": "set", "p": "payload", "pt": "msg", "to": expr, "tot": "jsonata"}
    build = ctx.make("change", near, name="last value", rules=[reply_rule])
    response = ctx.make("http response", near, name="reply", statusCode="", headers={})
    return Plan(
        [
            op("add_branch", nodes=[store], after=[list(p) for p in points]),
            op("add_branch", nodes=[http_in, build, response], after=None),
        ]
    )
