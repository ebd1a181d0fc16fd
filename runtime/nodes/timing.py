"""Flow-control nodes that work with time or with what came before: delay, trigger and
filter (`rbe`). Property names and behaviour follow Node-RED's core nodes.

Timers are event-loop handles (`call_later`); every node cancels its own in `on_close`
and calls `done()` for the messages it still held. Values are read, printed and compared as
JavaScript does (`runtime.jsvalues`); the helpers at the top are shared with
`runtime.nodes.sequence` and `runtime.nodes.batching`.
"""

from __future__ import annotations

import asyncio
import copy
import html
import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runtime.jsvalues import js_string, parse_float, strict_equal, to_number
from runtime.message import Message, clone_message
from runtime.node import Done, Node, Send
from runtime.registry import register
from runtime.values import ValueError_, evaluate, get_path


# -- shared with runtime.nodes.sequence and runtime.nodes.batching ---------------------------
def lookup(msg: Message, path: str) -> tuple[bool, Any]:
    """(found, value): a top-level property set to None still counts as found."""
    value = get_path(msg, path)
    if value is None and path.isidentifier():
        return path in msg, None
    return value is not None, value


def unescape(text: str) -> str:
    """The escapes Node-RED's split and join nodes read in a separator."""
    for escaped, char in (("\\n", "\n"), ("\\r", "\r"), ("\\t", "\t"), ("\\e", "e"),
                          ("\\f", "\f"), ("\\0", "\0")):
        text = text.replace(escaped, char)
    return text


def _how_many(flush: Any, available: int) -> int:
    """How many of the `available` held messages msg.flush asks for (a number, or all)."""
    if isinstance(flush, int | float) and not isinstance(flush, bool):
        return max(0, min(math.floor(flush), available))
    return available


@dataclass
class Held:
    """A message a node keeps for later, with the send and done it came with."""

    msg: Message
    send: Send
    done: Done


class Ticker:
    """A repeating timer on the event loop (Node's setInterval)."""

    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self.period = 0.0
        self._handle: asyncio.TimerHandle | None = None

    @property
    def running(self) -> bool:
        return self._handle is not None

    def start(self, period_s: float) -> None:
        self.stop()
        self.period = max(period_s, 0.001)
        self._handle = asyncio.get_running_loop().call_later(self.period, self._tick)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _tick(self) -> None:
        self._handle = asyncio.get_running_loop().call_later(self.period, self._tick)
        self.callback()


# -- delay ------------------------------------------------------------------------------------
_DELAY_UNITS = {"milliseconds": 1, "seconds": 1000, "minutes": 60_000, "hours": 3_600_000,
                "days": 86_400_000}
_RATE_UNITS = {"second": 1000, "minute": 60_000, "hour": 3_600_000, "day": 86_400_000}


def _number(value: Any, default: float) -> float:
    number = to_number(value, none=0.0)  # a config value of None is JSON's null
    return default if math.isnan(number) else number


class _Timed:
    """One message waiting in a delay node's fixed, variable or random delay."""

    def __init__(self, node: Delay, held: Held, wait_ms: float) -> None:
        self.node, self.held = node, held
        loop = asyncio.get_running_loop()
        self.handle = loop.call_later(max(wait_ms, 0) / 1000, self.fire)

    def fire(self) -> None:
        self.handle.cancel()
        if self in self.node.waiting:
            self.node.waiting.remove(self)
        self.held.send(self.held.msg)
        self.held.done()

    def clear(self) -> None:
        self.handle.cancel()
        self.held.done()


