"""Sequence nodes: split, join, batch and sort, with Node-RED's property names.

A sequence is a run of messages that share `msg.parts.id`; each carries its `index`, the
`count` when known and how it was split (`type`, `ch`, `len`, `key`), so join's automatic
mode can put it back together. Splitting a message that is already part of a sequence
keeps the outer parts under `msg.parts.parts`. Importing this module also registers the
nodes of `runtime.nodes.timing` (delay, trigger, filter).
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
from dataclasses import dataclass, field
from typing import Any

from runtime.jsvalues import array_join, js_string, strict_equal, to_number
from runtime.message import Message, clone_message, new_id
from runtime.node import Done, Node, Send
from runtime.nodes.timing import Held, Ticker, lookup, unescape
from runtime.registry import register
from runtime.values import ValueError_, evaluate, get_path, set_path


def _jsonata(expression: str) -> Any:
    import jsonata

    try:
        return jsonata.Jsonata(expression)
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


# -- join -------------------------------------------------------------------------------------
@dataclass
class _Group:
    """A sequence being joined."""

    kind: str
    msg: Message
    send: Send
    prop: str
    payload: Any
    target: Any = None
    current: int = 0
    join_char: Any = None
    array_len: Any = None
    dones: list[Done] = field(default_factory=list)
    handle: asyncio.TimerHandle | None = None


_HOLE = object()


@register("join")
class Join(Node):
    """Joins a sequence back into one message: `mode` "auto" reads msg.parts; "custom"
    builds a string (`joiner`), array, buffer, object (keyed by msg.`key`) or merged
    object from `property` (or whole messages) after `count` messages, `timeout` seconds
    or a msg.complete, optionally `accumulate`-ing; "reduce" folds with JSONata."""

    def __init__(self, config: dict[str, Any], runtime: Any) -> None:
        super().__init__(config, runtime)
        cfg = config
        self.mode = str(cfg.get("mode") or "auto")
        self.full = cfg.get("propertyType") == "full"
        self.property = "payload" if self.full else str(cfg.get("property") or "payload")
        self.key = str(cfg.get("key") or "topic")
        self.timer_s = 0.0 if self.mode == "auto" else to_number(cfg.get("timeout") or 0)
        self.timer_s = 0.0 if math.isnan(self.timer_s) else self.timer_s
        self.count = to_number(cfg.get("count") or 0)
        self.count_from_parts = cfg.get("count") == ""
        joiner = cfg.get("joiner") or ""
        self.joiner: Any = unescape(str(joiner))
        if cfg.get("joinerType") == "bin":
            self.joiner = bytes(json.loads(str(joiner or "[]")))
        self.useparts = cfg.get("useparts", True) not in (False, "false", "", None)
        self.build = str(cfg.get("build") or "array")
        self.accumulate = cfg.get("accumulate") in (True, "true")
        self.inflight: dict[str, _Group] = {}
        self.problem = ""
        self.reduce_groups: dict[str, list[Held]] = {}
        if self.mode == "reduce":
            try:
                self.reduce_exp = _jsonata(str(cfg.get("reduceExp") or ""))
                fixup = cfg.get("reduceFixup")
                self.fixup_exp = _jsonata(str(fixup)) if fixup not in (None, "") else None
            except ValueError_ as exc:
                self.problem = str(exc)

    async def on_start(self) -> None:
        if self.problem:
            self.error(self.problem)

    async def on_close(self) -> None:
        for group in self.inflight.values():
            if group.handle is not None:
                group.handle.cancel()
            for done in group.dones:
                done()
        self.inflight.clear()
        for held_list in self.reduce_groups.values():
            for held in held_list:
                held.done()
        self.reduce_groups.clear()

    def on_input(self, msg: Message, send: Send, done: Done) -> None:
        if self.problem:
            done(self.problem)
            return
        parts = msg.get("parts") if isinstance(msg.get("parts"), dict) else None
        if self.mode == "reduce":
            self._reduce(msg, parts, send, done)
            return
        if self.mode == "auto" and (parts is None or "id" not in parts):
            if "reset" in msg:
                self._drop_all()
            else:
                self.warn("Message missing msg.parts property - cannot join in 'auto' mode")
            done()
            return
        if self.mode == "custom" and parts is not None and not self.useparts:
            if "parts" in parts:
                msg["parts"] = parts = {"parts": parts["parts"]}
            else:
                del msg["parts"]
                parts = None
        part_id, index, key, arr_len = "_", None, None, None
        if self.mode == "auto":
            assert parts is not None
            part_id, kind, target = str(parts["id"]), parts.get("type"), parts.get("count")
            join_char, key, arr_len = parts.get("ch"), parts.get("key"), parts.get("len")
            index = parts.get("index")
            found, value = lookup(msg, str(parts.get("property") or "payload"))
        else:
            kind, target, join_char = self.build, self.count, self.joiner
            if self.count_from_parts and parts is not None:
                target = parts.get("count") or 0
                part_id = str(parts.get("id", "_"))
            if kind == "object":
                key = get_path(msg, self.key)
            found, value = (True, msg) if self.full else lookup(msg, self.property)
        if "restartTimeout" in msg and part_id in self.inflight:
            self._arm(part_id, self.inflight[part_id])
        if "reset" in msg:
            self._drop(part_id)
            done()
            return
        if kind == "object" and key in (None, ""):
            if self.mode == "auto":
                self.warn("Message missing 'msg.parts.key' property - cannot add to object")
            elif "complete" in msg:
                if part_id in self.inflight:
                    self.inflight[part_id].msg["complete"] = msg["complete"]
                    self.inflight[part_id].send = send
                    self._complete(part_id)
            else:
                self.warn(f"Message missing key property 'msg.{self.key}' - cannot add to "
                          "object")
            done()
            return
        group = self.inflight.get(part_id)
        if group is None:
            group = self._new_group(part_id, msg, send, str(kind), target, join_char, arr_len)
            if self.mode == "auto":
                group.prop = str(parts.get("property") or "payload") if parts else "payload"
        group.dones.append(done)
        if kind == "buffer" and found and not isinstance(value, bytes | bytearray | str | list):
            done(f"Cannot join {type(value).__name__} to buffer")
            return
        self._add(group, str(kind), key, index, found, value, msg)
        group.msg.update(msg)
        group.send = send
        total = group.target
        if parts is not None:
            total = group.target or parts.get("count")
            group.target = total
        if (isinstance(total, int | float) and total > 0 and group.current >= total) \
                or "complete" in msg:
            self._complete(part_id)

    def _new_group(self, part_id: str, msg: Message, send: Send, kind: str, target: Any,
                   join_char: Any, arr_len: Any) -> _Group:
        merged = kind in ("object", "merged")
        group = _Group(kind="object" if merged else kind, msg=clone_message(msg), send=send,
                       prop=self.property, payload={} if merged else [], target=target,
                       join_char=join_char if kind in ("string", "buffer") else None,
                       array_len=arr_len if kind == "array" else None)
        self.inflight[part_id] = group
        if self.timer_s > 0:
            self._arm(part_id, group)
        return group

    def _add(self, group: _Group, kind: str, key: Any, index: Any, found: bool, value: Any,
             msg: Message) -> None:
        if kind == "object":
            group.payload[js_string(key)] = value
            group.current = len(group.payload)
        elif kind == "merged":
            if not isinstance(value, dict):
                if "complete" not in msg:
                    self.warn("Cannot merge non-object types")
                return
            group.payload.update({k: v for k, v in value.items() if k != "_msgid"})
            group.current = len(group.payload)
        elif isinstance(index, int) and not isinstance(index, bool) and index >= 0:
            items = group.payload
            items.extend([_HOLE] * (index + 1 - len(items)))
            if items[index] is _HOLE or items[index] is None:
                group.current += 1
            items[index] = value
        elif found:
            group.payload.append(value)
            group.current += 1

    def _arm(self, part_id: str, group: _Group) -> None:
        if group.handle is not None:
            group.handle.cancel()
            group.handle = None
        if self.timer_s > 0:
            group.handle = asyncio.get_running_loop().call_later(
                self.timer_s, self._complete, part_id)

    def _drop(self, part_id: str) -> None:
        group = self.inflight.pop(part_id, None)
        if group is not None:
            if group.handle is not None:
                group.handle.cancel()
            for done in group.dones:
                done()

    def _drop_all(self) -> None:
        for part_id in list(self.inflight):
            self._drop(part_id)

    def _complete(self, part_id: str) -> None:
        group = self.inflight.get(part_id)
        if group is None:
            return
        if group.handle is not None:
            group.handle.cancel()
            group.handle = None
        if self.mode == "auto" or not self.accumulate or "complete" in group.msg:
            del self.inflight[part_id]
        result: Any = group.payload
        if isinstance(result, list):
            result = [None if v is _HOLE else v for v in result]
        if group.kind == "array" and isinstance(group.array_len, int) and group.array_len > 1:
            result = [v for item in result for v in (item if isinstance(item, list) else [item])]
        elif group.kind == "buffer":
            def as_bytes(v: Any) -> bytes:
                return v.encode() if isinstance(v, str) else bytes(v or b"")

            joiner = group.join_char
            result = (b"" if joiner is None else as_bytes(joiner)).join(map(as_bytes, result))
        elif group.kind == "string":
            joiner = group.join_char
            if isinstance(joiner, list):
                joiner = bytes(joiner).decode(errors="replace")
            result = array_join(result, joiner)
        out = clone_message(group.msg) if self.full else group.msg
        set_path(out, group.prop or "payload", result)
        parts = out.get("parts")
        if isinstance(parts, dict) and "parts" in parts:
            out["parts"] = parts["parts"]
        else:
            out.pop("parts", None)
        out.pop("complete", None)
        group.send(clone_message(out))
        for done in group.dones:
            done()
        group.dones = []

    def _reduce(self, msg: Message, parts: dict[str, Any] | None, send: Send,
                done: Done) -> None:
        """Reduce mode: a whole sequence folded into one message with JSONata."""
        if parts is None:
            send(msg)
            done()
            return
        held = self.reduce_groups.setdefault(str(parts.get("id")), [])
        held.append(Held(msg, send, done))
        count = next((h.msg["parts"].get("count") for h in held
                      if "count" in h.msg["parts"]), None)
        if count != len(held):
            return
        del self.reduce_groups[str(parts.get("id"))]
        cfg = self.config
        ordered = sorted(held, reverse=cfg.get("reduceRight") in (True, "true"),
                         key=lambda h: to_number(h.msg["parts"].get("index"), none=0.0))
        try:
            accumulator = evaluate(cfg.get("reduceInit"), str(cfg.get("reduceInitType") or
                                                              "str"), self, {})
            for entry in ordered:
                for name, bound in (("I", entry.msg["parts"].get("index")), ("N", count),
                                    ("A", accumulator)):
                    self.reduce_exp.assign(name, bound)
                accumulator = self.reduce_exp.evaluate(entry.msg)
            if self.fixup_exp is not None:
                self.fixup_exp.assign("N", count)
                self.fixup_exp.assign("A", accumulator)
                accumulator = self.fixup_exp.evaluate({})
        except Exception as exc:
            for entry in held[:-1]:
                entry.done()
            held[-1].done(f"JSONata reduce failed: {exc}")
            return
        last = ordered[-1]
        last.msg["payload"] = accumulator
        last.send(last.msg)
        for entry in held:
            entry.done()


# -- batch ------------------------------------------------------------------------------------
def _send_batch(items: list[Held], clone: bool) -> None:
    group_id = items[0].msg.get("_msgid")
    for index, held in enumerate(items):
        msg = clone_message(held.msg) if clone else held.msg
        parts = msg.setdefault("parts", {})
        parts.update(id=group_id, index=index, count=len(items))
        held.send(msg)


@register("batch")
class Batch(Node):
    """Makes sequences: every `count` messages (with `overlap` repeated from the previous
    batch), or everything received each `interval` seconds. Mode "concat" is not here."""

    def __init__(self, config: dict[str, Any], runtime: Any) -> None:
        super().__init__(config, runtime)
        cfg = config
        self.mode = str(cfg.get("mode") or "count")
        count, overlap = to_number(cfg.get("count") or 1), to_number(cfg.get("overlap") or 0)
        self.count = int(count) if math.isfinite(count) else 0
        self.overlap = int(overlap) if math.isfinite(overlap) else 0
        self.honour_parts = cfg.get("honourParts") in (True, "true")
        interval = to_number(cfg.get("interval") or "0")
        self.interval_s = interval if math.isfinite(interval) else 0.0
        self.allow_empty = cfg.get("allowEmptySequence") in (True, "true")
        self.pending: list[Held] = []
        self.ticker = Ticker(self._interval)
        self.problem = ""
        if self.mode == "count" and self.count <= self.overlap:
            self.problem = "Invalid count and overlap"
        elif self.mode not in ("count", "interval"):
            self.problem = f"unsupported mode {self.mode!r}"

    async def on_start(self) -> None:
        if self.problem:
            self.error(self.problem)
        elif self.mode == "interval" and self.interval_s > 0:
            self.ticker.start(self.interval_s)

    async def on_close(self) -> None:
        self.ticker.stop()
        self._drop()

    def _drop(self) -> None:
        for held in self.pending:
            held.done()
        self.pending = []

    def _interval(self) -> None:
        if self.pending:
            _send_batch(self.pending, False)
            for held in self.pending:
                held.done()
            self.pending = []
        elif self.allow_empty:
            self.send({"payload": None, "parts": {"id": new_id(), "index": 0, "count": 1}})

    def on_input(self, msg: Message, send: Send, done: Done) -> None:
        if self.problem:
            done(self.problem)
            return
        if "reset" in msg:
            self._drop()
            if self.mode == "interval" and self.interval_s > 0:
                self.ticker.start(self.interval_s)
            done()
            return
        if self.mode == "interval":
            self.pending.append(Held(msg, send, done))
        else:
            parts = msg.get("parts")
            last = self.honour_parts and isinstance(parts, dict) and \
                to_number(parts.get("index"), none=0.0) + 1 \
                == to_number(parts.get("count"), none=0.0)
            self.pending.append(Held(msg, send, done))
            if len(self.pending) == self.count or last:
                batch = self.pending
                _send_batch(batch, self.overlap > 0)
                for held in batch[:len(batch) - self.overlap]:
                    held.done()
                self.pending = batch[-self.overlap:] if self.overlap else []


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
        self.problem = ""
        if key_type == "jsonata":
            source = cfg.get("msgKey") if self.on_property else cfg.get("seqKey")
            try:
                self.key_exp = _jsonata(str(source or ""))
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
            pairs = [(item, self.key_exp.evaluate(value(item))) for item in items]
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
