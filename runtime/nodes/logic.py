"""Node-RED's change, switch, range and template nodes.

Values are compared and converted the way JavaScript does (see runtime.jsvalues);
None stands for `undefined` (a missing property) throughout. Typed values (`tot`, `vt`,
`propertyType`) are read by runtime.values.evaluate, as in every other node; JSONata
expressions see the message as their input (or `{msg: message}` where they name `msg`) and
can call `$flowContext(key)`, `$globalContext(key)`, `$env(name)` and `$moment(...)` as in
Node-RED (runtime.jsonata_extras).
"""

from __future__ import annotations

import importlib
import math
import re
from collections.abc import Callable
from typing import Any

from runtime.jsvalues import (
    compare,
    js_regex,
    js_replace,
    js_string,
    js_truthy,
    loose_equal,
    parse_json,
    tidy,
    to_number,
)
from runtime.message import Message, clone_message, new_id
from runtime.node import Done, Node, Send
from runtime.nodes.template import render
from runtime.registry import register
from runtime.values import (
    ValueError_,
    compiled_jsonata,
    context_get,
    context_set,
    delete_path,
    evaluate,
    get_path,
    jsonata_eval,
    jsonata_result,
    set_path,
)


# -- messages -------------------------------------------------------------------------------
def _blocked(msg: Message, path: str) -> bool:
    """True where a step of `path` exists and is a value that cannot hold properties."""
    for step in re.finditer(r"[.\[]", path):
        if step.start() == 0:
            continue
        above = get_path(msg, path[:step.start()])
        if above is not None and not isinstance(above, dict | list):
            return True
    return False


def message_set(node: Node, msg: Message, path: str, value: Any,
                delete_none: bool = True) -> None:
    """RED.util.setMessageProperty: None (undefined) deletes unless `delete_none` is off
    (a JSON null); a step that is a string or a number is not replaced but warned about."""
    if value is None and delete_none:
        delete_path(msg, path)
    elif _blocked(msg, path):
        node.warn(f"Cannot set property of non-object type: {path}")
    else:
        try:
            set_path(msg, path, value)
        except (TypeError, IndexError):
            node.warn(f"Cannot set property of non-object type: {path}")