@register("delay")
class Delay(Node):
    """Delays each message (fixed `timeout`, msg.delay or random), or limits the rate: all
    messages (`rate` per `nbRateUnits` `rateUnits`; `drop` drops the extra ones, else they
    queue) or per topic (`queue`, `timed`). msg.reset clears, msg.flush sends now. The
    "burst" mode is not here."""

    def __init__(self, config: dict[str, Any], runtime: Any) -> None:
        super().__init__(config, runtime)
        cfg = config
        self.pause_type = str(cfg.get("pauseType") or "delay")
        unit = _DELAY_UNITS.get(str(cfg.get("timeoutUnits")), 1000)
        self.timeout_ms = _number(cfg.get("timeout", 5), 0) * unit
        random_unit = _DELAY_UNITS.get(str(cfg.get("randomUnits")), 1000)
        self.random_first = _number(cfg.get("randomFirst", 1), 0) * random_unit
        self.random_last = _number(cfg.get("randomLast", 5), 0) * random_unit
        rate = _number(cfg.get("rate", 1), 1) or 1
        nb_units = _number(cfg.get("nbRateUnits", 1), 1)
        rate_unit = _RATE_UNITS.get(str(cfg.get("rateUnits")), 1000)
        self.fixed_rate = rate_unit / rate * (nb_units if nb_units > 0 else 1)
        self.rate_ms = self.fixed_rate
        self.drop = cfg.get("drop") in (True, "true")
        self.allow_rate = cfg.get("allowrate") in (True, "true")
        self.outputs = int(_number(cfg.get("outputs", 1), 1))
        self.waiting: list[_Timed] = []
        self.buffer: list[Held] = []
        self.last_sent: float | None = None
        self.ticker = Ticker(self._per_topic_tick if self.pause_type in ("queue", "timed")
                             else self._send_one)

    async def on_start(self) -> None:
        if self.pause_type in ("queue", "timed"):
            self.ticker.start(self.rate_ms / 1000)

    def on_input(self, msg: Message, send: Send, done: Done) -> None:
        if self.pause_type in ("delay", "delayv", "random"):
            self._delay(msg, send, done)
        elif self.pause_type == "rate":
            self._rate(msg, send, done)
        elif self.pause_type in ("queue", "timed"):
            self._per_topic(msg, send, done)
        else:
            done(f"unknown pauseType {self.pause_type!r}")

    async def on_close(self) -> None:
        self.ticker.stop()
        for timed in self.waiting:
            timed.clear()
        self.waiting = []
        self._clear()

    # fixed, variable and random delays
    def _delay(self, msg: Message, send: Send, done: Done) -> None:
        wait = self.timeout_ms
        if self.pause_type == "delayv" and "delay" in msg:
            asked = parse_float(msg["delay"])
            wait = wait if math.isnan(asked) else asked
        elif self.pause_type == "random":
            wait = self.random_first + (self.random_last - self.random_first) * random.random()
        timed = _Timed(self, Held(msg, send, done), wait)
        if len(msg) == 2 and "flush" in msg:
            timed.clear()  # a bare flush is not itself delayed
        else:
            self.waiting.append(timed)
        if "reset" in msg:
            for entry in self.waiting:
                entry.clear()
            self.waiting = []
            self.status("blue", "ring", "0")
        if "flush" in msg and ("reset" not in msg or self.pause_type != "delay"):
            for _ in range(_how_many(msg["flush"], len(self.waiting))):
                self.waiting[0].fire()
            self.status("blue", "dot", str(len(self.waiting)))
            done()

    # rate limit for all messages
    def _new_rate(self, msg: Message) -> bool:
        if self.allow_rate and "rate" in msg:
            asked = parse_float(msg["rate"])
            if not math.isnan(asked) and asked != self.rate_ms:
                self.rate_ms = asked
                return True
        return False

    def _flush(self, flush: Any, keys: int) -> int:
        """Sends up to msg.flush buffered messages now (those with more than `keys`
        properties once flush and reset are taken off); how many it took."""
        count = _how_many(flush, len(self.buffer))
        for held in self.buffer[:count]:
            held.msg.pop("flush", None)
            held.msg.pop("reset", None)
            if len(held.msg) > keys:
                self.send(held.msg)
            held.done()
        del self.buffer[:count]
        return count

    def _send_one(self) -> None:
        if not self.buffer:
            self.ticker.stop()
        else:
            held = self.buffer.pop(0)
            if len(held.msg) > 1:
                held.send(held.msg)
            held.done()
        self._report_depth()

    def _rate(self, msg: Message, send: Send, done: Done) -> None:
        if not self.drop:
            m = clone_message(msg)
            m.pop("flush", None)
            if len(m) > 1:
                if self.ticker.running:
                    if self._new_rate(m):
                        self.ticker.start(self.rate_ms / 1000)
                    held = Held(m, send, done)
                    if msg.get("toFront") is True:
                        self.buffer.insert(0, held)
                    else:
                        self.buffer.append(held)
                    self._report_depth()
                else:
                    self._new_rate(m)
                    if "reset" not in msg:
                        send(m)
                    elif "flush" in msg:
                        self.buffer.append(Held(m, send, done))
                    self._report_depth()
                    self.ticker.start(self.rate_ms / 1000)
                    done()
            if "flush" in msg:
                if self._flush(msg["flush"], 1):
                    self.ticker.start(self.rate_ms / 1000)
                else:
                    self.ticker.stop()
                self.status("blue", "dot", str(len(self.buffer)))
                done()
        elif "reset" not in msg:
            self._new_rate(msg)
            now = asyncio.get_running_loop().time()
            if self.last_sent is None or (now - self.last_sent) * 1000 > self.rate_ms:
                self.last_sent = now
                send(msg)
            elif self.outputs == 2:
                send([None, msg])
            done()
        if "reset" in msg:
            if "flush" not in msg:
                self.ticker.stop()
                self.last_sent = None
            self._clear()
            self.status("blue", "ring", "0")
            done()

    # per-topic queues: `queue` sends one topic per interval, `timed` all of them
    def _per_topic_tick(self) -> None:
        while self.buffer:
            held = self.buffer.pop(0)
            held.send(held.msg)
            held.done()
            if self.pause_type == "queue":
                break
        self._report_depth()

    def _per_topic(self, msg: Message, send: Send, done: Done) -> None:
        if self._new_rate(msg):
            self.ticker.start(self.rate_ms / 1000)
        if "topic" not in msg:
            msg["topic"] = "_none_"
        for i, held in enumerate(self.buffer):
            if strict_equal(held.msg.get("topic"), msg["topic"]):
                if self.outputs == 2:
                    send([None, held.msg])
                held.done()
                self.buffer[i] = Held(msg, send, done)
                break
        else:
            self.buffer.append(Held(msg, send, done))
            self._report_depth()
        if "flush" in msg:
            self._flush(msg["flush"], 2)
            self.status()
            done()
        if "reset" in msg:
            self._clear()
            self.status(text="reset")
            done()

    def _clear(self) -> None:
        for held in self.buffer:
            held.done()
        self.buffer = []
        self.rate_ms = self.fixed_rate

    def _report_depth(self) -> None:
        self.status("blue", "dot", str(len(self.buffer)))


