"""Facts code can work out for the function writer, stated as plain lines in its prompt.

A 0.5-1.5B model forgets that "x10" means divide by ten, that "40015" is the first element
of the array, or what a degree Fahrenheit is. Those facts are cheap to compute here and
expensive for the model to get wrong, so the prompt carries them as short hints.
"""

from __future__ import annotations

import re

from assistant.extract import Extracted
from assistant.generate.conversions import fact_for

_MA_RANGE = re.compile(
    r"4\s*-\s*20\s*m?a\s*=\s*(-?\d+(?:\.\d+)?)\s*(?:-|to|\.\.)\s*(-?\d+(?:\.\d+)?)", re.I)
_STATEFUL = re.compile(
    r"previous|last value|since|delta|differen|count\w*|changes?\b|total|running|mean|average|"
    r"window|latest values?|both", re.I)
_OPS = {"gt": ">", "ge": ">=", "lt": "<", "le": "<=", "eq": "=="}


def function_hints(found: Extracted, arrival: str) -> list[str]:
    """Short facts for the prompt; empty when there is nothing to add."""
    hints: list[str] = []
    from_plc = arrival.startswith("msg.payload is an array")
    if from_plc:
        offset = 0
        for reg in found.registers:
            if reg.access == "write":
                continue
            span = reg.words
            where = (f"msg.payload[{offset}]" if span == 1
                     else f"msg.payload[{offset}]..msg.payload[{offset + span - 1}]")
            line = f"{reg.text.strip()} is {where}"
            if reg.data_type in ("uint32", "int32") and span >= 2:
                hi, lo = (offset, offset + 1) if reg.word_order != "low_first" else (
                    offset + 1, offset)
                line += (f"; it is a 32-bit integer: value = msg.payload[{hi}] * 65536 + "
                         f"msg.payload[{lo}]")
            for scale in reg.scales:
                if scale.factor is not None and scale.factor != 1:
                    line += f"; engineering value = raw * {scale.factor:g}"
                    if scale.unit:
                        line += f" {scale.unit}"
            hints.append(line)
            offset += span
    fact = fact_for(found.request)
    if fact is not None:
        hints.append(fact)
    ma = _MA_RANGE.search(found.request)
    if ma:
        low, high = float(ma.group(1)), float(ma.group(2))
        hints.append(f"4-20 mA scaling: value = (mA - 4) / 16 * {high - low:g} + {low:g}")
    if found.decimals:
        places = found.decimals[0].places
        hints.append(f"round the result to {places} decimals: Math.round(v * {10 ** places})"
                     f" / {10 ** places}")
    for threshold in found.thresholds:
        if threshold.op in _OPS:
            hints.append(f"condition: value {_OPS[threshold.op]} {threshold.value:g}")
        elif threshold.op == "range" and threshold.high is not None:
            hints.append(f"allowed range: {threshold.value:g} <= value <= {threshold.high:g}")
    for literal in found.literals:
        hints.append(f"exact text to send: \"{literal.value}\"")
    if _STATEFUL.search(found.request):
        hints.append("keep what must be remembered between messages in context.get/set")
    return hints