def plain(value: Any) -> Any:
    """A deep copy made of plain dicts and lists, bytearrays as bytes: a value read from the
    message or the context is copied, not shared."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, bytearray):
        return bytes(value)
    return value


# -- change -------------------------------------------------------------------------------
@register("change")
class Change(Node):
    """Applies its rules in order: set, change (search and replace), delete and move a
    property of the message, the flow or the global context. A rule that cannot be read
    (invalid JSON, an invalid regular expression or JSONata) fails every message."""

    def __init__(self, config: dict[str, Any], runtime: Any) -> None:
        super().__init__(config, runtime)
        self.rules: list[dict[str, Any]] = []
        self.invalid: str | None = None
        for raw in config.get("rules") or [self._legacy_rule(config)]:
            rule = dict(raw)
            rule["t"], rule["pt"] = str(rule.get("t") or ""), rule.get("pt") or "msg"
            if rule["t"] == "change" and rule.pop("re", None):
                rule["fromt"] = "re"
            if rule["t"] == "set" and not rule.get("tot") \
                    and str(rule.get("to", "")).startswith("msg."):
                rule["to"], rule["tot"] = str(rule["to"])[4:], "msg"
            rule["tot"] = rule.get("tot") or "str"
            rule["fromt"] = rule.get("fromt") or "str"
            try:
                self._prepare(rule)
            except (ValueError, TypeError) as exc:
                self.invalid = self.invalid or str(exc)
            self.rules.append(rule)

    @staticmethod
    def _legacy_rule(config: dict[str, Any]) -> dict[str, Any]:
        """The single rule of a change node saved before rules existed (Node-RED 0.x)."""
        action = str(config.get("action") or "")
        return {"t": "set" if action == "replace" else action, "p": config.get("property", ""),
                "to": config.get("to", ""), "from": config.get("from", ""),
                "re": config.get("reg") is None or bool(config.get("reg"))}

    def _prepare(self, rule: dict[str, Any]) -> None:
        """Checks what Node-RED checks when the node is built."""
        if rule["t"] == "change" and rule["fromt"] not in ("msg", "flow", "global"):
            source = str(rule.get("from", ""))
            rule["fromRE"] = js_regex(source if rule["fromt"] == "re" else re.escape(source))
        if rule["t"] in ("set", "change") and rule["tot"] in ("json", "bin"):
            try:
                parse_json(rule.get("to", ""))
            except ValueError as exc:
                raise ValueError_(f"Invalid JSON in rule for {rule.get('p')!r}: {exc}") from exc
        if rule["t"] in ("set", "change") and rule["tot"] == "jsonata":
            compiled_jsonata(str(rule.get("to", "")))

    def on_input(self, msg: Message, send: Send, done: Done) -> None:
        if self.invalid:
            done(self.invalid)
            return
        for rule in self.rules:
            if rule["t"] == "move":
                self._move(msg, rule)
            else:
                self._apply(msg, rule)
        send(msg)
        done()

    def _move(self, msg: Message, rule: dict[str, Any]) -> None:
        """Node-RED's move: a set then a delete, through a temporary property when the
        target sits beneath the source in the same place."""
        p, pt, to, tot = str(rule.get("p", "")), rule["pt"], str(rule.get("to", "")), rule["tot"]
        if tot != pt or (to in p and p != to):
            self._apply(msg, {"t": "set", "p": to, "pt": tot, "to": p, "tot": pt})
            self._apply(msg, {"t": "delete", "p": p, "pt": pt})
        else:
            self._apply(msg, {"t": "set", "p": "_temp_move", "pt": tot, "to": p, "tot": pt})
            self._apply(msg, {"t": "delete", "p": p, "pt": pt})
            self._apply(msg, {"t": "set", "p": to, "pt": tot, "to": "_temp_move", "tot": pt})
            self._apply(msg, {"t": "delete", "p": "_temp_move", "pt": pt})

    def _read(self, msg: Message, kind: str, key: str) -> Any:
        return get_path(msg, key) if kind == "msg" else context_get(self, kind, key)

    def _write(self, msg: Message, kind: str, key: str, value: Any,
               delete_none: bool = True) -> None:
        if kind == "msg":
            message_set(self, msg, key, value, delete_none)
        else:
            context_set(self, kind, key, value)

    def _apply(self, msg: Message, rule: dict[str, Any]) -> None:
        kind, target, t = rule.get("pt") or "msg", str(rule.get("p", "")), rule["t"]
        if t not in ("set", "change", "delete"):
            return
        if t == "delete":
            self._write(msg, kind, target, None)
            return
        tot, to = rule.get("tot") or "str", rule.get("to", "")
        was_null = False  # a JSONata result of null sets null where undefined deletes
        if tot == "jsonata":
            value, was_null = jsonata_result(str(to), self, msg)
        else:
            value = plain(evaluate(to, tot, self, msg))
        if t == "set":
            self._write(msg, kind, target, value, tot != "json" and not was_null)
            return
        current = self._read(msg, kind, target)
        from_type, from_value = rule.get("fromt") or "str", rule.get("from", "")
        from_re = rule.get("fromRE")
        if from_type in ("msg", "flow", "global"):
            from_value = self._read(msg, from_type, str(from_value))
            from_type, from_re = self._typed_from(from_value)
        if isinstance(current, str):
            if from_type in ("num", "bool", "str") and current == from_value:
                self._write(msg, kind, target, value)
            elif from_re is not None:
                self._write(msg, kind, target, js_replace(from_re, current, js_string(value)))
        elif isinstance(current, int | float) and not isinstance(current, bool):
            if from_type == "num" and current == to_number(from_value):
                self._write(msg, kind, target, value)
        elif isinstance(current, bool) and from_type == "bool" and js_string(current) \
                == from_value:
            self._write(msg, kind, target, value)

    @staticmethod
    def _typed_from(value: Any) -> tuple[str, re.Pattern[str] | None]:
        """The search value's type when it comes from a property, as Node-RED infers it."""
        if isinstance(value, bool):
            return "bool", None
        if isinstance(value, int | float):
            return "num", None
        if isinstance(value, str):
            return "str", re.compile(re.escape(value))
        kind = "undefined" if value is None else "object"
        raise ValueError_(f"Invalid 'from' property: unsupported type: {kind}")


# -- switch -------------------------------------------------------------------------------
def _has_key(value: Any, key: Any) -> bool:
    """`value.hasOwnProperty(String(key))`."""
    if value is None or isinstance(key, dict | list):
        return False
    name = js_string(key)
    if isinstance(value, dict):
        return name in value
    if isinstance(value, list | str):
        return name == "length" or (name.isdigit() and int(name) < len(value))
    return False