# -- trigger ----------------------------------------------------------------------------------
_MUSTACHE = re.compile(r"\{\{(\{?)\s*([^{}]+?)\s*\}?\}\}")
_TRIGGER_UNITS = {"ms": 1, "s": 1000, "min": 60_000, "hr": 3_600_000}


def render_mustache(template: str, msg: Message) -> str:
    """A small Mustache: {{a.b}} is HTML-escaped, {{{a.b}}} is not."""

    def value(match: re.Match[str]) -> str:
        found = get_path(msg, match.group(2))
        text = "" if found is None else js_string(found)
        return text if match.group(1) else html.escape(text)

    return _MUSTACHE.sub(value, template)


@dataclass
class _Armed:
    """A trigger's state for one topic: its timer, blocked (duration 0), the 2nd value."""

    handle: asyncio.TimerHandle | Ticker | None = None
    blocked: bool = False
    m2: Any = None

    def cancel(self) -> None:
        if isinstance(self.handle, Ticker):
            self.handle.stop()
        elif self.handle is not None:
            self.handle.cancel()
        self.handle = None


@register("trigger")
class Trigger(Node):
    """Sends `op1` at once, then `op2` after `duration` `units` unless reset (msg.reset or a
    payload equal to `reset`); further messages meanwhile are blocked or, with `extend`,
    restart the wait. Duration 0 waits for a reset; a negative one resends op1 in a loop."""

    def __init__(self, config: dict[str, Any], runtime: Any) -> None:
        super().__init__(config, runtime)
        cfg = config
        self.bytopic = str(cfg.get("bytopic") or "all")
        self.topic_prop = str(cfg.get("topic") or "topic")
        self.op1, self.op1type = self._op(cfg.get("op1") or "1", cfg.get("op1type") or "str", "1")
        self.op2, self.op2type = self._op(cfg.get("op2") or "0", cfg.get("op2type") or "str", "0")
        self.second = str(cfg.get("outputs")) == "2"
        self.extend = cfg.get("extend") in (True, "true")
        self.override_delay = cfg.get("overrideDelay") in (True, "true")
        self.reset_value = str(cfg.get("reset") or "")
        duration = parse_float(cfg.get("duration"))
        duration = 250 if math.isnan(duration) else duration
        self.loop = duration < 0
        if self.loop:
            self.extend = False
        self.duration_ms = abs(duration) * _TRIGGER_UNITS.get(str(cfg.get("units") or "ms"), 1)
        self.topics: dict[str, _Armed] = {}
        self.latest: dict[str, Message] = {}

    @staticmethod
    def _op(value: Any, kind: str, default: str) -> tuple[Any, str]:
        if kind == "date" and value == default:
            value = ""
        if kind == "val":
            if value in ("true", "false"):
                kind = "bool"
            elif value == "null":
                kind, value = "null", None
            else:
                kind = "str"
        return value, kind

    def _value(self, value: Any, kind: str, msg: Message) -> Any:
        if kind == "null":
            return None
        if kind == "str" and "{{" in str(value):
            return render_mustache(str(value), msg)
        return evaluate(value, kind, self, msg)

    def _is_reset(self, msg: Message) -> bool:
        if "reset" in msg:
            return True
        payload = msg.get("payload")
        return bool(self.reset_value) and payload is not None \
            and js_string(payload) == self.reset_value

    def _stat(self) -> None:
        count = len(self.topics)
        if count == 0:
            self.status()
        else:
            self.status("blue", "dot", str(count) if count > 1 else None)

    def _out(self, send: Send, msg: Message | None) -> None:
        if msg is not None:
            send([None, msg] if self.second else msg)

    def on_input(self, msg: Message, send: Send, done: Done) -> None:
        found = get_path(msg, self.topic_prop) if self.bytopic != "all" else None
        topic = js_string(found) if found not in (None, "", 0, False) else "_none"
        wait = self.duration_ms
        if self.override_delay and "delay" in msg:
            asked = parse_float(msg["delay"])
            wait = wait if math.isnan(asked) else asked
        state = self.topics.setdefault(topic, _Armed())
        if self._is_reset(msg):
            state.cancel()
            del self.topics[topic]
            self._stat()
            done()
            return
        if self.op2type == "payl":
            self.latest[topic] = clone_message(msg)
        if (state.handle is None and not state.blocked) or self.loop:
            try:
                if self.op2type == "pay":
                    state.m2 = copy.deepcopy(msg.get("payload"))
                elif self.op2type not in ("nul", "payl"):
                    state.m2 = self._value(self.op2, self.op2type, msg)
                if self.op1type not in ("pay", "nul"):
                    msg["payload"] = self._value(self.op1, self.op1type, msg)
            except ValueError_ as exc:
                done(str(exc))
                return
            if wait == 0:
                state.blocked = True
            elif self.loop:
                state.cancel()
                if self.op1type != "nul":
                    state.handle = self._repeat(clone_message(msg), send, wait)
            else:
                state.handle = asyncio.get_running_loop().call_later(
                    wait / 1000, self._expire, topic, state, msg, send)
            done()
            self._stat()
            if self.op1type != "nul":
                send(clone_message(msg))
            return
        if self.extend and wait > 0:
            if self.op2type == "payl":
                state.m2 = copy.deepcopy(msg.get("payload"))
            state.cancel()
            state.handle = asyncio.get_running_loop().call_later(
                wait / 1000, self._expire, topic, state, msg, send, True)
        done()

    def _repeat(self, msg: Message, send: Send, wait_ms: float) -> Ticker:
        def again() -> None:
            if self.op1type == "date":
                msg["payload"] = evaluate("", "date", self, msg)
            send(clone_message(msg))

        ticker = Ticker(again)
        ticker.start(wait_ms / 1000)
        return ticker

    def _second_value(self, state: _Armed, msg: Message, kinds: tuple[str, ...]) -> bool:
        if self.op2type in kinds:
            try:
                state.m2 = self._value(self.op2, self.op2type, msg)
            except ValueError_ as exc:
                self.error(str(exc), msg)
                return False
        return True

    def _expire(self, topic: str, state: _Armed, msg: Message, send: Send,
                extended: bool = False) -> None:
        """The wait is over: send op2 (on a message like the first one, or like the last
        one when the wait was extended)."""
        if self.topics.get(topic) is not state:
            return
        state.handle = None
        out: Message | None = None
        if self.op2type != "nul":
            if not self._second_value(state, msg, ("flow", "global") if extended
                                      else ("flow", "global", "date")):
                return
            if self.op2type == "payl" and not extended:
                out = self.latest.pop(topic, None)
            else:
                out = clone_message(msg)
                out["payload"] = state.m2
        del self.topics[topic]
        self._stat()
        self._out(send, out)

    async def on_close(self) -> None:
        for state in self.topics.values():
            state.cancel()
        self.topics.clear()


