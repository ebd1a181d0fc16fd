"""Core nodes: inject, debug, catch, status, complete, link in/out (json is in
`runtime.nodes.json_parser`)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

from runtime.jsvalues import format_number
from runtime.message import Message, new_message
from runtime.node import Done, Node, Send
from runtime.registry import register
from runtime.values import ValueError_, evaluate, get_path, set_path


@register("inject")
class Inject(Node):
    """Sends a message once at start (after `onceDelay`), every `repeat` seconds, on a
    cron schedule, or when its button is pressed (the admin API injects it)."""

    def __init__(self, config: dict[str, Any], runtime: Any) -> None:
        super().__init__(config, runtime)
        self._tasks: list[asyncio.Task[None]] = []

    async def on_start(self) -> None:
        once = bool(self.config.get("once"))
        repeat = str(self.config.get("repeat") or "").strip()
        if once:
            delay = float(self.config.get("onceDelay") or 0.1)
            self._tasks.append(asyncio.create_task(self._later(delay)))
        if repeat:
            self._tasks.append(asyncio.create_task(self._every(float(repeat))))
        crontab = str(self.config.get("crontab") or "").strip()
        if crontab:
            from runtime.cron import CronSchedule

            self._tasks.append(asyncio.create_task(self._cron(CronSchedule(crontab))))

    async def _later(self, delay: float) -> None:
        await asyncio.sleep(delay)
        self.fire()

    async def _every(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            self.fire()

    async def _cron(self, schedule: Any) -> None:
        while True:
            await asyncio.sleep(max(0.0, schedule.next_after(time.time()) - time.time()))
            self.fire()

    def fire(self) -> None:
        """Build the message from the node's properties and send it."""
        msg = new_message()
        props = self.config.get("props") or [{"p": "payload"}, {"p": "topic", "vt": "str"}]
        try:
            for prop in props:
                name = str(prop.get("p", ""))
                if name == "payload":
                    value = evaluate(self.config.get("payload", ""),
                                     str(self.config.get("payloadType") or "date"), self, msg)
                elif name == "topic" and "v" not in prop:
                    value = str(self.config.get("topic") or "")
                else:
                    value = evaluate(prop.get("v", ""), str(prop.get("vt") or "str"), self, msg)
                set_path(msg, name, value)
        except ValueError_ as exc:
            self.error(str(exc), msg)
            return
        self.send(msg)

    def on_input(self, msg: Message, send: Send, done: Done) -> None:
        self.fire()
        done()

    async def on_close(self) -> None:
        for task in self._tasks:
            task.cancel()


@register("debug")
class Debug(Node):
    """Shows a property (or the whole message, or a JSONata result) in the runtime's debug
    output (`tosidebar`), in the log (`console`) and as the node's status (`tostatus`).
    `active` switches off the debug output only, as in Node-RED."""

    STATUS_LENGTH = 32  # Node-RED's `debugStatusLength`: longer status texts are cut

    def __init__(self, config: dict[str, Any], runtime: Any) -> None:
        super().__init__(config, runtime)
        self._last_status = "{}"  # a status is set only when it changes
        self._counter = 0
        self._counted_at = time.monotonic()
        self._count_later: asyncio.TimerHandle | None = None

    def on_input(self, msg: Message, send: Send, done: Done) -> None:
        status = msg.get("status")
        source = status.get("source") if isinstance(status, dict) else None
        if isinstance(source, dict) and source.get("id") == self.id:
            done()  # its own status, back through a status node: showing it would loop
            return
        complete = str(self.config.get("complete", "payload"))
        whole = complete in ("true", "True")
        # "false" is how older editors said "msg.payload"
        target = "payload" if complete in ("false", "False", "") else complete
        if whole:
            value: Any = {k: v for k, v in msg.items() if k not in ("req", "res")}
        elif self.config.get("targetType") == "jsonata":
            try:
                value = evaluate(target, "jsonata", self, msg)
            except ValueError_ as exc:
                done(str(exc))
                return
        else:
            value = get_path(msg, target)
        if self.config.get("tostatus") in (True, "true"):
            self._show_status(msg, msg.get("payload") if whole else value)
        if self.config.get("console") in (True, "true"):
            text = inspect_js(value, depth=10)
            self.log("\n" + text if isinstance(value, dict | list | bytes | bytearray)
                     or "\n" in text else text)
        if self.config.get("active") is not False \
                and self.config.get("tosidebar", True) not in (False, "false"):
            self.runtime.debug(self, value)
        done()

    def _show_status(self, msg: Message, shown: Any) -> None:
        """The status Node-RED's debug node sets for `msg` (`shown`: the value it shows)."""
        kind = str(self.config.get("statusType") or "auto")
        if kind == "counter":
            self._count()
            return
        if kind == "jsonata":
            try:
                shown = evaluate(self.config.get("statusVal"), "jsonata", self, msg)
            except ValueError_ as exc:
                self.error(str(exc))
                return
        elif kind != "auto":
            shown = get_path(msg, str(self.config.get("statusVal") or "payload"))
        text: Any = shown if isinstance(shown, str) else inspect_js(shown)
        fill, shape = "grey", "dot"
        if isinstance(shown, dict) and all(shown.get(k) for k in ("fill", "shape", "text")):
            fill, shape, text = shown["fill"], shown["shape"], shown["text"]
        if kind == "auto" and "error" in msg:
            error = msg["error"]
            fill, text = "red", error.get("message") if isinstance(error, dict) else None
        if kind == "auto" and isinstance(msg.get("status"), dict):
            fill = msg["status"].get("fill") or "grey"
            shape = msg["status"].get("shape") or "ring"
            text = msg["status"].get("text") or ""
        text = text if isinstance(text, str) else inspect_js(text)
        if len(text) > self.STATUS_LENGTH:
            text = text[:self.STATUS_LENGTH] + "..."
        key = json.dumps([fill, shape, text])
        if key != self._last_status:
            self._last_status = key
            self.status(fill, shape, text)

    def _count(self) -> None:
        """Counter status: every message counts; one that comes within 0.1 s of the one
        before (or of the start) shows the count 0.2 s later, once the burst is over."""
        self._counter += 1
        now = time.monotonic()
        quick, self._counted_at = now - self._counted_at <= 0.1, now
        if not quick:
            self._show_count()
            return
        if self._count_later is not None:
            self._count_later.cancel()
        self._count_later = asyncio.get_running_loop().call_later(0.2, self._show_count)

    def _show_count(self) -> None:
        self.status("blue", "ring", str(self._counter))

    async def on_close(self) -> None:
        if self._count_later is not None:
            self._count_later.cancel()


