"""Nodes that gather messages: join (a sequence, or any messages, back into one) and batch
(messages into sequences), with Node-RED's property names.

Both read and write msg.parts as `runtime.nodes.sequence` describes it. Importing this
module also registers the nodes of `runtime.nodes.sequence` and `runtime.nodes.timing`.
"""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import dataclass, field
from typing import Any

from runtime import jsonata_extras
from runtime.jsvalues import array_join, js_string, strict_equal, to_number
from runtime.message import Message, clone_message, new_id
from runtime.node import Done, Node, Send
from runtime.nodes.sequence import jsonata_expression
from runtime.nodes.timing import Held, Ticker, lookup, unescape
from runtime.registry import register
from runtime.values import ValueError_, evaluate, get_path, jsonata_bindings, set_path


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
                self.reduce_exp = jsonata_expression(str(cfg.get("reduceExp") or ""))
                fixup = cfg.get("reduceFixup")
                self.fixup_exp = jsonata_expression(str(fixup)) if fixup not in (None, "") else None
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
                accumulator, _ = jsonata_extras.evaluate(
                    self.reduce_exp, str(cfg.get("reduceExp") or ""), entry.msg,
                    jsonata_bindings(self, I=entry.msg["parts"].get("index"), N=count,
                                     A=accumulator))
            if self.fixup_exp is not None:
                accumulator, _ = jsonata_extras.evaluate(
                    self.fixup_exp, str(cfg.get("reduceFixup")), {},
                    jsonata_bindings(self, N=count, A=accumulator))
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


@dataclass
class _Topic:
    """Concatenate mode: one topic's sequences, oldest first (parts.id -> messages), with
    the count each one's first message carrying parts.count gave."""

    groups: dict[str, list[Held]] = field(default_factory=dict)
    counts: dict[str, Any] = field(default_factory=dict)

    def first_complete(self) -> bool:
        first = next(iter(self.groups), None)
        return first is not None and strict_equal(self.counts.get(first),
                                                  len(self.groups[first]))

    def first(self) -> list[Held]:
        return self.groups[next(iter(self.groups))]

    def drop_first(self) -> None:
        first = next(iter(self.groups), None)  # none left: a topic listed twice
        if first is not None:
            del self.groups[first]
            self.counts.pop(first, None)


@register("batch")
class Batch(Node):
    """Makes sequences: every `count` messages (with `overlap` repeated from the previous
    batch), everything received each `interval` seconds, or (mode "concat") one sequence
    of each topic in `topics`, in that order, made into one once each topic has a complete
    sequence waiting. In concatenate mode a message whose msg.topic is not listed is
    dropped (and never done, as in Node-RED); a topic listed twice contributes its
    sequence twice and uses up two of its sequences."""

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
        self.topics = [t.get("topic") if isinstance(t, dict) else None
                       for t in cfg.get("topics") or []]
        self.by_topic: dict[str, _Topic] = {}
        self.problem = ""
        if self.mode == "count" and self.count <= self.overlap:
            self.problem = "Invalid count and overlap"
        elif self.mode not in ("count", "interval", "concat"):
            self.problem = "unexpected mode"

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
        for topic in self.by_topic.values():
            for group in topic.groups.values():
                for held in group:
                    held.done()
        self.by_topic = {}

    def _concat(self, msg: Message, send: Send, done: Done) -> None:
        topic = msg.get("topic")
        if not any(strict_equal(topic, listed) for listed in self.topics):
            return
        parts = msg.get("parts")
        if not isinstance(parts, dict) or not {"id", "index", "count"} <= parts.keys():
            done("no parts property in message")
            return
        waiting = self.by_topic.setdefault(js_string(topic), _Topic())
        group_id = js_string(parts["id"])
        waiting.groups.setdefault(group_id, []).append(Held(msg, send, done))
        waiting.counts.setdefault(group_id, parts["count"])
        listed = [self.by_topic.get(js_string(t)) for t in self.topics]
        if not all(t is not None and t.first_complete() for t in listed):
            return
        batch = [held for t in listed if t is not None for held in t.first()]
        for t in listed:
            if t is not None:
                t.drop_first()
        _send_batch(batch, True)
        for held in batch:
            held.done()

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
        if self.mode == "concat":
            self._concat(msg, send, done)
        elif self.mode == "interval":
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
