"""Core nodes: inject, debug, catch, status, complete, link in/out, json."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

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
    """Shows a property (or the whole message) in the runtime's debug output."""

    def on_input(self, msg: Message, send: Send, done: Done) -> None:
        if self.config.get("active") is False:
            done()
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
        self.runtime.debug(self, value)
        if self.config.get("console") in (True, "true"):
            self.log(json.dumps(value, default=str)[:1000])
        done()


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


@register("json")
class Json(Node):
    """Converts between a JSON string and an object (either way, or forced by `action`)."""

    def on_input(self, msg: Message, send: Send, done: Done) -> None:
        prop = str(self.config.get("property") or "payload")
        value = get_path(msg, prop)
        action = str(self.config.get("action") or "")
        if isinstance(value, str) and action in ("", "obj"):
            try:
                set_path(msg, prop, json.loads(value))
            except ValueError as exc:
                done(f"invalid JSON: {exc}")
                return
        elif isinstance(value, dict | list | bool | int | float) and action in ("", "str"):
            indent = 4 if self.config.get("pretty") else None
            set_path(msg, prop, json.dumps(value, indent=indent, separators=None
                                           if indent else (",", ":")))
        send(msg)
        done()