def _is_type(value: Any, kind: Any) -> bool:
    if kind == "array":
        return isinstance(value, list)
    if kind == "buffer":
        return isinstance(value, bytes | bytearray)
    if kind == "json":
        try:
            parse_json(value)
        except ValueError:
            return False
        return True
    if kind in ("null", "undefined"):
        return value is None
    checks: dict[str, Callable[[Any], bool]] = {
        "string": lambda v: isinstance(v, str), "boolean": lambda v: isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "object": lambda v: isinstance(v, dict)}
    return checks.get(str(kind), lambda v: False)(value)


def _size(value: Any) -> int | None:
    return len(value) if isinstance(value, str | list | bytes | bytearray | dict) else None


def _parts(msg: Message) -> dict[str, Any]:
    parts = msg.get("parts")
    if not isinstance(parts, dict):
        raise ValueError_("Cannot read properties of undefined (reading 'index')")
    return parts


def _in_sequence(msg: Message) -> bool:
    parts = msg.get("parts")
    return isinstance(parts, dict) and "id" in parts and "index" in parts


def _between(a: Any, b: Any, c: Any) -> bool:
    def ge(x: Any, y: Any) -> bool:
        r = compare(x, y)
        return r is not None and r >= 0

    return (ge(a, b) and ge(c, a)) or (ge(b, a) and ge(a, c))


_OPERATORS: dict[str, Callable[[Any, Any, Any, Any, Message], Any]] = {
    "eq": lambda a, b, c, i, m: loose_equal(a, b),
    "neq": lambda a, b, c, i, m: not loose_equal(a, b),
    "lt": lambda a, b, c, i, m: (compare(a, b) or 0) < 0,
    "lte": lambda a, b, c, i, m: compare(a, b) in (-1, 0),
    "gt": lambda a, b, c, i, m: (compare(a, b) or 0) > 0,
    "gte": lambda a, b, c, i, m: compare(a, b) in (0, 1),
    "btwn": lambda a, b, c, i, m: _between(a, b, c),
    "cont": lambda a, b, c, i, m: js_string(b) in js_string(a),
    "regex": lambda a, b, c, i, m: js_regex(js_string(b), bool(i)).search(js_string(a)),
    "true": lambda a, b, c, i, m: a is True,
    "false": lambda a, b, c, i, m: a is False,
    "null": lambda a, b, c, i, m: a is None,
    "nnull": lambda a, b, c, i, m: a is not None,
    "empty": lambda a, b, c, i, m: _size(a) == 0,
    "nempty": lambda a, b, c, i, m: _size(a) not in (0, None),
    "istype": lambda a, b, c, i, m: _is_type(a, b),
    "hask": lambda a, b, c, i, m: _has_key(a, b),
    "head": lambda a, b, c, i, m: _parts(m).get("index", 0) < to_number(b),
    "tail": lambda a, b, c, i, m: to_number(_parts(m).get("count")) - to_number(b)
    <= _parts(m).get("index", 0),
    "index": lambda a, b, c, i, m: to_number(b) <= _parts(m).get("index", 0) <= to_number(c),
    "jsonata_exp": lambda a, b, c, i, m: b is True,
    "else": lambda a, b, c, i, m: a is True,
}


