"""The base class every node type derives from.

A node is built from its flow entry, started, fed messages through `on_input(msg, send,
done)` and closed. `send` takes one message (first output), or a list with one entry per
output where an entry may be None, a message, or a list of messages for that output.
`done()` says the message is handled (Complete nodes hear it); `done(err)` or an exception
hands the message to the Catch nodes of the tab with `msg.error` set.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar

from runtime.context import Context
from runtime.message import Message

if TYPE_CHECKING:
    from runtime.engine import FlowRuntime

Send = Callable[[Any], None]
Done = Callable[..., None]
log = logging.getLogger("plumb.runtime")


class Node:
    """One node of a running flow."""

    type: ClassVar[str] = ""
    # Config nodes (a broker, a PLC connection) start before the nodes that use them.
    is_config: ClassVar[bool] = False

    def __init__(self, config: dict[str, Any], runtime: FlowRuntime) -> None:
        self.config = config
        self.runtime = runtime
        self.id = str(config["id"])
        self.name = str(config.get("name") or "")
        self.z = str(config.get("z") or "")
        wires = config.get("wires") or []
        self.wires: list[list[str]] = [[str(t) for t in port] for port in wires]
        self.context = Context(runtime.context_store, self.id, self.z)
        self.current_status: dict[str, Any] = {}

    # -- lifecycle, overridden by node types -----------------------------------------------
    async def on_start(self) -> None:
        """Called once when the flow starts (config nodes first)."""

    def on_input(self, msg: Message, send: Send, done: Done) -> Awaitable[None] | None:
        """Handle one message. May be a coroutine function."""
        send(msg)
        done()
        return None

    async def on_close(self) -> None:
        """Stop timers, close connections. Bounded by the runtime's close timeout."""

    # -- what a node can do --------------------------------------------------------------
    def send(self, out: Any, *, fresh: bool = False) -> None:
        """Send one message or a list per output; `fresh`: see `FlowRuntime.send_from`."""
        self.runtime.send_from(self, out, fresh=fresh)

    def status(self, fill: str | None = None, shape: str | None = None,
               text: str | None = None) -> None:
        status = {k: v for k, v in (("fill", fill), ("shape", shape), ("text", text))
                  if v is not None}
        self.current_status = status
        self.runtime.report_status(self, status)

    def warn(self, text: str) -> None:
        self.runtime.report_log(self, "warn", text)

    def log(self, text: str) -> None:
        self.runtime.report_log(self, "info", text)

    def error(self, text: str, msg: Message | None = None) -> None:
        """Report an error; with `msg`, it also goes to the Catch nodes."""
        self.runtime.report_log(self, "error", text)
        if msg is not None:
            self.runtime.handle_error(self, msg, text)

    def _declared_env(self) -> dict[str, dict[str, Any]]:
        """Env entries declared in the flow: the tab's, overridden by the subflow
        instance's (`_env`, set when subflows are expanded). name -> {value, type}."""
        tab = self.runtime.tabs.get(self.z) or {}
        declared = {str(e["name"]): e for e in tab.get("env") or []
                    if isinstance(e, dict) and e.get("name")}
        declared.update(self.config.get("_env") or {})
        return declared

    def env_get(self, name: str) -> Any:
        """An env variable as Node-RED resolves it: the subflow instance's properties,
        then the tab's env, then the runtime's settings, then the process environment."""
        from runtime.values import evaluate

        entry = self._declared_env().get(name)
        if isinstance(entry, dict):
            return evaluate(entry.get("value", ""), str(entry.get("type") or "str"), self, None)
        return self.runtime.env.get(name, os.environ.get(name, ""))

    def env_all(self) -> dict[str, Any]:
        """Every env variable `env_get` can see, resolved at once (for code that gets the
        whole set, such as a function node's sandbox). An entry that cannot be read is
        left out."""
        from runtime.values import ValueError_, evaluate

        env: dict[str, Any] = {**os.environ, **self.runtime.env}
        for name, entry in self._declared_env().items():
            try:
                env[name] = evaluate(entry.get("value"), str(entry.get("type") or "str"),
                                     self, None)
            except (ValueError_, TypeError):
                continue
        return env

    def label(self) -> str:
        return f"{self.type} {self.name!r} ({self.id})" if self.name else f"{self.type} ({self.id})"
