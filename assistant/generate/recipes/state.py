"""Recipes that keep state between messages or work on bits: a 32-bit value split into
two words, the change since the previous reading, a status word to one state text, the
mean of the latest values per topic, counting starts, and coil states as true/false.
"""

from __future__ import annotations

import json
import re

from assistant.extract import Extracted
from assistant.generate.functions import FunctionSpec
from assistant.generate.recipes.common import _number_guard, _output_shape, _round
from assistant.generate.understanding import Understanding

# -- common stateful and bit-level patterns ------------------------------------------

def _split_words(spec: FunctionSpec, found: Extracted, u: Understanding) -> str | None:
    """A 32-bit number written to two registers: split it into words in the stated order."""
    writes = [r for r in found.registers if r.access == "write"]
    if spec.sink_types != ["modbus-write"] or len(writes) != 1 or spec.source != "value":
        return None
    reg = writes[0]
    if reg.data_type not in ("uint32", "int32") or reg.words != 2:
        return None
    words = "[hi, lo]" if reg.word_order != "low_first" else "[lo, hi]"
    low = 0 if reg.data_type == "uint32" else -2147483648
    high = 4294967295 if reg.data_type == "uint32" else 2147483647
    return (_number_guard(False) + "\n"
            f"if (!Number.isInteger(v) || v < {low} || v > {high}) throw new Error("
            f'"not a {reg.data_type}: " + v);\n'
            "const u32 = v < 0 ? v + 4294967296 : v;\n"
            "const hi = Math.floor(u32 / 65536);\nconst lo = u32 % 65536;\n"
            f"msg.payload = {words};\nreturn msg;")


_DELTA = re.compile(r"\b(?:delta|since the (?:previous|last)|difference (?:to|from|against) "
                    r"the (?:previous|last)|consumption since|increase since)\b", re.IGNORECASE)
_LOGIC_BUT_DELTA = re.compile(r"\bif\b|\bunless\b|\bmean\b|\baverage\b|\bbits?\b|"
                              r"\bcount(?:ing|ed)?\b|\bwindow\b|\bformat\w*", re.IGNORECASE)


def _delta(spec: FunctionSpec, found: Extracted, u: Understanding) -> str | None:
    """A running total to the change since the previous reading; the first is skipped."""
    text = u.residual or u.request
    if spec.source != "value" or not _DELTA.search(text) or _LOGIC_BUT_DELTA.search(text):
        return None
    places = found.decimals[0].places if found.decimals else None
    # Without stated decimals, round off float noise only (10500.5 - 10490.2).
    change = _round("v - last", 6 if places is None else places)
    return (_number_guard(False) + "\n"
            'const last = context.get("last");\ncontext.set("last", v);\n'
            "if (last === undefined) return null;  // nothing to compare the first with\n"
            f"msg.payload = {change};\nreturn msg;")


_BIT = re.compile(r"\bbit\s*(?P<bit>\d{1,2})\s*(?:=|:|is|means)\s*(?P<name>[A-Za-z_][\w ]{0,20}?)"
                  r"(?=\s*(?:,|\.|;|\)|\(|$|\band\b))", re.IGNORECASE)
_WINS = re.compile(r"\b(?P<a>\w+)\s+(?:wins|has priority|takes priority|overrides)\s+"
                   r"(?:over\s+)?(?P<b>\w+)", re.IGNORECASE)


def _bits_to_state(spec: FunctionSpec, found: Extracted, u: Understanding) -> str | None:
    """A status word to one state text: "bit 3 = running, bit 5 = fault ... publish
    RUNNING / STOPPED / FAULT". The states are tested in priority order; the text left
    over (no bit of its own) is the default."""
    if spec.source != "plc" or len(found.registers) != 1:
        return None
    bits = [(int(m.group("bit")), m.group("name").strip().lower())
            for m in _BIT.finditer(found.request) if int(m.group("bit")) < 16]
    bits = [(b, n) for b, n in bits if n not in ("lsb", "msb")]
    states = [lit.value for lit in found.literals if not lit.example]
    if len(bits) < 1 or len(states) != len(bits) + 1:
        return None
    by_name: dict[str, str] = {}
    for state in states:
        for _, name in bits:
            if state.lower().startswith(name[:4]) or name.startswith(state.lower()[:4]):
                by_name[name] = state
    default = [st for st in states if st not in by_name.values()]
    if len(by_name) != len(bits) or len(default) != 1:
        return None
    order = [name for _, name in bits]
    wins = _WINS.search(found.request)
    if wins and wins.group("a").lower() in order and wins.group("b").lower() in order:
        order.remove(wins.group("a").lower())
        order.insert(0, wins.group("a").lower())
    else:
        order.reverse()  # without a stated priority, the higher bit (often a fault) wins
    bit_of = {name: bit for bit, name in bits}
    lines = ["const word = Array.isArray(msg.payload) ? msg.payload[0] : msg.payload;",
             'if (typeof word !== "number") throw new Error("expected the status word, got "'
             " + JSON.stringify(msg.payload));"]
    for i, name in enumerate(order):
        keyword = "if" if i == 0 else "else if"
        lines.append(f"{keyword} (word & (1 << {bit_of[name]})) msg.payload = "
                     f"{json.dumps(by_name[name])};")
    lines.append(f"else msg.payload = {json.dumps(default[0])};")
    lines.append("return msg;")
    return "\n".join(lines)