@register("switch")
class Switch(Node):
    """Routes a message to the outputs whose rules match a property: every matching output
    (`checkall` "true") or only the first ("false"). An `else` rule matches when no rule
    since the previous `else` did. A property expression that fails only warns (as in
    Node-RED); a rule that fails (a bad regular expression or JSONata) is an error.

    Sequences (msg.parts with an id and index): with `repair`, or a "tail" rule, which
    needs parts.count, a sequence is held until all of it arrived and then routed; with
    `repair`, what leaves each output is made a sequence of its own again (a new id, the
    index and count among the messages of that output), sent once the whole sequence was
    routed."""

    def __init__(self, config: dict[str, Any], runtime: Any) -> None:
        super().__init__(config, runtime)
        self.rules: list[dict[str, Any]] = [dict(r) for r in config.get("rules") or []]
        self.repair = config.get("repair") in (True, "true")
        self.needs_count = self.repair or any(r.get("t") == "tail" for r in self.rules)
        self.held: dict[str, tuple[list[Message], Any]] = {}  # parts.id -> (msgs, count)
        self.routed: dict[str, list[list[Message | None]]] = {}  # parts.id -> outputs
        self.property = str(config.get("property") or "payload")
        self.property_type = str(config.get("propertyType") or "msg")
        self.checkall = str(config.get("checkall") or "true") != "false"
        self.previous: Any = None
        for rule in self.rules:
            rule["t"] = str(rule.get("t") or "")
            for key, kind in (("v", "vt"), ("v2", "v2t")):
                if key in rule and not rule.get(kind):
                    rule[kind] = "str" if math.isnan(to_number(rule[key])) else "num"

    def _value(self, rule: dict[str, Any], key: str, msg: Message) -> Any:
        kind, value = str(rule.get(key + "t") or "str"), rule.get(key)
        if kind == "prev":
            return self.previous
        if rule["t"] == "istype":
            return value if value is not None else kind  # the type's name
        if key == "v" and kind in ("json", "null"):
            return kind  # what Node-RED reads for these (marked as a TODO there)
        if kind == "jsonata":
            parts = msg.get("parts")
            extra = {"I": parts.get("index"), "N": parts.get("count")} \
                if rule["t"] == "jsonata_exp" and isinstance(parts, dict) else {}
            return jsonata_eval(str(value), self, msg, **extra)
        if key == "v2" and value is None:
            return None
        try:
            return evaluate(value, kind, self, msg)
        except (ValueError, TypeError):
            return None  # Node-RED reads a value it cannot evaluate as undefined

    def on_input(self, msg: Message, send: Send, done: Done) -> None:
        if self.needs_count and _in_sequence(msg):
            self._hold(msg)
            done()
            return
        self._route(msg, send, done)

    async def on_close(self) -> None:
        self.held.clear()
        self.routed.clear()

    def _hold(self, msg: Message) -> None:
        """Keeps a sequence's messages until as many arrived as its (latest) parts.count
        says, then routes each, with that count set in its parts."""
        parts = msg["parts"]
        key = js_string(parts["id"])
        msgs, count = self.held.get(key, ([], None))
        msgs.append(msg)
        count = parts.get("count", count)
        self.held[key] = (msgs, count)
        if count != len(msgs) or isinstance(count, bool):
            return
        del self.held[key]
        for held in msgs:
            held["parts"]["count"] = count
            try:
                self._route(held, self.send, lambda err=None: None)
            except Exception as exc:  # one message's failure does not stop the rest
                self.error(str(exc) or type(exc).__name__, held)

    def _regroup(self, msg: Message, onward: list[Message | None]) -> None:
        """Repair: collects what each message of a sequence was routed to; once the whole
        sequence was routed, sends it on with one new sequence per output."""
        parts = msg["parts"]
        key = js_string(parts["id"])
        routed = self.routed.setdefault(key, [])
        routed.append(onward)
        if len(routed) != parts.get("count") or isinstance(parts.get("count"), bool):
            return
        del self.routed[key]
        ports = len(onward)
        # As in Node-RED, an output past the end of a shorter list (`checkall` false
        # stops early) counts towards that output's parts.count.
        counts = [sum(1 for o in routed if j >= len(o) or o[j] is not None)
                  for j in range(ports)]
        ids = [new_id() for _ in range(ports)]
        indexes = [0] * ports
        for entry in routed:
            out: list[Message | None] = []
            for j in range(ports):
                routed_msg = entry[j] if j < len(entry) else None
                if routed_msg is None:
                    out.append(None)
                    continue
                out_msg = clone_message(routed_msg)
                out_msg["parts"].update(id=ids[j], index=indexes[j], count=counts[j])
                indexes[j] += 1
                out.append(out_msg)
            self.send(out)

    def _route(self, msg: Message, send: Send, done: Done) -> None:
        try:
            if self.property_type == "jsonata":
                prop = jsonata_eval(self.property, self, msg)
            else:
                prop = evaluate(self.property, self.property_type, self, msg)
        except (ValueError, TypeError) as exc:
            if self.property_type == "jsonata":
                self.warn(str(exc))
                done()
                return
            prop = None
        onward: list[Message | None] = []
        else_flag = True
        for rule in self.rules:
            v1, v2 = self._value(rule, "v", msg), self._value(rule, "v2", msg)
            subject = else_flag if rule["t"] == "else" else prop
            if rule["t"] == "else":
                else_flag = True
            operator = _OPERATORS.get(str(rule["t"]))
            if operator is None:
                raise ValueError_(f"unsupported switch rule {rule['t']!r}")
            if operator(subject, v1, v2, rule.get("case"), msg):
                onward.append(msg)
                else_flag = False
                if not self.checkall:
                    break
            else:
                onward.append(None)
        self.previous = prop
        if self.repair and _in_sequence(msg):
            self._regroup(msg, onward)
        else:
            send(onward)
        done()


