"""Node-RED's `function` node, run in QuickJS (the `quickjs` package).

Each node owns one QuickJS context, built in `on_start` and only ever touched from the
event-loop thread (two threads on one context abort the process). The body `func` is the
body of an async `function(msg)`, as in Node-RED: it returns a message, an array with one
entry per output (an entry may itself be an array of messages), or null/undefined.
`initialize` runs once at start (messages wait for it), `finalize` at close.

QuickJS refuses Python callbacks while a time limit is set, so nothing in the sandbox calls
Python: `node.send/warn/status/done`, timers and context writes are recorded JS-side and
read back after each call ("a round"). Context (`context`, `flow`, `global`) is loaded into
the sandbox before a round and the keys it changed are written back to the runtime's store
after it. Messages cross as JSON; `msg.req`/`msg.res` stay in Python and are put back on
what comes out with the same `_msgid`. Bytes cross as Node's `{type: "Buffer", data}` JSON.

Limits: every JS call and promise job has a CPU-time limit - the node's `timeout` (seconds)
when above 0, and never more than `MAX_CALL_SECONDS` (Node-RED's "0 = no limit" becomes
that cap, because a runaway call blocks the whole event loop). The limit uses the process
CPU clock. Memory is capped at `MEMORY_LIMIT`, the stack at `STACK_LIMIT`. A message whose
code throws, runs away, or exhausts memory fails with a plain-words `msg.error.message`;
the node carries on with the next one. External modules (`libs`) are not available.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import quickjs

from runtime.message import Message, new_id
from runtime.node import Done, Node, Send
from runtime.nodes.function_harness import ENTRIES, HARNESS
from runtime.registry import register

MAX_CALL_SECONDS = 10.0  # hard cap on one call, whatever the node's `timeout` says
MEMORY_LIMIT = 64 * 1024 * 1024
STACK_LIMIT = 1024 * 1024
SHARED_KEYS = ("req", "res")
_REQ_FIELDS = ("params", "query", "headers", "body", "method", "url", "cookies", "path",
               "hostname", "ip", "protocol")
_REMEMBERED = 1000  # msgids whose req/res are kept for late sends (timers)

_AT_LINE = re.compile(r"at __(?:func|initialize|finalize) \(<input>:(\d+)\)")
_KILLED = re.compile(r"^InternalError: (interrupted|out of memory|stack overflow)(.*)$")


class _Runaway(Exception):
    """Promise jobs kept coming past the time limit."""


@dataclass
class _Call:
    """A message the body is handling: done once it returns (or calls node.done())."""

    msgid: str
    done: Done
    auto_done: bool


@register("function")
class FunctionNode(Node):
    """Runs the node's JavaScript for each message in its own QuickJS sandbox."""

    def __init__(self, config: dict[str, Any], runtime: Any) -> None:
        super().__init__(config, runtime)
        self.outputs = int(_number(config.get("outputs"), 1))
        self.func = str(config.get("func") or "")
        # Like Node-RED: a body that calls node.done() itself says when it is finished.
        self.auto_done = not re.search(r"node\.done\s*\(\s*\)", self.func)
        self.limit = MAX_CALL_SECONDS
        self._ctx: Any = None
        self._api: dict[str, Any] = {}
        self._thread = 0
        self._broken: str | None = None
        self._ready = True
        self._queue: list[tuple[Message, Send, Done]] = []
        self._calls: dict[int, _Call] = {}
        self._next_call = 0
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._shared: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scoped = [("node", self.context.node()), ("flow", self.context.flow()),
                        ("global", self.context.global_())]
        # Scope name -> the store's version the sandbox's copy matches (see `_load`).
        self._seen: dict[str, int] = {}
        self._buffers = False  # the last round's output holds Buffer JSON

    # -- lifecycle ---------------------------------------------------------------------------
    async def on_start(self) -> None:
        self._loop = asyncio.get_running_loop()
        timeout = _number(self.config.get("timeout"), 0)
        self.limit = min(timeout, MAX_CALL_SECONDS) if timeout > 0 else MAX_CALL_SECONDS
        if timeout > MAX_CALL_SECONDS:
            self.warn(f"timeout {timeout:g} s is above the runtime's cap; using "
                      f"{MAX_CALL_SECONDS:g} s")
        libs = self.config.get("libs") or []
        if libs:
            names = ", ".join(str(lib.get("module", lib)) if isinstance(lib, dict) else str(lib)
                              for lib in libs)
            self._refuse(f"the function uses modules this runtime cannot load: {names}")
            return
        self._build()
        if self._broken is None and str(self.config.get("initialize") or "").strip():
            self._ready = False
            failure = self._round("init")
            if failure is not None:
                self._on_ready(failure)

    async def on_close(self) -> None:
        if self._ctx is not None and self._broken is None:
            failure = self._round("close")
            if failure is not None:
                self.runtime.report_log(self, "error", f"finalize failed: {failure}")
        self._cancel_timers()
        self._calls.clear()
        self._queue.clear()
        self._ctx, self._api = None, {}

    def _cancel_timers(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()

    def _build(self) -> None:
        """A fresh sandbox with the harness and the node's compiled code."""
        ctx = quickjs.Context()
        ctx.set_memory_limit(MEMORY_LIMIT)
        ctx.set_max_stack_size(STACK_LIMIT)
        ctx.set_time_limit(self.limit)
        ctx.eval(HARNESS)
        self._api = {name: ctx.eval(f"__plumb.{name}") for name in ENTRIES}
        ctx.eval("delete globalThis.__plumb")
        self._ctx, self._thread = ctx, threading.get_ident()
        self._seen.clear()  # a fresh sandbox has no context yet
        self._api["setup"](json.dumps({"node": {"id": self.id, "name": self.name,
                                                "outputs": self.outputs},
                                       "env": self._env()}))
        for kind in ("func", "initialize", "finalize"):
            source = str(self.config.get(kind) or "")
            if kind != "func" and not source.strip():
                continue
            sync = kind == "func" and not re.search(r"\bawait\b", source)
            try:
                error = self._api["compile"](kind, source, sync)
            except Exception as exc:  # code that runs away while being compiled
                error = self._explain(str(exc))
            if error:
                label = "" if kind == "func" else f" in {kind}"
                self._refuse(f"the function has an error{label} and cannot run: {error}")
                return

    def _refuse(self, text: str) -> None:
        self._broken = text
        self._ctx, self._api = None, {}
        self.runtime.report_log(self, "error", text)
        self.status("red", "dot", "error")

    def _env(self) -> dict[str, Any]:
        env = self.env_all()
        tab = self.runtime.tabs.get(self.z) or {}
        env.update({"NR_NODE_ID": self.id, "NR_NODE_NAME": self.name, "NR_FLOW_ID": self.z,
                    "NR_FLOW_NAME": str(tab.get("label") or "")})
        return env

    # -- messages ------------------------------------------------------------------------------
    def on_input(self, msg: Message, send: Send, done: Done) -> None:
        if self._broken is not None:
            done(self._broken)
            return
        if self._ctx is None:
            done("the function node is not running")
            return
        if not self._ready:
            self._queue.append((msg, send, done))
            return
        msgid = str(msg.get("_msgid") or new_id())
        shared = {key: msg[key] for key in SHARED_KEYS if key in msg}
        if shared:
            self._shared[msgid] = shared
            self._shared.move_to_end(msgid)
            while len(self._shared) > _REMEMBERED:
                self._shared.popitem(last=False)
        body = {key: value for key, value in msg.items() if key not in shared}
        body["_msgid"] = msgid
        if isinstance(shared.get("req"), dict):
            # Code reads msg.req.query / params / headers: a plain copy goes in; the real
            # request object is what comes back out on the messages sent.
            body["req"] = {k: shared["req"].get(k) for k in _REQ_FIELDS if k in shared["req"]}
        try:
            raw = _dumps(body)
        except (TypeError, ValueError) as exc:
            done(f"the message cannot be passed to JavaScript: {exc}")
            return
        self._next_call += 1
        call_id = self._next_call
        self._calls[call_id] = _Call(msgid, done, self.auto_done)
        failure = self._round("input", call_id, msgid, raw)
        call = self._calls.pop(call_id, None) if failure is not None else None
        if call is not None:
            call.done(failure)

    def _fire(self, timer_id: int) -> None:
        self._timers.pop(timer_id, None)
        if self._ctx is None:
            return
        failure = self._round("fire", timer_id)
        if failure is not None:
            self.error(failure, {"_msgid": new_id()})

    def _round(self, entry: str, *args: Any) -> str | None:
        """Call one harness entry, run the promise jobs it queued, then read back what the
        code did. Returns an error text when the sandbox itself failed the call."""
        if threading.get_ident() != self._thread:
            raise RuntimeError("a function node's sandbox must be used from one thread only")
        ctx, failure, runaway, collected = self._ctx, None, False, None
        try:
            collected = self._api[entry](self._load(), *args)  # "input" collects itself
            if ctx.execute_pending_job():
                if collected is not None:  # what happened before the jobs, in order
                    self._apply(collected)
                    collected = None
                started = time.monotonic()  # the entry had its own limit; now the jobs
                while ctx.execute_pending_job():
                    if time.monotonic() - started > self.limit:
                        raise _Runaway
        except _Runaway:
            runaway = True
        except Exception as exc:
            failure = self._explain(str(exc) or type(exc).__name__)
        try:
            self._apply(collected if collected is not None else self._api["collect"]())
        except Exception as exc:
            failure = failure or self._explain(str(exc) or type(exc).__name__)
        return self._reset() if runaway else failure

    def _apply(self, collected: str) -> None:
        """Write back the context changes and act on the events of one collection."""
        self._buffers = '"Buffer"' in collected
        result = json.loads(collected)
        self._sync(result["changes"])
        self._handle(result["events"])

    def _reset(self) -> str:
        """Promise jobs that never stop cannot be cancelled: start a clean sandbox (without
        re-running initialize) and fail what was in flight."""
        text = self._explain("InternalError: interrupted")
        calls = list(self._calls.values())
        self._calls.clear()
        self._cancel_timers()
        self.runtime.report_log(self, "warn", f"{text}; the sandbox was reset")
        self._build()
        for call in calls:
            call.done(text)
        return text

    def _load(self) -> str:
        """The context scopes written outside the sandbox since it last saw them, as JSON
        texts per key (what cannot be JSON stays out)."""
        scopes: dict[str, dict[str, str]] = {}
        for name, scoped in self._scoped:
            version = scoped.version()
            if self._seen.get(name) == version:
                continue
            self._seen[name] = version
            texts = scopes[name] = {}
            for key, value in scoped.all().items():
                try:
                    texts[key] = _dumps(value)
                except (TypeError, ValueError):
                    continue
        return json.dumps(scopes)

    def _sync(self, changes: dict[str, dict[str, str | None]]) -> None:
        for name, scoped in self._scoped:
            changed = changes.get(name) or {}
            if not changed:
                continue
            in_step = self._seen.get(name) == scoped.version()
            scoped.update({key: None if raw is None else _from_json(json.loads(raw))
                           for key, raw in changed.items()})
            if in_step:  # the sandbox's copy is the store's again
                self._seen[name] = scoped.version()

    def _handle(self, events: list[list[Any]]) -> None:
        """Act on what the code did during a round, in the order it did it."""
        for kind, *rest in events:
            if kind == "send":
                self._send_out(rest[0], rest[1])
            elif kind == "result":
                self._send_out(rest[1], rest[2])
                call = self._calls.get(rest[0])
                if call is not None and call.auto_done:
                    del self._calls[rest[0]]
                    call.done()
            elif kind in ("done", "error"):
                call = self._calls.pop(rest[0], None)
                text = self._explain(rest[1]) if rest[1] is not None else None
                if call is not None and text is not None:
                    call.done(text)
                elif call is not None:
                    call.done()
                elif text is not None:
                    self.runtime.report_log(self, "error", text)
            elif kind == "log":
                self.runtime.report_log(self, rest[0], rest[1])
            elif kind == "catch":
                msg = self._restore(rest[1], None) if rest[1] else None
                self.error(rest[0], msg if isinstance(msg, dict) else None)
            elif kind == "status":
                status = rest[0]
                self.status(status.get("fill"), status.get("shape"), status.get("text"))
            elif kind == "timer":
                old = self._timers.pop(rest[0], None)
                if old is not None:
                    old.cancel()
                assert self._loop is not None
                self._timers[rest[0]] = self._loop.call_later(rest[1] / 1000, self._fire,
                                                              rest[0])
            elif kind == "clear":
                handle = self._timers.pop(rest[0], None)
                if handle is not None:
                    handle.cancel()
            elif kind == "fail":
                self.error(self._explain(rest[0]), {"_msgid": new_id()})
            elif kind == "ready":
                self._on_ready(rest[0])

    def _on_ready(self, error: str | None) -> None:
        if error is not None:
            self.runtime.report_log(self, "error", f"initialize failed: {self._explain(error)}")
        self._ready = True
        if self._queue and self._loop is not None:
            self._loop.call_soon(self._drain_queue)

    def _drain_queue(self) -> None:
        queued, self._queue = self._queue, []
        for msg, send, done in queued:
            self.on_input(msg, send, done)

    def _send_out(self, msgid: str | None, out: Any) -> None:
        """Send what the code returned or passed to node.send, Node-RED's way: every message
        gets the input's `_msgid` (and its req/res back)."""
        if out is None:
            return
        ports: list[Any] = []
        for entry in out if isinstance(out, list) else [out]:
            kept = []
            for msg in entry if isinstance(entry, list) else [entry]:
                if isinstance(msg, dict):
                    kept.append(self._restore(msg, msgid))
                elif msg is not None:
                    self.runtime.report_log(self, "error", "the function tried to send a "
                                            f"{_js_type(msg)}, not a message object")
            ports.append(kept or None)
        if any(ports):
            self.send(ports, fresh=True)

    def _restore(self, msg: Any, msgid: str | None) -> Any:
        if self._buffers:
            msg = _from_json(msg)
        if not isinstance(msg, dict):
            return msg
        if msgid is not None:
            msg["_msgid"] = msgid
        msg.setdefault("_msgid", new_id())
        for key, value in self._shared.get(str(msg["_msgid"]), {}).items():
            msg.setdefault(key, value)
        return msg

    def _explain(self, text: str) -> str:
        """QuickJS's text for an error, with the sandbox's own limits said in plain words."""
        first = (text.strip().splitlines() or ["unknown error"])[0][:500]
        # An error that left the sandbox itself (a stopped plain-function call) carries
        # its stack here rather than through the harness's `describe`.
        at = _AT_LINE.search(text)
        if at is not None and "(line " not in first:
            first += f" (line {int(at.group(1)) - 1})"
        if first in ("null", "undefined"):  # QuickJS throws null when even the error won't fit
            return (f"the function stopped without an error value (a throw of {first}, or it "
                    f"ran out of memory: the limit is {MEMORY_LIMIT // 2**20} MiB)")
        killed = _KILLED.match(first)
        if killed is None:
            return first
        what, where = killed.groups()
        if what == "interrupted":
            return f"the function ran longer than {self.limit:g} s and was stopped{where}"
        if what == "out of memory":
            return (f"the function ran out of memory (limit {MEMORY_LIMIT // 2**20} MiB) and "
                    f"was stopped{where}")
        return f"the function overflowed its stack (endless recursion?) and was stopped{where}"


def _number(value: Any, default: float) -> float:
    try:
        return float(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        return default


def _to_json(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return {"type": "Buffer", "data": list(value)}
    return str(value)


def _dumps(value: Any) -> str:
    """JSON for the sandbox: bytes as Buffer JSON, NaN and infinities as null."""
    try:
        return json.dumps(value, default=_to_json, allow_nan=False)
    except ValueError as exc:
        if "Circular" in str(exc):
            raise
        return json.dumps(_finite(value), default=_to_json, allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def _from_json(value: Any) -> Any:
    """Turn Buffer JSON back into bytes, everywhere in a value."""
    if isinstance(value, dict):
        data = value.get("data")
        if (len(value) == 2 and value.get("type") == "Buffer" and isinstance(data, list)
                and all(isinstance(b, int) and 0 <= b < 256 for b in data)):
            return bytes(data)
        return {key: _from_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_from_json(item) for item in value]
    return value


def _js_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "string" if isinstance(value, str) else type(value).__name__