_KEY = re.compile(r"^[A-Za-z_][A-Za-z_0-9]*$")  # keys util.inspect leaves unquoted
_BREAK_LENGTH = 80


def inspect_js(value: Any, depth: int = 2) -> str:
    """A value as Node.js's `util.inspect` prints it, which Node-RED's debug node uses for
    its status and console text: strings quoted inside objects, None as `undefined` at the
    top (a missing property) and `null` inside, objects deeper than `depth` as [Object],
    an object on one line while it fits 80 columns and nests less than 3 levels. (Node.js
    also groups long arrays into columns and splits long strings; this does not.)"""
    return _Inspector(depth).show(value, 0, nested=False)


class _Inspector:
    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.indent = 0
        self.current = 0  # the level of the object shown last

    def show(self, value: Any, level: int, nested: bool = True) -> str:
        if value is None:
            return "null" if nested else "undefined"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return format_number(value)
        if isinstance(value, str):
            return _quoted(value) if nested else value
        if isinstance(value, bytes | bytearray):
            more = f" ... {len(value) - 50} more bytes" if len(value) > 50 else ""
            return "<Buffer" + "".join(f" {b:02x}" for b in value[:50]) + more + ">"
        if isinstance(value, list | tuple):
            items: list[tuple[str | None, Any]] = [(None, item) for item in value]
            braces = ("[", "]", "[Array]")
        elif isinstance(value, dict):
            items = [(str(k), item) for k, item in value.items()]
            braces = ("{", "}", "[Object]")
        else:
            return str(value)
        if not items:
            return braces[0] + braces[1]
        if level > self.depth:
            return braces[2]
        level += 1
        self.current = level
        entries = []
        for key, item in items:
            self.indent += 2
            text = self.show(item, level)
            self.indent -= 2
            entries.append(text if key is None else
                           f"{key if _KEY.match(key) else _quoted(key)}: {text}")
        if self.current - level < 3:  # fewer than 3 levels inside: one line if it fits
            total = 2 * len(entries) + self.indent + 11
            if total + len(entries) <= _BREAK_LENGTH \
                    and total + sum(map(len, entries)) <= _BREAK_LENGTH \
                    and not any("\n" in e for e in entries):
                return f"{braces[0]} {', '.join(entries)} {braces[1]}"
        pad = "\n" + " " * self.indent
        return f"{braces[0]}{pad}  " + f",{pad}  ".join(entries) + f"{pad}{braces[1]}"


def _quoted(text: str) -> str:
    """A string inside an object, quoted the way util.inspect does."""
    quote = next((q for q in ("'", '"', "`") if q not in text), "'")
    escaped = text.replace("\\", "\\\\").replace("\n", "\\n")
    return quote + (escaped.replace("'", "\\'") if quote == "'" else escaped) + quote


class _PassOn(Node):
    """Catch, Status and Complete: the runtime routes messages to them; they pass them on."""

    def on_input(self, msg: Message, send: Send, done: Done) -> None:
        send(msg)
        done()


@register("catch")
class Catch(_PassOn):
    pass


@register("status")
class Status(_PassOn):
    pass


@register("complete")
class Complete(_PassOn):
    pass


@register("link in")
class LinkIn(_PassOn):
    pass


@register("link out")
class LinkOut(Node):
    """Sends to the link in nodes it names (mode "link"), or back to the link call that
    sent the message (mode "return")."""

    def on_input(self, msg: Message, send: Send, done: Done) -> None:
        if self.config.get("mode") == "return":
            stack = msg.get("_linkSource") or []
            if stack:
                caller = stack.pop()
                target = self.runtime.nodes.get(caller.get("node", ""))
                if target is not None and isinstance(target, LinkCall):
                    target.returned(msg)
            done()
            return
        for target_id in self.config.get("links") or []:
            target = self.runtime.nodes.get(str(target_id))
            if target is not None:
                self.runtime.inject(target.id, dict(msg))
        done()


@register("link call")
class LinkCall(Node):
    """Calls a link in node and sends on what its flow returns through a link out."""

    def on_input(self, msg: Message, send: Send, done: Done) -> None:
        stack = list(msg.get("_linkSource") or [])
        stack.append({"node": self.id})
        msg["_linkSource"] = stack
        for target_id in self.config.get("links") or []:
            if str(target_id) in self.runtime.nodes:
                self.runtime.inject(str(target_id), msg)
        done()

    def returned(self, msg: Message) -> None:
        if not msg.get("_linkSource"):
            msg.pop("_linkSource", None)
        self.send(msg)
