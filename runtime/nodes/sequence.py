"""Sequence nodes: split and sort, with Node-RED's property names (join and batch are in
`runtime.nodes.batching`).

A sequence is a run of messages that share `msg.parts.id`; each carries its `index`, the
`count` when known and how it was split (`type`, `ch`, `len`, `key`), so join's automatic
mode can put it back together. Splitting a message that is already part of a sequence
keeps the outer parts under `msg.parts.parts`. Importing this module also registers the
nodes of `runtime.nodes.timing` (delay, trigger, filter).
"""

from __future__ import annotations

import functools
import json
import math
from typing import Any

from runtime import jsonata_extras
from runtime.jsvalues import js_string, strict_equal, to_number
from runtime.message import Message, clone_message, new_id
from runtime.node import Done, Node, Send
from runtime.nodes.timing import Held, lookup, unescape
from runtime.registry import register
from runtime.values import ValueError_, get_path, jsonata_bindings, set_path


def jsonata_expression(expression: str) -> Any:
    """A node's own parsed JSONata expression, `prepare`d for `jsonata_extras.evaluate`."""
    import jsonata

    try:
        return jsonata_extras.prepare(jsonata.Jsonata(expression))
    except Exception as exc:
        raise ValueError_(f"Invalid JSONata expression: {exc}") from exc


def _ordered(items: list[Any], key: Any, descending: bool, as_num: bool) -> list[Any]:
    """Sorted the way Node-RED's sort node compares (JavaScript `>`), stable."""
    direction = -1 if descending else 1

    def prim(value: Any) -> Any:  # None is a JSON null here: Number(null) is 0
        value = to_number(value, none=0.0) if as_num else value
        return js_string(value) if isinstance(value, list | dict) else value

    def compare(x: Any, y: Any) -> int:
        a, b = prim(key(x)), prim(key(y))
        if strict_equal(a, b):
            return 0
        if isinstance(a, str) and isinstance(b, str):
            greater = a > b
        else:
            greater = to_number(a, none=0.0) > to_number(b, none=0.0)
        return direction if greater else -direction

    return sorted(items, key=functools.cmp_to_key(compare))


# -- split ------------------------------------------------------------------------------------
@register("split")
class Split(Node):
    """Splits a string or buffer at `splt` (a string, bytes given as a JSON array when
    `spltType` is "bin", or every n characters when it is "len"), an array into chunks of
    `arraySplt`, an object into one message per key (the key also goes to `addname`).
    With `stream`, a string's or buffer's unfinished tail waits for the next message."""

    def __init__(self, config: dict[str, Any], runtime: Any) -> None:
        super().__init__(config, runtime)
        cfg = config
        self.stream = cfg.get("stream") in (True, "true")
        self.splt_type = str(cfg.get("spltType") or "str")
        self.addname = str(cfg.get("addname") or "")
        self.property = str(cfg.get("property") or "payload")
        self.problem = ""
        self.splt: Any = "\n"
        self.ch: Any = "\n"
        try:
            if self.splt_type == "str":
                self.splt = self.ch = unescape(str(cfg.get("splt") or "\\n"))
            elif self.splt_type == "bin":
                self.ch = json.loads(str(cfg.get("splt")))
                if not isinstance(self.ch, list):
                    raise ValueError("not an array")
                self.splt = bytes(self.ch)
            elif self.splt_type == "len":
                self.splt = int(to_number(cfg.get("splt"), none=0.0))
                if self.splt < 1:
                    raise ValueError(f"invalid split length: {cfg.get('splt')}")
            arrays = cfg.get("arraySplt", 1)
            self.array_splt = int(to_number(arrays if arrays not in (None, "") else "x"))
            if self.array_splt < 1:
                raise ValueError(f"invalid array split length: {arrays}")
        except (ValueError, TypeError, OverflowError) as exc:
            self.problem = f"Invalid split property: {exc}"
        self.c = 0
        self.remainder: Any = None

    async def on_start(self) -> None:
        if self.problem:
            self.error(self.problem)

    def on_input(self, msg: Message, send: Send, done: Done) -> None:
        found, value = lookup(msg, self.property)
        if self.problem or not found:
            done()
            return
        msg["parts"] = {"parts": msg["parts"]} if "parts" in msg else {}
        parts = msg["parts"]
        parts["id"] = new_id()
        if self.property != "payload":
            parts["property"] = self.property
        msg.pop("_msgid", None)
        if isinstance(value, str | bytes | bytearray):
            self._text(msg, bytes(value) if isinstance(value, bytearray) else value, send)
        elif isinstance(value, list):
            parts.update(type="array", count=math.ceil(len(value) / self.array_splt),
                         len=self.array_splt)
            for index, pos in enumerate(range(0, len(value), self.array_splt)):
                chunk = value[pos:pos + self.array_splt]
                out = clone_message(msg)
                set_path(out, self.property, chunk[0] if self.array_splt == 1 else chunk)
                out["parts"]["index"] = index
                send(out)
        elif isinstance(value, dict):
            parts.update(type="object", count=len(value))
            for index, (key, item) in enumerate(value.items()):
                set_path(msg, self.property, item)
                if self.addname:
                    set_path(msg, self.addname, key)
                parts.update(key=key, index=index)
                send(clone_message(msg))
        done()

    def _text(self, msg: Message, value: str | bytes, send: Send) -> None:
        """Strings and buffers: pieces at a separator or of a fixed length."""
        parts = msg["parts"]
        text = isinstance(value, str)
        parts["type"] = "string" if text else "buffer"
        if isinstance(self.remainder, type(value)):
            value = self.remainder + value  # type: ignore[operator]
        self.remainder = None
        if self.splt_type == "len":
            size = int(self.splt)
            if text:
                parts["ch"] = ""
            parts["len"] = size
            pieces: list[Any] = [value[i:i + size] for i in range(0, len(value), size)] \
                or [value]
            if self.stream and len(pieces[-1]) != size:
                self.remainder = pieces.pop()
        else:
            separator: Any = self.splt
            if text and isinstance(separator, bytes):
                separator = separator.decode("utf-8", errors="replace")
            elif not text and isinstance(separator, str):
                separator = separator.encode()
            parts["ch"] = self.ch
            pieces = list(value.split(separator))
            if self.stream:
                self.remainder = pieces.pop()
        if not self.stream:
            parts["count"] = len(pieces)
            self.c = 0
        for piece in pieces:
            set_path(msg, self.property, piece)
            parts["index"] = self.c
            self.c += 1
            send(clone_message(msg))
        if not self.stream:
            self.c = 0


