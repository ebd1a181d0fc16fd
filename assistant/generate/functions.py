"""The one piece of a flow a small model writes: the body of a function node.

Everything else in a flow is decided by code. The model gets a short, fixed system prompt
(kept first and identical so llama.cpp reuses its KV cache), the request, what the message
looks like on the way in and what each output must carry. Its code is parsed by QuickJS,
run once on a sample message, and sent back with the error for one bounded repair round.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from assistant.generate.jsrun import run_function
from assistant.models.base import Message, Model
from flowschema.javascript import check_javascript

SYSTEM = """You write the body of a Node-RED function node in plain JavaScript (ES2020).
Rules: the input message is `msg`; set msg.payload and return msg, or return null to drop it.
With several outputs return an array with one entry per output (null = send nothing there).
Keep state between messages with context.get(name) / context.set(name, value).
Keep numbers as numbers: round with Math.round(x * 100) / 100 for 2 decimals, never toFixed.
Other nodes do all input and output (MQTT, files, HTTP, PLC, OPC UA): never write files or
open connections yourself. No require, no setTimeout, no console.
Answer with the code only, in ```javascript fences.

Example 1
Task: temperature is in tenths of a degree; publish degrees with 1 decimal.
Input: msg.payload is an array of 1 number read from the PLC: msg.payload[0] is the register
Output 1 (MQTT topic line1/temp): the temperature
```javascript
msg.payload = Math.round(msg.payload[0] / 10 * 10) / 10;
return msg;
```

Example 2
Task: orders arrive as json {order, qty, done}. publish {order, left} where left = qty - done;
when left is below 5 also send LOW on the alarm topic. throw on a bad order.
Input: msg.payload is a parsed JSON object like {"order": "A1", "qty": 10, "done": 2}
Output 1 (MQTT topic orders/left): the order with what is left
Output 2 (MQTT topic orders/alarm): the alarm text
```javascript
const o = msg.payload;
if (!o || typeof o.qty !== "number" || typeof o.done !== "number") {
    throw new Error("bad order: " + JSON.stringify(o));
}
const left = o.qty - o.done;
msg.payload = { order: o.order, left: left };
return [msg, left < 5 ? { payload: "LOW" } : null];
```
"""

FENCE = re.compile(r"```(?:javascript|js)?\s*\n(.*?)(?:```|$)", re.DOTALL)


@dataclass
class FunctionSpec:
    """What the function must do, in the terms the prompt uses."""

    task: str  # the user's request, or the part of it this node implements
    input: str  # what msg looks like on arrival
    outputs: list[str]  # what each output carries
    sample: dict[str, Any] = field(default_factory=lambda: {"payload": 1})
    hints: list[str] = field(default_factory=list)  # facts code worked out (hints.py)
    role: str = "main"  # "main" does the work; "errors" reports caught errors only
    # What arrives (plc, opc, value, json, http, timer, latest, file, fetch, error, ...) and
    # the node type behind each output: what the deterministic recipes work from.
    source: str = ""
    sink_types: list[str] = field(default_factory=list)
    # (incoming wildcard topic, outgoing topic with <...> parts) when each message's topic
    # decides where it goes ("plant/vib/+/raw" -> "plant/vib/<asset>/rms")
    topic_map: tuple[str, str] | None = None


@dataclass
class WrittenFunction:
    code: str
    attempts: int
    problems: list[str]  # what went wrong on the way (shown with --verbose)
    ok: bool
    tokens: int = 0


def _prompt(spec: FunctionSpec) -> list[Message]:
    lines = [f"Task: {spec.task}", f"Input: {spec.input}"]
    lines += [f"Output {i} {text}" for i, text in enumerate(spec.outputs, 1)]
    lines += [f"Fact: {hint}" for hint in spec.hints]
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n".join(lines)}]


def extract_code(text: str) -> str:
    match = FENCE.search(text)
    code = match.group(1) if match else text
    return code.strip()


def check_code(code: str, spec: FunctionSpec) -> str | None:
    """None when the code parses and runs on the sample; else what is wrong."""
    if not code:
        return "the answer held no code"
    problem = check_javascript(code)
    if problem is not None:
        where = f" (line {problem.line})" if problem.line else ""
        return f"syntax error{where}: {problem.message}"
    if "return" not in code:
        return "the code never returns a message"
    if len(spec.outputs) > 1 and re.search(r"\breturn\s+msg\s*;", code):
        return (f"the node has {len(spec.outputs)} outputs, so every return must be an array "
                f"of {len(spec.outputs)} entries (or null), e.g. return [msg, null]")
    run = run_function(code, spec.sample, len(spec.outputs))
    if not run.ok and "throw" in code and (run.error or "").startswith("Error:"):
        # The code refused the sample on purpose: the sample is only a guess at the input.
        return None
    if not run.ok:
        return f"running it on {spec.sample!r} failed: {run.error}"
    return None


def write_function(
    model: Model,
    spec: FunctionSpec,
    *,
    repairs: int = 1,
    max_tokens: int = 320,
    on_token: Callable[[str], None] | None = None,
    on_repair: Callable[[str], None] | None = None,
) -> WrittenFunction:
    """Ask the model for the code; repair at most `repairs` times with the error shown."""
    messages = _prompt(spec)
    problems: list[str] = []
    tokens = 0
    code = ""
    for attempt in range(1, repairs + 2):
        answer = model.complete(messages, max_tokens=max_tokens, stop=["```\n\n", "\nExample"],
                                on_token=on_token)
        tokens += answer.completion_tokens
        code = extract_code(answer.text)
        problem = check_code(code, spec)
        if problem is None:
            return WrittenFunction(code, attempt, problems, True, tokens)
        problems.append(problem)
        if attempt > repairs:
            break
        if on_repair is not None:
            on_repair(problem)
        messages = [
            *messages,
            {"role": "assistant", "content": answer.text},
            {"role": "user", "content": f"That code is wrong: {problem}. Write the corrected "
             "code only, inside ```javascript fences."},
        ]
    return WrittenFunction(code, repairs + 1, problems, False, tokens)
