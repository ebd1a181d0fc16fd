"""JSON Schema (draft 2020-12) generated from the catalog.

`node_schema` describes one node of one type; `flow_schema` is the exportable schema of a
whole flow, which dispatches on `type` to the per-type definitions. The validator runs the
per-type schemas directly (one compiled validator per type) because dispatching through
the whole-flow schema costs a pass over every type for every node.
"""

from __future__ import annotations

import re
from typing import Any

from flowschema.catalog import SUBFLOW_PREFIX, Catalog, NodeSpec, PropertySpec

DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID = "https://plumb.invalid/schemas/node-red-flow.json"

# A number written as text, as Node-RED's editor stores most numeric fields; blank = unset.
NUMERIC_TEXT = r"^\s*$|^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"
_NUMERIC_RE = re.compile(NUMERIC_TEXT)

WIRES_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {"type": "array", "items": {"type": "string"}},
}

# Fields every node may carry whatever its type; the catalog does not repeat them.
COMMON_FIELDS: dict[str, Any] = {
    "id": {"type": "string", "minLength": 1},
    "z": {"type": "string"},
    "g": {"type": "string"},
    "x": {"type": "number"},
    "y": {"type": "number"},
    "d": {"type": "boolean"},
    "l": {"type": "boolean"},
    "info": {"type": "string"},
    "wires": WIRES_SCHEMA,
}


def _enum_values(prop: PropertySpec) -> list[Any]:
    """Allowed values; numeric enums accept the number and its text form alike."""
    assert prop.enum is not None
    values = list(prop.enum)
    if prop.type == "numeric":
        for value in prop.enum:
            if isinstance(value, str) and value.strip() and _NUMERIC_RE.match(value):
                number = float(value)
                values.append(int(number) if number.is_integer() else number)
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                values.append(str(value))
    unique: list[Any] = []
    for value in values:
        if not any(value == u and type(value) is type(u) for u in unique):
            unique.append(value)
    return unique


def property_schema(prop: PropertySpec) -> dict[str, Any]:
    schema: dict[str, Any]
    if prop.type in ("string", "ref"):
        schema = {"type": "string"}
        if prop.required:
            schema["minLength"] = 1
    elif prop.type == "number":
        schema = {"type": "number"}
    elif prop.type == "numeric":
        schema = {"type": ["number", "string"], "pattern": NUMERIC_TEXT}
    elif prop.type == "boolean":
        schema = {"type": "boolean"}
    elif prop.type == "boolish":
        schema = {"enum": [True, False, "true", "false"]}
    elif prop.type == "array":
        schema = {"type": "array"}
    elif prop.type == "object":
        schema = {"type": "object"}
    else:  # any
        schema = {}
    if prop.enum is not None:
        schema["enum"] = _enum_values(prop)
    if prop.type in ("number", "numeric"):
        # Bounds apply to JSON numbers here; numeric text is range-checked by the validator.
        if prop.minimum is not None:
            schema["minimum"] = prop.minimum
        if prop.maximum is not None:
            schema["maximum"] = prop.maximum
    return schema


def node_schema(spec: NodeSpec) -> dict[str, Any]:
    properties: dict[str, Any] = {
        **COMMON_FIELDS,
        "type": {"const": spec.type},
    }
    required = ["id", "type"]
    for name, prop in spec.properties.items():
        properties[name] = property_schema(prop)
        # Node-RED's editor fills a missing property with its default on import, so a
        # required property may only be left out when that default is itself usable.
        if prop.required and (not prop.has_default or prop.default in ("", None)):
            required.append(name)
    return {
        "title": spec.type,
        "description": spec.description,
        "type": "object",
        "required": required,
        "properties": properties,
    }


def subflow_instance_schema() -> dict[str, Any]:
    return {
        "title": "subflow instance",
        "description": "An instance of a subflow defined in the same flow: type subflow:<id>.",
        "type": "object",
        "required": ["id", "type"],
        "properties": {
            **COMMON_FIELDS,
            "type": {"type": "string", "pattern": f"^{SUBFLOW_PREFIX}.+"},
            "name": {"type": "string"},
            "env": {"type": "array"},
        },
    }


def _def_name(node_type: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", node_type)


def flow_schema(catalog: Catalog) -> dict[str, Any]:
    """The whole-flow schema: an array of nodes, each checked against its type's schema."""
    defs: dict[str, Any] = {_def_name(s.type): node_schema(s) for s in catalog}
    defs["subflow-instance"] = subflow_instance_schema()
    dispatch: list[dict[str, Any]] = [
        {
            "if": {"properties": {"type": {"const": spec.type}}, "required": ["type"]},
            "then": {"$ref": f"#/$defs/{_def_name(spec.type)}"},
        }
        for spec in catalog
    ]
    dispatch.append(
        {
            "if": {
                "properties": {"type": {"type": "string", "pattern": f"^{SUBFLOW_PREFIX}"}},
                "required": ["type"],
            },
            "then": {"$ref": "#/$defs/subflow-instance"},
        }
    )
    known = sorted(spec.type for spec in catalog)
    defs["node"] = {
        "type": "object",
        "required": ["id", "type"],
        "properties": {
            "id": {"type": "string", "minLength": 1},
            "type": {
                "anyOf": [
                    {"enum": known},
                    {"type": "string", "pattern": f"^{SUBFLOW_PREFIX}.+"},
                ]
            },
        },
        "allOf": dispatch,
    }
    return {
        "$schema": DIALECT,
        "$id": SCHEMA_ID,
        "title": "Node-RED flow (Plumb catalog)",
        "description": (
            "A Node-RED 4.x flow: the importable JSON array of tabs, nodes, config nodes, "
            "subflows and groups, restricted to the node types in Plumb's catalog."
        ),
        "type": "array",
        "items": {"$ref": "#/$defs/node"},
        "$defs": defs,
    }
