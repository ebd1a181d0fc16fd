"""Run a function node's body once in QuickJS against a sample message.

A generated function that parses can still throw on the first message (a typo'd property,
`msg.payload.value` on a number). Running it once on a sample built from the request catches
that before the user does. The sandbox offers what Node-RED gives a function - `node`,
`context`, `flow`, `global`, `env` - backed by plain objects, with a time and memory limit.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

import quickjs

_PRELUDE = """
function __store() { const d = {}; return {
  get: (k) => d[k], set: (k, v) => { d[k] = v; }, keys: () => Object.keys(d) }; }
var context = __store(), flow = __store(), global = __store();
var __log = [];
var node = { warn: (m) => __log.push(['warn', String(m)]),
  log: (m) => __log.push(['log', String(m)]),
  error: (m) => { __log.push(['error', String(m)]); }, status: () => {}, send: () => {},
  done: () => {}, id: 'sample', name: 'sample' };
var env = { get: () => undefined };
var RED = { util: { cloneMessage: (m) => JSON.parse(JSON.stringify(m)) } };
"""

_lock = threading.Lock()  # one QuickJS context must never be used by two threads at once


@dataclass(frozen=True)
class SampleRun:
    ok: bool
    outputs: list[Any] | None  # one entry per output: a message, list of messages or null
    error: str | None


def run_function(body: str, msg: dict[str, Any], outputs: int = 1) -> SampleRun:
    """Call the body as Node-RED would (`msg` in, messages out) and report what came out."""
    return run_messages(body, [msg], outputs)[0]


def run_messages(body: str, msgs: list[dict[str, Any]], outputs: int = 1) -> list[SampleRun]:
    """Call the body once per message, in order, in one sandbox: `context` keeps what the
    code stored between calls, as a node's context does. Stops at the first failure."""
    script = (
        _PRELUDE
        + "function __fn(msg) {\n"
        + body
        + "\n}\n"
        + "function __call(raw) { const r = __fn(JSON.parse(raw));"
        + " return JSON.stringify(r === undefined ? '__undefined__' : r); }"
    )
    runs: list[SampleRun] = []
    with _lock:
        context = quickjs.Context()
        context.set_time_limit(1)
        context.set_memory_limit(32 * 1024 * 1024)
        try:
            context.eval(script)
        except quickjs.JSException as exc:
            return [SampleRun(False, None, str(exc).splitlines()[0][:300])]
        call = context.get("__call")
        for msg in msgs:
            try:
                raw = call(json.dumps(msg))
            except quickjs.JSException as exc:
                runs.append(SampleRun(False, None, str(exc).splitlines()[0][:300]))
                break
            except Exception as exc:  # a time or memory limit, or an odd return value
                runs.append(SampleRun(False, None, f"{type(exc).__name__}: {exc}"[:300]))
                break
            runs.append(_result(raw, outputs))
            if not runs[-1].ok:
                break
    return runs


def _result(raw: Any, outputs: int) -> SampleRun:
    result = json.loads(raw) if isinstance(raw, str) else None
    if result == "__undefined__":
        return SampleRun(False, None, "the function returned nothing (add `return msg;`)")
    if result is None:  # null: nothing sent, a valid answer to any message
        return SampleRun(True, [None] * outputs, None)
    if outputs == 1:
        results = [result]
    elif isinstance(result, list):
        results = list(result) + [None] * (outputs - len(result))
    else:
        return SampleRun(False, None, f"the node has {outputs} outputs: return an array of "
                         f"{outputs} messages (null where nothing is sent)")
    for entry in results:
        for message in entry if isinstance(entry, list) else [entry]:
            if message is not None and not isinstance(message, dict):
                return SampleRun(False, None, f"it returned {json.dumps(message)[:60]}, not a "
                                 "message: set msg.payload and return msg")
    return SampleRun(True, results, None)