# -- more state: the mean of several sources, counting starts ---------------------------

_MEAN = re.compile(r"\b(?:mean|average|avg)\b", re.IGNORECASE)
_STARTS = re.compile(r"\b(?:count|number of)\b.{0,40}?\b(?:starts?|rising edges?|switch-?ons?|"
                     r"times? (?:it|the \w+) (?:starts|turns on|goes true))\b", re.I | re.S)


def _mean_of_latest(spec: FunctionSpec, found: Extracted, u: Understanding) -> str | None:
    """"the mean of their latest values every time one of them updates": one value per
    topic kept in context, the mean of those known so far sent on each update."""
    text = u.residual or u.request
    if spec.source != "value" or len(u.topics_in) < 2 or not _MEAN.search(text) \
            or len(spec.outputs) != 1 or re.search(r"\bwindow|\blast \d+|\bper (?:min|hour)",
                                                   text, re.I):
        return None
    places = found.decimals[0].places if found.decimals else 6
    return (_number_guard(False) + "\n"
            'const latest = context.get("latest") || {};\nlatest[msg.topic] = v;\n'
            'context.set("latest", latest);\nconst values = Object.values(latest);\n'
            f"msg.payload = {_round('values.reduce((a, b) => a + b, 0) / values.length', places)};"
            "\nreturn msg;")


def _count_starts(spec: FunctionSpec, found: Extracted, u: Understanding) -> str | None:
    """Starts counted on a true/false signal that repeats itself: only false -> true counts."""
    if spec.source != "value" or len(spec.outputs) != 1 or not _STARTS.search(found.request) \
            or not isinstance(spec.sample.get("payload"), bool):
        return None
    return ('const on = msg.payload === true || msg.payload === 1 || '
            'String(msg.payload).toLowerCase() === "true";\n'
            'const was = context.get("was_on");\ncontext.set("was_on", on);\n'
            "if (!on || was === true) return null;  // not a start: off, or still running\n"
            'const starts = (context.get("starts") || 0) + 1;\ncontext.set("starts", starts);\n'
            "msg.payload = starts;\nreturn msg;")


def _coil_states(spec: FunctionSpec, found: Extracted, u: Understanding) -> str | None:
    """Coils or discrete inputs as true/false: the read pads them to whole bytes, so keep
    only the ones asked for."""
    reads = [r for r in found.registers if r.access != "write"]
    if spec.source != "plc" or len(spec.outputs) != 1 or not reads \
            or any(r.kind not in ("coil", "discrete") for r in reads) \
            or found.thresholds or found.literals or _output_shape(found) is not None:
        return None
    count = sum(r.count for r in reads)
    value = f"raw.slice(0, {count}).map(Boolean)" if count > 1 else "Boolean(raw[0])"
    return ("const raw = msg.payload;\n"
            'if (!Array.isArray(raw)) throw new Error("expected the states as an array, got " '
            "+ JSON.stringify(raw));\n"
            f"msg.payload = {value};\nreturn msg;")


_ADDED = re.compile(r"\bwith\s+(?P<pairs>\"\w+\"\s*:\s*(?:\"[^\"]*\"|-?\d+(?:\.\d+)?|true|false)"
                    r"(?:\s*,\s*\"\w+\"\s*:\s*(?:\"[^\"]*\"|-?\d+(?:\.\d+)?|true|false))*)\s+"
                    r"(?:added|included|in it|on top)", re.IGNORECASE)
_STAMPED_PAIRS = re.compile(r"\b(?:timestamp|time|ts)(?P<sep>[;,|\t])\w+=", re.IGNORECASE)


def _send_latest(spec: FunctionSpec, found: Extracted, u: Understanding) -> str | None:
    """A schedule sends what arrived last: the newest message (with stated fields added),
    or one line with the latest value per device ("timestamp;t1=55.2;t2=71.5")."""
    if spec.source != "latest" or len(spec.outputs) != 1:
        return None
    pairs = _STAMPED_PAIRS.search(found.request)
    if pairs and len(u.topics_in) == 1 and u.topics_in[0].count("+") == 1:
        level = u.topics_in[0].split("/").index("+")
        sep = json.dumps(pairs.group("sep"))
        return ('const latest = flow.get("latest_by_topic");\n'
                "if (!latest || Object.keys(latest).length === 0) return null;  // nothing yet\n"
                "const cells = Object.keys(latest).sort().map((topic) => "
                f'topic.split("/")[{level}] + "=" + latest[topic]);\n'
                f"msg.payload = [new Date().toISOString(), ...cells].join({sep});\nreturn msg;")
    if len(u.topics_in) != 1:
        return None
    added = _ADDED.search(found.request)
    extra = ""
    if added:
        try:
            fields = json.loads("{" + added.group("pairs") + "}")
        except ValueError:
            return None
        extra = f"\nmsg.payload = Object.assign({{}}, msg.payload, {json.dumps(fields)});"
    elif not re.search(r"\b(?:newest|latest|last)\b", found.request, re.IGNORECASE):
        return None
    return ('const latest = flow.get("latest");\n'
            "if (latest === undefined) return null;  // nothing received yet\n"
            f"msg.payload = RED.util.cloneMessage({{ v: latest }}).v;{extra}\nreturn msg;")