# -- sort -------------------------------------------------------------------------------------
@register("sort")
class Sort(Node):
    """Sorts the array in a message property (`targetType` "msg", by element or by a
    JSONata `msgKey`), or a whole sequence (`targetType` "seq", by `seqKey`, a property
    or JSONata), `order` ascending or descending, as numbers when `as_num`."""

    def __init__(self, config: dict[str, Any], runtime: Any) -> None:
        super().__init__(config, runtime)
        cfg = config
        self.descending = str(cfg.get("order") or "ascending") != "ascending"
        self.as_num = cfg.get("as_num") in (True, "true")
        self.target = str(cfg.get("target") or "payload")
        self.on_property = cfg.get("targetType") == "msg"
        key_type = cfg.get("msgKeyType") if self.on_property else cfg.get("seqKeyType")
        self.key_prop = str(cfg.get("seqKey") or "payload")
        self.key_exp: Any = None
        self.key_source = ""
        self.problem = ""
        if key_type == "jsonata":
            source = cfg.get("msgKey") if self.on_property else cfg.get("seqKey")
            self.key_source = str(source or "")
            try:
                self.key_exp = jsonata_expression(self.key_source)
            except ValueError_ as exc:
                self.problem = str(exc)
        self.pending: dict[str, list[Held]] = {}

    async def on_start(self) -> None:
        if self.problem:
            self.error(self.problem)

    async def on_close(self) -> None:
        for items in self.pending.values():
            for held in items:
                held.done()
        self.pending.clear()

    def _keyed(self, items: list[Any], value: Any) -> list[Any]:
        if self.key_exp is None:
            return _ordered(items, value, self.descending, self.as_num)
        try:
            bindings = jsonata_bindings(self)
            pairs = [(item, jsonata_extras.evaluate(self.key_exp, self.key_source, value(item),
                                                    bindings)[0]) for item in items]
        except Exception as exc:
            raise ValueError_(f"Invalid JSONata expression: {exc}") from exc
        return [item for item, _ in _ordered(pairs, lambda p: p[1], self.descending,
                                             self.as_num)]

    def on_input(self, msg: Message, send: Send, done: Done) -> None:
        if self.problem:
            done()
            return
        if self.on_property:
            data = get_path(msg, self.target)
            if isinstance(data, list):
                try:
                    data[:] = self._keyed(data, lambda item: item)
                except ValueError_ as exc:
                    done(str(exc))
                    return
                send(msg)
            done()
            return
        parts = msg.get("parts")
        if not isinstance(parts, dict) or "id" not in parts or "index" not in parts:
            done()
            return
        items = self.pending.setdefault(str(parts["id"]), [])
        items.append(Held(msg, send, done))
        count = next((h.msg["parts"]["count"] for h in reversed(items)
                      if "count" in h.msg["parts"]), None)
        if count != len(items):
            return
        del self.pending[str(parts["id"])]
        try:
            if self.key_exp is None:
                ordered = self._keyed(items, lambda h: get_path(h.msg, self.key_prop))
            else:
                ordered = self._keyed(items, lambda h: h.msg)
        except ValueError_ as exc:
            for held in items[:-1]:
                held.done()
            items[-1].done(str(exc))
            return
        for index, held in enumerate(ordered):
            held.msg["parts"]["index"] = index
            held.send(held.msg)
            held.done()