# -- range --------------------------------------------------------------------------------
def _divide(a: float, b: float) -> float:
    if b == 0:
        return math.nan if a == 0 or math.isnan(a) else math.copysign(math.inf, a)
    return a / b


@register("range")
class Range(Node):
    """Maps a number from one range to another (`scale`), after clamping it to the input
    range (`clamp`), wrapping it round (`roll`) or dropping it when outside (`drop`).
    A message without the property passes unchanged; a value that is not a number fails
    the message (Node-RED only logs it)."""

    def __init__(self, config: dict[str, Any], runtime: Any) -> None:
        super().__init__(config, runtime)
        self.action = str(config.get("action") or "scale")
        self.round = js_truthy(config.get("round"))
        self.property = str(config.get("property") or "payload")
        self.minin, self.maxin, self.minout, self.maxout = (
            to_number(config.get(k)) for k in ("minin", "maxin", "minout", "maxout"))

    def on_input(self, msg: Message, send: Send, done: Done) -> None:
        value = get_path(msg, self.property)
        if value is None:
            send(msg)
            done()
            return
        n = to_number(value)
        if math.isnan(n):
            done(f"Not a number: {js_string(value)}")
            return
        if self.action == "drop" and (n < self.minin or n > self.maxin):
            done()
            return
        if self.action == "clamp":
            n = min(max(n, self.minin), self.maxin)
        elif self.action == "roll":
            span = self.maxin - self.minin
            n = math.fmod(math.fmod(n - self.minin, span) + span, span) + self.minin \
                if span else math.nan  # fmod: JavaScript's % keeps the dividend's sign
        result = _divide(n - self.minin, self.maxin - self.minin) \
            * (self.maxout - self.minout) + self.minout
        if self.round and math.isfinite(result):
            result = math.floor(result + 0.5)  # Math.round: halves go up
        set_path(msg, self.property, tidy(result))
        send(msg)
        done()


# -- template -----------------------------------------------------------------------------
_CONTEXT_TOKEN = re.compile(r"^(flow|global)(\[(\w+)\])?\.(.+)")


@register("template")
class Template(Node):
    """Renders a mustache template (or copies plain text) into a property of the message,
    the flow or the global context, parsed as JSON or YAML when `output` asks. An empty
    template takes `msg.template`."""

    def __init__(self, config: dict[str, Any], runtime: Any) -> None:
        super().__init__(config, runtime)
        self.field = str(config.get("field") or "payload")
        self.field_type = str(config.get("fieldType") or "msg")
        self.syntax = str(config.get("syntax") or "mustache")
        self.output = str(config.get("output") or "str")
        self.template = config.get("template")

    def _fallback(self, name: str) -> Any:
        """What `{{env.X}}`, `{{flow.x}}` and `{{global.x}}` stand for when the message has
        no such property."""
        if name.startswith("env.") and len(name) > 4:
            return evaluate(name[4:], "env", self, None)
        match = _CONTEXT_TOKEN.match(name)
        return context_get(self, match.group(1), match.group(4)) if match else None

    def on_input(self, msg: Message, send: Send, done: Done) -> None:
        template = self.template
        if "template" in msg and template in ("", None):
            template = msg["template"]
        if not isinstance(template, str):
            done(f"Invalid template! Template should be a \"string\" but "
                 f"\"{type(template).__name__}\" was given")
            return
        try:
            value: Any = template
            if self.syntax == "mustache":
                value = render(template, msg, self._fallback, self.output == "json")
            if self.output == "json":
                value = parse_json(value)
            elif self.output == "yaml":
                value = self._yaml(value)
        except ValueError as exc:  # JSError too
            done(str(exc))
            return
        if self.field_type == "msg":
            message_set(self, msg, self.field, value, delete_none=False)
        else:
            context_set(self, self.field_type, self.field, value)
        send(msg)
        done()

    @staticmethod
    def _yaml(text: str) -> Any:
        """YAML output needs PyYAML (an optional dependency)."""
        try:
            yaml = importlib.import_module("yaml")
        except ImportError as exc:
            raise ValueError("YAML output needs PyYAML, which is not installed") from exc
        try:
            return plain(yaml.safe_load(text))
        except yaml.YAMLError as exc:
            raise ValueError(f"Invalid YAML: {exc}") from exc