# -- filter (rbe) -----------------------------------------------------------------------------
_OBJECT = (dict, list, bytes, bytearray, type(None))


@register("rbe")
class Rbe(Node):
    """Report by exception: passes a message only when its `property` changed (`rbe`,
    `rbei` ignoring the first), moved by more than `gap` (`deadband`, `deadbandEq`: at
    least) or by less (`narrowband`, `narrowbandEq`), against the last input or output
    (`inout`). With `septopics` each `topi` value has its own history."""

    def __init__(self, config: dict[str, Any], runtime: Any) -> None:
        super().__init__(config, runtime)
        cfg = config
        self.func = str(cfg.get("func") or "rbe")
        gap = str(cfg.get("gap") or "0")
        self.percent = gap.endswith("%")
        self.g = parse_float(gap) if self.percent else to_number(gap)
        self.start = str(cfg.get("start") or "")
        self.inout = str(cfg.get("inout") or "out")
        self.property = str(cfg.get("property") or "payload")
        self.topi = str(cfg.get("topi") or "topic")
        self.septopics = cfg.get("septopics") is not False
        self.previous: dict[str, Any] = {}

    def on_input(self, msg: Message, send: Send, done: Done) -> None:
        topic = get_path(msg, self.topi)
        if "reset" in msg:
            if self.septopics and isinstance(topic, str) and topic:
                self.previous.pop(topic, None)
            else:
                self.previous = {}
        found, value = lookup(msg, self.property)
        if not found:
            done()
            return
        key = js_string(topic) if self.septopics and topic not in (None, "", 0, False) \
            else "_no_topic"
        if self.func in ("rbe", "rbei"):
            self._changed(key, value, msg, send)
        else:
            self._band(key, value, msg, send)
        done()

    def _changed(self, key: str, value: Any, msg: Message, send: Send) -> None:
        send_it = self.func != "rbei" or key in self.previous
        if isinstance(value, _OBJECT) and not isinstance(self.previous.get(key, 0), _OBJECT):
            self.previous[key] = {}
        if key in self.previous and strict_equal(value, self.previous[key]):
            return
        self.previous[key] = copy.deepcopy(value)
        if send_it:
            send(msg)

    def _band(self, key: str, value: Any, msg: Message, send: Send) -> None:
        n = parse_float(value)
        if math.isnan(n):
            self.warn("no number found in payload")
            return
        func = self.func
        previous = self.previous.get(key)
        if previous is None and func in ("narrowband", "narrowbandEq"):
            previous = n if self.start == "" else to_number(self.start)
        if self.percent:
            gap = abs(previous * self.g / 100) if previous is not None else 0.0
            gap = 0.0 if math.isnan(gap) else gap
        else:
            gap = self.g
        if previous is None:
            previous = n - gap - 1
        self.previous[key] = previous
        diff = abs(n - previous)
        passes = (diff == gap and func in ("deadbandEq", "narrowband")) \
            or (diff > gap and func in ("deadband", "deadbandEq")) \
            or (diff < gap and func in ("narrowband", "narrowbandEq"))
        if passes:
            if self.inout == "out":
                self.previous[key] = n
            send(msg)
        if self.inout == "in":
            self.previous[key] = n
