"""The json node: a JSON string (or buffer) to a value, a value to JSON text (Node-RED's
70-JSON.js property names).

With msg.schema set, the value is checked against that JSON Schema (draft 7 unless its
`$schema` names another); error texts and msg.schemaError follow Ajv's wording for the
common keywords. Node-RED's Ajv refuses to compile a schema with an unknown keyword or any
`format`; Plumb ignores unknown keywords and does not check formats.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from runtime.jsvalues import js_string, js_truthy, parse_json
from runtime.message import Message
from runtime.node import Done, Node, Send
from runtime.nodes.timing import lookup
from runtime.registry import register
from runtime.values import set_path


def _json_text(value: Any, pretty: bool) -> str:
    """JSON.stringify(value, null, pretty ? 4 : 0)."""

    def plain(v: Any) -> Any:
        if isinstance(v, float):
            return (int(v) if v.is_integer() else v) if math.isfinite(v) else None
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [plain(x) for x in v]
        if isinstance(v, bytes | bytearray):
            return {"type": "Buffer", "data": list(v)}
        return v

    return json.dumps(plain(value), ensure_ascii=False, indent=4 if pretty else None,
                      separators=(",", ": ") if pretty else (",", ":"), default=str)


def _pointer(path: Any) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _ajv_error(error: Any) -> list[dict[str, Any]]:
    """One jsonschema error as Ajv reports it (one entry per missing or extra property)."""
    keyword, expected = str(error.validator), error.validator_value
    base = {"instancePath": _pointer(error.absolute_path),
            "schemaPath": "#" + _pointer(error.absolute_schema_path), "keyword": keyword}
    limits = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">",
              "exclusiveMaximum": "<"}
    sizes = {"minLength": ("fewer", "characters"), "maxLength": ("more", "characters"),
             "minItems": ("fewer", "items"), "maxItems": ("more", "items"),
             "minProperties": ("fewer", "properties"), "maxProperties": ("more", "properties")}
    if keyword == "required":  # one error per missing property, named in its message
        name = next((n for n in expected if isinstance(n, str)
                     and error.message == f"{n!r} is a required property"), "")
        return [{**base, "params": {"missingProperty": name},
                 "message": f"must have required property '{name}'"}]
    if keyword == "additionalProperties" and isinstance(error.instance, dict):
        known = error.schema.get("properties") or {}
        patterns = list(error.schema.get("patternProperties") or {})
        extra = [k for k in error.instance
                 if k not in known and not any(re.search(p, k) for p in patterns)]
        return [{**base, "params": {"additionalProperty": k},
                 "message": "must NOT have additional properties"} for k in extra]
    if keyword == "type":
        kinds = ",".join(expected) if isinstance(expected, list) else str(expected)
        params: dict[str, Any] = {"type": kinds}
        message = f"must be {kinds}"
    elif keyword in limits:
        params = {"comparison": limits[keyword], "limit": expected}
        message = f"must be {limits[keyword]} {js_string(expected)}"
    elif keyword in sizes:
        more, what = sizes[keyword]
        params = {"limit": expected}
        message = f"must NOT have {more} than {expected} {what}"
    elif keyword == "enum":
        params, message = {"allowedValues": expected}, "must be equal to one of the allowed values"
    elif keyword == "const":
        params, message = {"allowedValue": expected}, "must be equal to constant"
    elif keyword == "pattern":
        params, message = {"pattern": expected}, f'must match pattern "{expected}"'
    else:
        params, message = {}, str(error.message)
    return [{**base, "params": params, "message": message}]


_APPLICATORS = {"properties", "patternProperties", "additionalProperties", "items",
                "additionalItems", "contains", "propertyNames", "dependencies", "allOf",
                "anyOf", "oneOf", "not", "if", "then", "else", "$ref"}


def _ajv_order(error: Any) -> int:
    """Ajv checks `type` first, then the other checks on the value itself, then what
    applies to its parts (properties, items) and combinations."""
    path = list(error.absolute_schema_path)
    first = path[0] if path else ""
    return 0 if first == "type" else 2 if first in _APPLICATORS else 1


@register("json")
class Json(Node):
    """Converts between a JSON string (or buffer) and a value, either way or only the way
    `action` says ("obj", "str"), `pretty` indenting by 4. With msg.schema the value is
    validated first: a valid message goes on without msg.schema; an invalid one gets
    msg.schemaError and is an error ("JSON Schema error: ..."), sent nowhere."""

    def __init__(self, config: dict[str, Any], runtime: Any) -> None:
        super().__init__(config, runtime)
        self.property = str(config.get("property") or "payload")
        self.action = str(config.get("action") or "")
        self.pretty = bool(config.get("pretty"))
        self.schema_text: str | None = None
        self.validator: Any = None

    def _compile(self, schema: Any) -> bool:
        """Compiles msg.schema when it differs from the last one; False if it cannot."""
        import jsonschema

        text = json.dumps(schema, sort_keys=False, default=str)
        if text == self.schema_text:
            return True
        try:
            cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
            cls.check_schema(schema)
            self.validator, self.schema_text = cls(schema), text
        except (jsonschema.SchemaError, TypeError, AttributeError):
            self.validator = self.schema_text = None
            return False
        return True

    def _valid(self, msg: Message, value: Any, done: Done) -> bool:
        """Checks `value` against the compiled schema; an invalid one ends the message."""
        errors = [entry for error in sorted(self.validator.iter_errors(value), key=_ajv_order)
                  for entry in _ajv_error(error)]
        if not errors:
            msg.pop("schema", None)
            return True
        msg["schemaError"] = errors
        text = ", ".join(f"data{e['instancePath']} {e['message']}" for e in errors)
        done(f"JSON Schema error: {text}")
        return False

    def on_input(self, msg: Message, send: Send, done: Done) -> None:
        validate = js_truthy(msg.get("schema"))
        if validate and not self._compile(msg["schema"]):
            done("JSON Schema error: failed to compile schema")
            return
        found, value = lookup(msg, self.property)
        if not found:
            send(msg)  # no property: passed on
            done()
            return
        if isinstance(value, str | bytes | bytearray):
            if self.action in ("", "obj") or validate:  # "str" leaves text as it is
                try:
                    parsed = parse_json(value)
                except ValueError as exc:
                    done(f"invalid JSON: {exc}")
                    return
                if self.action in ("", "obj"):
                    set_path(msg, self.property, parsed)
                if validate and not self._valid(msg, parsed, done):
                    return
        elif isinstance(value, dict | list | bool | int | float) or value is None:
            if validate and not self._valid(msg, value, done):
                return
            if self.action in ("", "str"):
                set_path(msg, self.property, _json_text(value, self.pretty))
        else:
            self.warn("Ignored unsupported payload type")
            done()
            return
        send(msg)
        done()
