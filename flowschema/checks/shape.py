"""Shape: each node against its type's JSON Schema, errors turned into findings.

The per-type schemas come from flowschema.schema; jsonschema-rs runs them (compiled once
per type) and each error is mapped to a stable code with the property, the expected and
the found value, and a hint.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Any

import jsonschema_rs

from flowschema.catalog import Catalog, NodeSpec
from flowschema.findings import Finding
from flowschema.model import FlowIndex, node_ref
from flowschema.schema import node_schema, subflow_instance_schema

_JSON_TYPE_NAMES = {
    bool: "boolean",
    int: "number",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
    type(None): "null",
}


def json_type(value: Any) -> str:
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


class ShapeChecker:
    def __init__(self, catalog: Catalog):
        self._catalog = catalog
        self._validators: dict[str, Any] = {}

    def _validator(self, spec: NodeSpec) -> Any:
        key = "subflow:" if spec.package == "(flow)" else spec.type
        validator = self._validators.get(key)
        if validator is None:
            schema = subflow_instance_schema() if key == "subflow:" else node_schema(spec)
            validator = jsonschema_rs.Draft202012Validator(schema)
            self._validators[key] = validator
        return validator

    def check(self, index: FlowIndex) -> Iterator[Finding]:
        for node in index.nodes:
            spec = index.spec_of(node)
            if spec is None:
                continue
            validator = self._validator(spec)
            if validator.is_valid(node):
                continue
            for error in validator.iter_errors(node):
                finding = _finding(node, spec, error)
                if finding is not None:
                    yield finding


def _finding(node: dict[str, Any], spec: NodeSpec, error: Any) -> Finding | None:
    kind = type(error.kind).__name__
    path = list(error.instance_path)
    ref = node_ref(node)
    if kind == "Required":
        prop = getattr(error.kind, "property", None)
        prop = prop if isinstance(prop, str) else _missing_required(node, spec)
        if prop in ("id", "type"):
            return None  # reported before shape checks run
        return _required_finding(node, prop, spec.properties.get(prop) if prop else None, "missing")
    if not path:
        return Finding("node-not-object", error.message, node=ref)
    prop = str(path[0])
    if prop == "wires":
        return Finding(
            "wires-shape",
            f"wires{''.join(f'[{p}]' for p in path[1:])}: {error.message}",
            node=ref,
            property="wires",
            expected="a list of lists of node ids",
            hint='write one list of target ids per output, e.g. [["id1", "id2"], []]',
        )
    value = node.get(prop)
    pspec = spec.properties.get(prop)
    where = prop + "".join(f"[{p}]" for p in path[1:])
    if kind == "MinLength" and pspec is not None and pspec.required:
        return _required_finding(node, prop, pspec, "empty")
    if kind == "Enum" and pspec is not None and pspec.enum is not None:
        allowed = list(pspec.enum)
        hint = "use one of " + ", ".join(repr(v) for v in allowed)
        if isinstance(value, str):
            close = difflib.get_close_matches(
                value, [v for v in allowed if isinstance(v, str)], n=1, cutoff=0.5
            )
            if close:
                hint = f"did you mean {close[0]!r}? " + hint
        return Finding(
            "property-enum",
            f"{where} is {value!r}, which is not an allowed value",
            node=ref,
            property=prop,
            expected=allowed,
            found=value,
            hint=hint,
        )
    if kind in ("Minimum", "Maximum", "ExclusiveMinimum", "ExclusiveMaximum"):
        return range_finding(node, prop, value, pspec)
    if kind == "Pattern" and pspec is not None and pspec.type == "numeric":
        return Finding(
            "property-format",
            f"{where} is {value!r}, which is not a number",
            node=ref,
            property=prop,
            expected="a number (or numeric text)",
            found=value,
            hint='write digits only, e.g. "5" or 5',
        )
    if kind in ("Type", "Constant", "Enum"):
        expected = _describe_expected(pspec) if pspec is not None else error.message
        return Finding(
            "property-type",
            f"{where} should be {expected}, found {json_type(value)} {_short(value)}",
            node=ref,
            property=prop,
            expected=expected,
            found=value,
            hint=_describe_hint(pspec),
        )
    return Finding(
        "property-format",
        f"{where}: {error.message}",
        node=ref,
        property=prop,
        found=value,
        hint=_describe_hint(pspec),
    )


def _required_finding(node: dict[str, Any], prop: str | None, pspec: Any, state: str) -> Finding:
    return Finding(
        "property-required",
        f"required property {prop!r} is {state}",
        node=node_ref(node),
        property=prop,
        expected=_describe_expected(pspec),
        found=node.get(prop) if prop else None,
        hint=_describe_hint(pspec),
    )


def range_finding(node: dict[str, Any], prop: str, value: Any, pspec: Any) -> Finding:
    """A numeric value outside its bounds (numbers here, numeric text in checks.values)."""
    low = pspec.minimum if pspec is not None else None
    high = pspec.maximum if pspec is not None else None
    bounds = _bounds_text(low, high)
    return Finding(
        "property-range",
        f"{prop} is {value!r}, outside {bounds}",
        node=node_ref(node),
        property=prop,
        expected=bounds,
        found=value,
        hint=pspec.description if pspec is not None else None,
    )


def _bounds_text(low: float | None, high: float | None) -> str:
    def fmt(v: float) -> str:
        return str(int(v)) if float(v).is_integer() else str(v)

    if low is not None and high is not None:
        return f"the range {fmt(low)}..{fmt(high)}"
    if low is not None:
        return f"values >= {fmt(low)}"
    return f"values <= {fmt(high)}" if high is not None else "its range"


def _missing_required(node: dict[str, Any], spec: NodeSpec) -> str | None:
    for name, prop in spec.properties.items():
        if prop.required and name not in node:
            return name
    return None


def _describe_expected(pspec: Any) -> str:
    if pspec is None:
        return "a value"
    return {
        "string": "a string",
        "ref": f"the id of a {pspec.ref} config node",
        "number": "a number",
        "numeric": "a number or numeric text",
        "boolean": "true or false",
        "boolish": 'true, false, "true" or "false"',
        "array": "an array",
        "object": "an object",
    }.get(pspec.type, "a value")


def _describe_hint(pspec: Any) -> str | None:
    if pspec is None:
        return None
    text: str = pspec.description
    if pspec.has_default and pspec.default not in ("", None):
        text += f" Node-RED's default is {pspec.default!r}."
    return text


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
