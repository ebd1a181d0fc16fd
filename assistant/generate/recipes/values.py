"""The value pipeline: take a value (registers, a JSON field, a number or a number in
text), scale, convert and round it, and wrap it in the stated shape - optionally with a
second output for one alarm limit. Also a JSON pass-through that may arrive broken and
true/false turned into two stated words.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from assistant.extract import Extracted
from assistant.extract.model import Register
from assistant.generate.functions import FunctionSpec
from assistant.generate.recipes.common import (
    _ERROR_SENTENCE,
    _NUMBER,
    _PARSE_TEXT,
    _conversion,
    _factor_expr,
    _fill_template,
    _filters,
    _named_field,
    _number_guard,
    _output_shape,
    _round,
    _Value,
)
from assistant.generate.understanding import Understanding

_RAW_SCALE = re.compile(r"\braw\b[^.]{0,40}?\b[a-z°%]+\s*[*x×]\s*(?P<mul>10+)\b", re.IGNORECASE)
_FIELD_PICK = re.compile(
    r"\bonly\s+(?:need|want)\s+(?:the\s+)?[\"']?(?P<field>[A-Za-z_]\w*)", re.IGNORECASE)
_FORMULA = re.compile(
    r"\b(?P<name>[A-Za-z_]\w*)\s*=\s*(?P<expr>[A-Za-z_0-9.\s*/+\-()]+?)"
    r"(?=\s*(?:->|,|;|\.\s|\.$|$|\bin\b|\band\b|\bthen\b|\bpublish))")


@dataclass
class _Alarm:
    index: int  # the output that carries the alarm
    op: str  # JavaScript comparison
    limit: float
    text: str | None  # the alarm's fixed text; None sends the value itself


_CONDITION_CLAUSE = re.compile(
    r"\b(?:and\s+|but\s+)?(?:when(?:ever)?|if|once)\b[^,.;]*", re.IGNORECASE)
_ALARM_SINK = re.compile(r"alarm|alert|warn|high|low|trip|limit|fault|notif", re.IGNORECASE)
_JS_OPS = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}


def _alarm_output(spec: FunctionSpec, found: Extracted) -> _Alarm | None:
    """The second output as an alarm: one limit, one topic that reads as an alarm, and at
    most one fixed text ("when it's above 65 % send HIGH to dryer/d1/alarm")."""
    limits = [t for t in found.thresholds if t.op in _JS_OPS and t.kind == "limit"]
    if len(limits) != 1 or spec.sink_types != ["mqtt out", "mqtt out"]:
        return None
    alarming = [i for i, text in enumerate(spec.outputs) if _ALARM_SINK.search(text)]
    if len(alarming) != 1:
        return None
    texts = [lit.value for lit in found.literals if not lit.example]
    if len(texts) > 1:
        return None
    return _Alarm(alarming[0], _JS_OPS[limits[0].op], limits[0].value,
                  texts[0] if texts else None)


# -- the value pipeline ----------------------------------------------------------------

def _value_pipeline(spec: FunctionSpec, found: Extracted, u: Understanding,
                    text: str, *, plain_ok: bool = False) -> str | None:
    lines: list[str] = []
    values: list[_Value] = []
    request = found.request
    if spec.source == "plc":
        values = _register_values(found)
        if not values:
            return None
        lines.append("const raw = msg.payload;")
        lines.append('if (!Array.isArray(raw)) throw new Error("expected the register values '
                     'as an array, got " + JSON.stringify(raw));')
    elif spec.source == "json":
        return _json_pipeline(found, u, text)
    elif spec.source == "timer":
        values = []
    elif isinstance(spec.sample.get("payload"), bool):
        return _bool_to_text(found)
    elif isinstance(spec.sample.get("payload"), str):
        return None
    elif _BROKEN_JSON.search(request):
        return _parse_json()
    else:
        parse_text = _PARSE_TEXT.search(request) is not None
        lines.append(_number_guard(parse_text))
        lines += [f"if ({cond}) return null;  // {why}" for cond, why in _filters(found, "v")]
        values = [_Value("v" if parse_text else "v ")]  # the space: "not changed yet"

    if len(values) == 1:
        scaled = _conversion(request, values[0].expr.strip())
        if scaled is None:
            return None
        values = [_Value(scaled if scaled != values[0].expr.strip() else values[0].expr)]
    decimals = found.decimals[0].places if found.decimals else None
    if decimals is not None:
        values = [_Value(_round(v.expr.strip(), decimals)) for v in values]

    shape = _output_shape(found)
    if shape is None:
        if len(values) != 1 or (values[0].expr in ("v ", "raw[0]") and not plain_ok):
            return None  # nothing to reshape that this recipe understands
        lines.append(f"msg.payload = {values[0].expr.strip()};")
    else:
        body = _fill_template(shape, [_Value(v.expr.strip()) for v in values], {})
        if body is None:
            return None
        lines.append(f"msg.payload = {body};")
    lines.append("return msg;")
    return "\n".join(lines)


_BROKEN_JSON = re.compile(
    r"\bjson\b.{0,80}\b(?:garbage|truncated|junk|broken|corrupt\w*|invalid|malformed)\b",
    re.IGNORECASE | re.DOTALL)


def _parse_json() -> str:
    """JSON that may arrive broken: parse it here so a bad frame throws (to the catch)."""
    return ('if (typeof msg.payload === "string") {\n'
            "    msg.payload = JSON.parse(msg.payload);\n}\n"
            'if (msg.payload === null || typeof msg.payload !== "object") {\n'
            '    throw new Error("not a JSON object: " + JSON.stringify(msg.payload));\n}\n'
            "return msg;")


def _register_values(found: Extracted) -> list[_Value]:
    reads = [r for r in found.registers if r.access != "write"]
    if not reads:
        return []
    values: list[_Value] = []
    offset = 0
    for reg in reads:
        factors = _entry_factors(found.request, reg)
        if reg.data_type in ("uint32", "int32") and reg.words >= 2:
            hi, lo = (offset, offset + 1) if reg.word_order != "low_first" else (
                offset + 1, offset)
            expr = f"(raw[{hi}] * 65536 + raw[{lo}])"
            if reg.data_type == "int32":
                expr = f"((raw[{hi}] << 16) | raw[{lo}])"
            values.append(_Value(_factor_expr(expr, factors[0])))
            offset += reg.words
            continue
        if reg.data_type not in (None, "uint16", "int16"):
            return []
        for i in range(reg.count):
            expr = f"raw[{offset + i}]"
            if reg.data_type == "int16":
                expr = f"(raw[{offset + i}] > 32767 ? raw[{offset + i}] - 65536 : " \
                       f"raw[{offset + i}])"
            values.append(_Value(_factor_expr(expr, factors[i])))
        offset += reg.count
    if reads[0].kind in ("coil", "discrete"):
        return [_Value(v.expr, numeric=False) for v in values]
    if len(values) == 1 and values[0].expr == "raw[0]":
        m = _RAW_SCALE.search(found.request)  # "raw value is bar*100", said apart
        if m:
            values = [_Value(f"raw[0] / {m.group('mul')}")]
    return values


def _entry_factors(request: str, reg: Register) -> list[float]:
    """One scale factor per register of `reg`: a block listed entry by entry ("= freq
    (0.01 Hz), current (0.1 A), voltage (V)") gets each its own; else the register's."""
    shared = next((s.factor for s in reg.scales if s.factor is not None), 1.0)
    count = max(reg.count, 1)
    tail = request[reg.end:]
    listed = re.match(r"\s*(?:=|:|are|is|hold\w*)\s*(.+?)(?:\.\s|\.$|;|$)", tail)
    if listed and count > 1:
        entries = [e for e in re.split(r",|\band\b", listed.group(1)) if e.strip()]
        if len(entries) >= count:
            factors = []
            for entry in entries[:count]:
                m = re.search(r"\((?P<f>0\.\d+)|[x×*]\s?(?P<mul>10+)\b", entry)
                if m and m.group("f"):
                    factors.append(float(m.group("f")))
                elif m:
                    factors.append(1 / float(m.group("mul")))
                else:
                    factors.append(1.0)
            return factors
    return [shared] * count


# -- JSON in -----------------------------------------------------------------------

def _json_pipeline(found: Extracted, u: Understanding, text: str) -> str | None:
    fields = [k for k in (u.json_in or {})]
    lines = ["const o = msg.payload;",
             'if (o === null || typeof o !== "object") throw new Error("expected a JSON '
             'object, got " + JSON.stringify(o));']
    computed: dict[str, str] = {}
    for m in _FORMULA.finditer(text):
        name, expr = m.group("name"), m.group("expr").strip()
        names = set(re.findall(r"[A-Za-z_]\w*", expr))
        if not names or not names <= set(fields) or name in fields:
            continue
        for field_name in sorted(names):
            lines.append(f'if (typeof o.{field_name} !== "number") throw new Error('
                         f'"{field_name} is missing or not a number");')
        js = re.sub(r"[A-Za-z_]\w*", lambda k: f"o.{k.group()}", expr)
        lines.append(f"const {name} = {js};")
        computed[name] = name
        for bad in re.finditer(rf"\b{re.escape(name)}\s*(?P<op><=|>=|<|>)\s*(?P<n>{_NUMBER})",
                               " ".join(_ERROR_SENTENCE.findall(found.request))):
            lines.append(f"if ({name} {bad.group('op')} {bad.group('n')}) throw new Error("
                         f'"{name} {bad.group("op")} {bad.group("n")}: " + {name});')
    picked = _FIELD_PICK.search(found.request)
    pick = picked.group("field") if picked else (
        _named_field(found, fields) if fields and not computed else None)
    shape = _output_shape(found, u.json_in)
    decimals = found.decimals[0].places if found.decimals else None
    if shape is None:
        if pick and (not fields or pick in fields or u.json_in is None):
            field_name = pick
            lines.append(f'if (!(\"{field_name}\" in o)) throw new Error("no {field_name} '
                         'in the message");')
            value = f"o.{field_name}"
            filters = _filters(found, value)
            if filters:
                lines.append(f'if (typeof {value} !== "number") throw new Error('
                             f'"{field_name} is not a number");')
                lines += [f"if ({cond}) return null;  // {why}" for cond, why in filters]
            converted = _conversion(found.request, value)
            if converted is None:
                return None
            if decimals is not None:
                converted = _round(converted, decimals)
            lines.append(f"msg.payload = {converted};")
            lines.append("return msg;")
            return "\n".join(lines)
        return None
    if not computed:
        return None
    body = _fill_template(shape, [], {**{f: f"o.{f}" for f in fields}, **computed},
                          decimals=decimals)
    if body is None:
        return None
    lines.append(f"msg.payload = {body};")
    lines.append("return msg;")
    return "\n".join(lines)


def _bool_to_text(found: Extracted) -> str | None:
    """true/false to two stated words ("send ON / OFF")."""
    words = [lit.value for lit in found.literals if not lit.example]
    if len(words) != 2:
        return None
    on, off = words
    return ("const on = msg.payload === true || msg.payload === 1 || "
            'String(msg.payload).toLowerCase() === "true";\n'
            f"msg.payload = on ? {json.dumps(on)} : {json.dumps(off)};\nreturn msg;")
