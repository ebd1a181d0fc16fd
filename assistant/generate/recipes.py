"""Function bodies written by code, for the reshaping steps that follow a known pattern.

Most edge transformations are the same few moves: take the value (a register, a combined
32-bit pair, a JSON field, a number in a text frame), scale it (x10, 0.1 units, a unit
conversion, a 4-20 mA or raw-count range), round it, and wrap it (a plain number, a JSON
object with named keys, a stated template with a timestamp). A caught error is reported as
its text, as a JSON object or as the original message. Code writes these exactly; a small
model often does not. A recipe declines (returns None) as soon as the request asks for
anything it does not understand - conditions, state, text formats - and the model writes
that step instead. Every recipe's code still goes through the same checks as the model's.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from assistant.extract import Extracted
from assistant.extract.model import Register
from assistant.generate.functions import FunctionSpec
from assistant.generate.understand import in_error_sentence
from assistant.generate.understanding import Understanding

# Words that ask for logic beyond take-scale-round-wrap: the model handles those.
_LOGIC = re.compile(
    r"\bif\b|\bwhen(?:ever)?\b|\bonly\b(?!\s+(?:need|want|gives?|eats|takes|accepts))|"
    r"\bunless\b|\botherwise\b|\belse\b|\bcount(?:ing|ed)?\b|\bmean\b|\baverage\b|\bsum\b|\bdelta\b|"
    r"\bsince\b|\bprevious\b|\bdifferen\w*|\bbits?\b|\broute\b|\bwindow\b|\blatest\b|"
    r"\bheader\b|\bcsv\b|\b(?:one|a|per|each|new)\s+lines?\b|\blines?\s+(?:like|per|with)\b|"
    r"\brows?\b|\blike\b(?!\s*[\{\[])|\btemplate\b|\bstate\b|"
    r"\bminimum\b|\bmax(?:imum)?\b|\babove\b|\bbelow\b|\bgreater\b|\bless\b|"
    r"\bover\s+-?\d|\bunder\s+-?\d|\bexceed\w*|\bbetween\b|\bsplit\b|\bpair\w*|\bmerge\b|\bcombine\b|"
    r"\btotal\b|\barray\b|\blist\b|\bformat\w*|(?<!\bas )(?<!plain )\btext\b(?!\s*,|/)|\bconcat\w*|"
    r"\bappend\w*|\bfilter\w*|\bdrop\w*|\bignore\w*|\bskip\w*|\bwait\w*|\bretr\w*|"
    r"\btimeout\b|\bwithin\b|\bstatus\b|\bvalidat\w*|\bcompare\w*|\breset\w*|"
    r"\bsort\w*|\bjoin\w*|\bcollect\w*|\bbuffer\w*|\bsequence\b|\bnegat\w*|"
    r"\binvert\w*|\bper\s+(?:asset|machine|device|topic|sensor)\b|<\s*\w+\s*>",
    re.IGNORECASE,
)
# Sentences about failures: the catch branch and the recipe's own guard cover them.
_ERROR_SENTENCE = re.compile(
    r"[^.;\n]*\b(?:throw\w*|errors?|fail\w*|junk|garbage|blows? up|invalid|alarm webhook|"
    r"not a number|isn'?t a number|dead.?letter|replay)\b[^.;\n]*", re.IGNORECASE)
_MOVED = re.compile(r"\bonly\s+(?:if|when)\s+it\s+(?:has\s+)?(?:moved|changed?)\b[^.,;]*",
                    re.IGNORECASE)
_NUMBER = r"-?\d+(?:\.\d+)?"
_RANGE_MAP = re.compile(
    rf"(?P<a>{_NUMBER})\s*(?:-|\.\.|to|…)\s*(?P<b>{_NUMBER})\s*(?:[a-z%°]+\s*)?=\s*"
    rf"(?P<c>{_NUMBER})\s*(?:-|\.\.|to|…)\s*(?P<d>{_NUMBER})", re.IGNORECASE)
_UNIT_FACTOR = re.compile(
    rf"\b1\s*(?P<from>[a-z°%]+)\s*=\s*(?P<factor>{_NUMBER})\s*(?P<to>[a-z°%]+)", re.IGNORECASE)
_RAW_SCALE = re.compile(r"\braw\b[^.]{0,40}?\b[a-z°%]+\s*[*x×]\s*(?P<mul>10+)\b", re.IGNORECASE)
_CONVERSIONS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(?:°\s*F|deg\s*F|fahrenheit).{0,80}(?:°\s*C|deg\s*C|celsius)", re.I | re.S),
     "(v - 32) * 5 / 9"),
    (re.compile(r"(?:°\s*C|deg\s*C|celsius).{0,80}(?:°\s*F|deg\s*F|fahrenheit)", re.I | re.S),
     "v * 9 / 5 + 32"),
    (re.compile(r"\bbar\b.{0,120}\bpsi\b", re.I | re.S), "v * 14.5038"),
    (re.compile(r"\bpsi\b.{0,120}\bbar\b", re.I | re.S), "v / 14.5038"),
    (re.compile(r"\bmm\b.{0,120}(?:\bmetres?\b|\bmeters?\b)", re.I | re.S), "v / 1000"),
    (re.compile(r"\bkw\b.{0,60}\bmw\b", re.I | re.S), "v / 1000"),
]
_PARSE_TEXT = re.compile(r"\bpars\w*\b.{0,40}\b(?:number|value|count|digits?)\b", re.I | re.S)
_FIELD_PICK = re.compile(
    r"\bonly\s+(?:need|want)\s+(?:the\s+)?[\"']?(?P<field>[A-Za-z_]\w*)", re.IGNORECASE)
_FORMULA = re.compile(
    r"\b(?P<name>[A-Za-z_]\w*)\s*=\s*(?P<expr>[A-Za-z_0-9.\s*/+\-()]+?)"
    r"(?=\s*(?:->|,|;|\.\s|\.$|$|\bin\b|\band\b|\bthen\b|\bpublish))")
_TIME_KEY = re.compile(r"^(?:ts|time|timestamp|t_?ms|epoch|at|rx|received)$", re.IGNORECASE)


@dataclass
class _Value:
    expr: str  # JavaScript for the value
    numeric: bool = True


def write_by_recipe(spec: FunctionSpec, found: Extracted, u: Understanding) -> str | None:
    """Code for `spec` when it follows a known pattern, else None."""
    if spec.role == "errors":
        return _error_report(spec, found, u)
    if spec.source in ("http", "http_latest") and spec.sink_types == ["http response"]:
        return _query_reply(spec, found, u) or _latest_reply(spec, found, u) \
            or (_fixed_reply(found, u) if spec.source == "http" else None)
    if spec.source == "http" and len(spec.sink_types) > 1:
        return _accept_request(spec, found, u)
    for shaped in (_route, _file_line, _mean_of_latest, _count_starts, _coil_states,
                   _csv_of_listed_fields):
        code = shaped(spec, found, u)
        if code is not None:
            return code
    alarm: _Alarm | None = None
    if len(spec.outputs) == 2:
        alarm = _alarm_output(spec, found)
        if alarm is None:
            return None
    elif len(spec.outputs) != 1:
        return None
    if spec.source not in ("plc", "opc", "value", "json", "timer"):
        return None
    if alarm is None:
        for special in (_split_words, _delta, _bits_to_state):
            code = special(spec, found, u)
            if code is not None:
                return code
    text = _ERROR_SENTENCE.sub(" ", u.residual or u.request)
    if alarm is not None:  # the alarm's clause is handled: it must not read as more logic
        text = _CONDITION_CLAUSE.sub(" ", text)
        if alarm.text:
            text = text.replace(alarm.text, " ")
    if _PARSE_TEXT.search(text):
        text = re.sub(r"\blike\s+\S+", " ", text)  # an example of the text to parse
    if u.deadband is not None or u.changes_only:
        text = _MOVED.sub(" ", text)  # an rbe node after the function does that part
    if _filters(found):
        text = _FILTER_SENTENCE.sub(" ", text)  # the recipe's own filter line does that
    if _LOGIC.search(_without_templates(text, found)):
        return None
    code = _value_pipeline(spec, found, u, text,
                           plain_ok=alarm is not None or spec.topic_map is not None
                           or bool(_filters(found)))
    if code is not None and spec.topic_map is not None:
        mapping = _topic_mapping(*spec.topic_map)
        code = None if mapping is None or alarm is not None else f"{mapping}\n{code}"
    if code is None or alarm is None:
        return code
    head, _, last = code.rpartition("\nmsg.payload = ")
    if not head or not last.endswith(";\nreturn msg;"):
        return None  # the alarm needs the plain value: a JSON shape says otherwise
    value = last[: -len(";\nreturn msg;")]
    message = "{ payload: value }" if alarm.text is None else \
        f"{{ payload: {json.dumps(alarm.text)} }}"
    outputs = ["msg", "alarm"] if alarm.index == 1 else ["alarm", "msg"]
    return (f"{head}\nconst value = {value};\nmsg.payload = value;\n"
            f"const alarm = value {alarm.op} {alarm.limit:g} ? {message} : null;\n"
            f"return [{', '.join(outputs)}];")


def _topic_mapping(incoming: str, outgoing: str) -> str | None:
    """JavaScript that sets msg.topic from the incoming topic: the n-th <...> part of
    `outgoing` takes the n-th + level of `incoming`."""
    levels = incoming.split("/")
    wild = [i for i, level in enumerate(levels) if level == "+"]
    parts = re.split(r"(<[^>/]+>|\{[^}/]+\}|(?<![^/])\+(?![^/]))", outgoing)
    holes = parts[1::2]
    if not holes or len(holes) > len(wild):
        return None
    pieces = []
    for i, part in enumerate(parts):
        if i % 2:
            pieces.append(f"levels[{wild[i // 2]}]")
        elif part:
            pieces.append(json.dumps(part))
    return ('const levels = String(msg.topic).split("/");\n'
            f"msg.topic = {' + '.join(pieces)};")


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


def _without_templates(text: str, found: Extracted) -> str:
    for shape in found.json_shapes:
        text = text.replace(shape.text, "{}")
    return text


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


def _number_guard(parse_text: bool) -> str:
    if parse_text:
        return ('const found = typeof msg.payload === "number" ? [String(msg.payload)] : '
                'String(msg.payload).match(/-?\\d+(?:\\.\\d+)?/);\n'
                'if (!found) throw new Error("no number in " + JSON.stringify(msg.payload));\n'
                "const v = Number(found[0]);")
    return ('const v = typeof msg.payload === "string" && msg.payload.trim() !== "" ? '
            "Number(msg.payload) : msg.payload;\n"
            'if (typeof v !== "number" || !isFinite(v)) throw new Error("not a number: " + '
            "JSON.stringify(msg.payload));")


def _round(expr: str, places: int) -> str:
    scale = 10 ** places
    return f"Math.round(({expr}) * {scale}) / {scale}"


def _factor_expr(expr: str, factor: float) -> str:
    """`expr * factor`, dividing by a whole number where that is exact (x10 -> / 10)."""
    if factor == 1:
        return expr
    inverse = 1 / factor
    if abs(inverse - round(inverse)) < 1e-9:
        return f"{expr} / {round(inverse)}"
    return f"{expr} * {factor:g}"


def _conversion(request: str, expr: str) -> str | None:
    """The request's unit conversion or range mapping applied to `expr`."""
    m = _RANGE_MAP.search(request)
    if m:
        a, b, c, d = (float(m.group(k)) for k in "abcd")
        if a == b:
            return None
        return f"(({expr}) - {a:g}) / {b - a:g} * {d - c:g} + {c:g}"
    m = _UNIT_FACTOR.search(request)
    if m:
        return f"({expr}) * {float(m.group('factor')):g}"
    for pattern, formula in _CONVERSIONS:
        if pattern.search(request):
            return formula.replace("v", f"({expr})") if expr != "v" else formula
    return expr


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


# -- templates -----------------------------------------------------------------------

_ENTRY = re.compile(
    r"\s*\"?(?P<key>[A-Za-z_][\w ]*?)\"?\s*(?::\s*(?P<value>\"[^\"]*\"|<[^>]*>|\[[^\]]*\]|"
    r"[^,}]+))?\s*(?:,|$)")


def _output_shape(found: Extracted, arriving: dict[str, object] | None = None) -> str | None:
    """The one JSON shape the output must have: not the error report's, not the input's."""
    mine = [s for s in found.json_shapes if not in_error_sentence(found.request, s.start)
            and not (arriving and set(s.keys) == set(arriving))]
    shapes = [s for s in mine if s.role == "out"]
    if not shapes:
        shapes = [s for s in mine if s.role is None]
    if len(shapes) != 1:
        return None
    return shapes[0].text


def _fill_template(shape: str, values: list[_Value], named: dict[str, str], *,
                   decimals: int | None = None) -> str | None:
    """JavaScript for the object `shape` describes: literal values kept, time placeholders
    become Date.now(), named keys take `named` values, the rest take `values` in order."""
    inner = shape.strip()
    if not (inner.startswith("{") and inner.endswith("}")):
        return None
    inner = inner[1:-1].strip()
    if not inner:
        return None
    parts: list[str] = []
    queue = list(values)
    pos = 0
    while pos < len(inner):
        m = _ENTRY.match(inner, pos)
        if not m or m.end() == pos:
            return None
        pos = m.end()
        key = m.group("key").strip()
        raw = (m.group("value") or "").strip()
        expr = _entry_value(key, raw, queue, named, decimals)
        if expr is None:
            return None
        parts.append(f"{json.dumps(key)}: {expr}")
    if queue:
        return None  # values left over: the shape does not say where they go
    return "{ " + ", ".join(parts) + " }"


def _entry_value(key: str, raw: str, queue: list[_Value], named: dict[str, str],
                 decimals: int | None) -> str | None:
    placeholder = (not raw or raw.startswith("<") or re.fullmatch(r"[a-z]\w{0,2}", raw)
                   is not None)
    if raw and not placeholder:
        try:
            return json.dumps(json.loads(raw))
        except ValueError:
            return None
    hint = raw.strip("<>").lower()
    if _TIME_KEY.match(key) or re.search(r"epoch|time|\bms\b|now", hint):
        if "iso" in hint:
            return "new Date().toISOString()"
        return "Date.now()"
    if key in named:
        return named[key]
    for name, expr in named.items():
        # "work = ..." fills "work_kj": the key is the name with a unit added.
        if re.fullmatch(rf"{re.escape(name)}_\w+", key, re.IGNORECASE):
            return _round(expr, decimals) if decimals is not None else expr
    if queue:
        return queue.pop(0).expr
    return None


# -- fixed replies and texts ---------------------------------------------------------

_REPLY_WORD = re.compile(
    r"\b(?:body|answers?|reply|replies|returns?|respond\w*)\s+(?:(?:is|with|just|only)\s+)*"
    r"[\"']?(?P<word>[A-Z][A-Z0-9_]{1,30})[\"']?(?=[\s(.,]|$)")


def _fixed_reply(found: Extracted, u: Understanding) -> str | None:
    """An endpoint that always answers the same thing ("GET /healthz -> body just OK")."""
    text = _ERROR_SENTENCE.sub(" ", u.residual or u.request)
    if _LOGIC.search(_without_templates(text, found)) or u.topics_in or u.registers \
            or u.opcua_nodes or u.files or u.calls:
        return None
    texts = [lit.value for lit in found.literals if not lit.example]
    if not texts:
        said = _REPLY_WORD.search(found.request)
        texts = [said.group("word")] if said else []
    shape = _output_shape(found)
    if re.search(r"\?|\bquery\b|\bparam\w*|\bmissing\b|\b4\d\d\b|:\w+",
                 found.request + "".join(e.path for e in u.served)) \
            or (shape and re.search(r"\d", shape)):
        return None  # the answer depends on the request: not a fixed reply
    if len(texts) == 1 and shape is None:
        plain = re.search(r"text/plain|plain text", found.request, re.I) is not None
        lines = [f"msg.payload = {json.dumps(texts[0])};"]
        if plain:
            lines.append('msg.headers = { "content-type": "text/plain" };')
        lines.append("msg.statusCode = 200;")
        lines.append("return msg;")
        return "\n".join(lines)
    if shape is not None and not texts:
        try:
            body = json.loads(shape)
        except ValueError:
            return None
        return f"msg.payload = {json.dumps(body)};\nmsg.statusCode = 200;\nreturn msg;"
    return None


def _bool_to_text(found: Extracted) -> str | None:
    """true/false to two stated words ("send ON / OFF")."""
    words = [lit.value for lit in found.literals if not lit.example]
    if len(words) != 2:
        return None
    on, off = words
    return ("const on = msg.payload === true || msg.payload === 1 || "
            'String(msg.payload).toLowerCase() === "true";\n'
            f"msg.payload = on ? {json.dumps(on)} : {json.dumps(off)};\nreturn msg;")


# -- caught errors -------------------------------------------------------------------

_ORIGINAL = re.compile(r"\boriginal\b|\bunchanged\b|\bas it (?:came|was)\b|\breplay",
                       re.IGNORECASE)
_RAW_TEXT = re.compile(r"\braw (?:text|payload|frame|message)\b", re.IGNORECASE)


def _error_report(spec: FunctionSpec, found: Extracted, u: Understanding) -> str | None:
    """A caught error, reported the way the request's error sentence asks."""
    sentences = [m.group() for m in _ERROR_SENTENCE.finditer(found.request)]
    about = " ".join(sentences) or found.request
    outputs = len(spec.outputs)
    if _ORIGINAL.search(about):
        body = "delete msg.error;"
    elif _RAW_TEXT.search(about):
        body = ('msg.payload = typeof msg.payload === "string" ? msg.payload : '
                "JSON.stringify(msg.payload);\ndelete msg.error;")
    else:
        shapes = [s for s in found.json_shapes if any(s.text in sent for sent in sentences)]
        if shapes:
            named = {"source": _SOURCE, "node": _SOURCE, "error": "msg.error.message",
                     "message": "msg.error.message", "msg": "msg.error.message",
                     "text": "msg.error.message", "topic": "msg.topic",
                     "payload": "msg.payload", "value": "msg.payload", "raw": "msg.payload"}
            body_expr = _fill_template(shapes[0].text, [], named)
            if body_expr is None:
                return None
            body = f"msg.payload = {body_expr};"
        else:
            texts = [lit.value for lit in found.literals
                     if not lit.example and any(lit.text in sent for sent in sentences)]
            if len(texts) == 1:
                body = f"msg.payload = {json.dumps(texts[0])};"
            elif any(t == "http request" for t in spec.sink_types):
                body = f"msg.payload = {{ error: msg.error.message, source: {_SOURCE} }};"
            else:  # "put the error text on ...", and what an unspecified report means
                body = "msg.payload = msg.error.message;"
    if outputs == 1:
        return f"{body}\nreturn msg;"
    copies = ", ".join(["msg"] + ["RED.util.cloneMessage(msg)"] * (outputs - 1))
    return f"{body}\nreturn [{copies}];"


_SOURCE = ("(msg.error.source && (msg.error.source.name || msg.error.source.type + ' ' + "
           "msg.error.source.id)) || 'unknown'")



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


# -- an HTTP request that writes somewhere and is answered ----------------------------

_FIELD_TYPE_WORDS = re.compile(r"\b(?:bool\w*|true\s*\|\s*false|number|numeric|int\w*)\b", re.I)


def _accept_request(spec: FunctionSpec, found: Extracted, u: Understanding) -> str | None:
    """POST/PUT a body -> check it -> hand the value(s) to the writes and topics -> answer.
    A bad body gets a 400 with the reason when the request says 400; otherwise it throws,
    and the tab's catch answers 500."""
    sinks = spec.sink_types
    if spec.source != "http" or len(sinks) < 2 or sinks[-1] != "http response" \
            or sinks.count("http response") != 1:
        return None
    targets = sinks[:-1]
    if any(t not in ("mqtt out", "modbus-write", "OpcUa-Item") for t in targets):
        return None
    shape = next((s for s in found.json_shapes if s.role == "in"), None)
    if shape is None or not u.json_in:
        return None
    kinds = _field_kinds(shape.text)
    if kinds is None:
        return None
    fields = list(kinds)
    devices = [i for i, t in enumerate(targets) if t != "mqtt out"]
    if devices and len(devices) != len(fields) and not (len(devices) == 1 and
                                                         _named_field(found, fields)):
        return None
    feeds = fields if len(devices) == len(fields) else [_named_field(found, fields)] * len(
        devices)
    writes = [r for r in found.registers if r.access == "write"]
    reject_400 = re.search(r"\b400\b", found.request) is not None
    lines = ["const body = msg.payload;",
             'if (body === null || typeof body !== "object") ' + _reject(
                 reject_400, '"the body must be a JSON object"')]
    checked = feeds if devices else fields
    for name in dict.fromkeys(checked):
        kind = kinds[name]
        if kind == "boolean":
            test = f'typeof body.{name} !== "boolean"'
            why = f"{name} must be true or false"
        elif kind == "number":
            test = f'typeof body.{name} !== "number" || !isFinite(body.{name})'
            why = f"{name} must be a number"
        else:
            test = f"body.{name} === undefined || body.{name} === null || body.{name} === \"\""
            why = f"{name} is missing"
        lines.append(f"if ({test}) {_reject(reject_400, json.dumps(why))}")
        for condition, why in _field_limits(found, name, len(fields) == 1):
            lines.append(f"if ({condition}) {_reject(reject_400, json.dumps(why))}")
    outputs: list[str] = []
    written = "body"
    for i, target in enumerate(targets):
        var = f"out{i + 1}"
        if target == "mqtt out":
            lines.append(f"const {var} = RED.util.cloneMessage(msg);")
        else:
            name = feeds[devices.index(i)]
            value = f"body.{name}"
            if target == "modbus-write" and devices.index(i) < len(writes):
                factor = next((s.factor for s in writes[devices.index(i)].scales
                               if s.factor), None)
                if factor:
                    value = f"Math.round({value} / {factor:g})"
            if devices.index(i) == 0:
                written = f"body.{name}"
            lines.append(f"const {var} = RED.util.cloneMessage(msg);")
            lines.append(f"{var}.payload = {value};")
        outputs.append(var)
    reply_shape = next((s.text for s in found.json_shapes if s.role == "out"), None)
    reply = '{ "ok": true }'
    if reply_shape is not None:
        filled = _fill_template(reply_shape, [_Value(written)], {})
        if filled is None:
            filled = _fill_template(reply_shape, [], {})
        if filled is None:
            return None
        reply = filled
    lines.append(f"msg.payload = {reply};")
    lines.append("msg.statusCode = 200;")
    lines.append(f"return [{', '.join(outputs)}, msg];")
    if reject_400:
        # A rejected body is answered on the last output only.
        lines.insert(0, "const reject = (why) => { msg.statusCode = 400; "
                     "msg.payload = { error: why }; return [" + "null, " * len(targets)
                     + "msg]; };")
    return "\n".join(lines)


def _reject(reply_400: bool, why: str) -> str:
    return f"return reject({why});" if reply_400 else f"throw new Error({why});"


def _field_kinds(shape: str) -> dict[str, str] | None:
    """Each body field's kind from the example body: number, boolean or text."""
    inner = shape.strip()[1:-1]
    kinds: dict[str, str] = {}
    pos = 0
    while pos < len(inner):
        m = _ENTRY.match(inner, pos)
        if not m or m.end() == pos:
            return None
        pos = m.end()
        raw = (m.group("value") or "").strip()
        if re.fullmatch(r"true\s*\|\s*false|false\s*\|\s*true|true|false", raw):
            kinds[m.group("key").strip()] = "boolean"
        elif re.fullmatch(rf"{_NUMBER}|n|x|<(?:num\w*|int\w*|n)>", raw):
            kinds[m.group("key").strip()] = "number"
        else:
            kinds[m.group("key").strip()] = "text"
    return kinds or None


def _named_field(found: Extracted, fields: list[str]) -> str:
    """The one body field the request names outside the example body ("write the rpm")."""
    text = found.request
    for shape in found.json_shapes:
        text = text.replace(shape.text, " ")
    named = [f for f in fields if re.search(rf"\b{re.escape(f)}\b", text)]
    return named[0] if len(named) == 1 else (fields[0] if len(fields) == 1 else "")


def _field_limits(found: Extracted, name: str, only: bool) -> list[tuple[str, str]]:
    """Conditions that make `name` invalid: the stated limits near its name (or all of
    them when it is the only field), and "negative"."""
    stem = re.escape(name.split("_")[0])
    checks: list[tuple[str, str]] = []
    for t in found.thresholds:
        before = found.request[max(0, t.start - 40):t.start]
        if not only and not re.search(rf"\b{stem}", before, re.IGNORECASE):
            continue
        value = f"body.{name}"
        if t.op == "range" and t.high is not None:
            checks.append((f"{value} < {t.value:g} || {value} > {t.high:g}",
                           f"{name} must be within {t.value:g}..{t.high:g}"))
        elif t.op in ("gt", "ge"):
            op = ">" if t.op == "gt" else ">="
            checks.append((f"{value} {op} {t.value:g}", f"{name} is too high"))
        elif t.op in ("lt", "le"):
            op = "<" if t.op == "lt" else "<="
            checks.append((f"{value} {op} {t.value:g}", f"{name} is too low"))
    if re.search(rf"\b{stem}\w*\b[^.;]{{0,30}}\bnegative\b", found.request, re.IGNORECASE):
        checks.append((f"body.{name} < 0", f"{name} must not be negative"))
    return checks


# -- filters ---------------------------------------------------------------------------

_DROP_BEFORE = re.compile(r"\b(?:ignore|drop|discard|reject|skip)\w*\s*(?:all\s+)?$", re.I)
_PASS_NEAR = re.compile(r"\bonly\s*$", re.IGNORECASE)
_PASS_AFTER = re.compile(r"^\s*(?:°?\s*\w{0,3}\s*)?(?:is\s+|are\s+)?(?:allowed|accepted|"
                         r"valid|ok)\b", re.IGNORECASE)
_FILTER_SENTENCE = re.compile(
    r"[^.;]*\b(?:ignore|drop|discard|reject|skip|allowed|accepted)\w*\b[^.;]*", re.I)
_CMP = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}


def _filters(found: Extracted, value: str = "v") -> list[tuple[str, str]]:
    """(condition that drops the message, why) for each limit the request states as a
    filter: "ignore 0 / negative values", "only 4.0-12.0 °C allowed"."""
    out: list[tuple[str, str]] = []
    for t in found.thresholds:
        before = found.request[max(0, t.start - 20):t.start]
        after = found.request[t.end:t.end + 25]
        if _DROP_BEFORE.search(before):
            keep = False
        elif _PASS_NEAR.search(before) or _PASS_AFTER.search(after):
            keep = True
        else:
            continue
        if t.op == "range" and t.high is not None:
            inside = f"{value} >= {t.value:g} && {value} <= {t.high:g}"
            cond = f"!({inside})" if keep else f"{inside}"
        elif t.op in _CMP:
            test = f"{value} {_CMP[t.op]} {t.value:g}"
            cond = f"!({test})" if keep else test
        else:
            continue
        out.append((cond, f"{'only' if keep else 'drops'} {t.text}"))
    return out


# -- routing by value ----------------------------------------------------------------

_TOPIC_OF = re.compile(r"\(MQTT topic (?P<topic>[^)\s]+)\)")


def _route(spec: FunctionSpec, found: Extracted, u: Understanding) -> str | None:
    """One output per value: "PASS -> qc/released, FAIL -> qc/blocked"; others dropped."""
    if spec.source not in ("json", "value") or len(spec.outputs) < 2 \
            or any(t != "mqtt out" for t in spec.sink_types):
        return None
    keys: list[str] = []
    for text in spec.outputs:
        m = _TOPIC_OF.search(text)
        if not m:
            return None
        at = found.request.find(m.group("topic"))
        lead = re.search(r"(?P<key>[A-Za-z0-9_.-]+)[\"']?\s*(?:->|→|=>|:|goes to|to)\s*$",
                         found.request[max(0, at - 30):at])
        if at < 0 or not lead:
            return None
        keys.append(lead.group("key"))
    if len(set(keys)) != len(keys):
        return None
    fields = list(u.json_in or {})
    field_name = None
    if spec.source == "json":
        named = [f for f in fields if re.search(rf"\b{re.escape(f)}\s+(?:is|=|:|can be)\s+"
                                                 rf"{re.escape(keys[0])}", found.request)]
        if len(named) != 1:
            return None
        field_name = named[0]
    value = f"msg.payload.{field_name}" if field_name else "msg.payload"
    table = ", ".join(f"{json.dumps(k)}: {i}" for i, k in enumerate(keys))
    guard = ('if (msg.payload === null || typeof msg.payload !== "object") return null;\n'
             if field_name else "")
    return (f"{guard}const port = ({{ {table} }})[String({value}).trim()];\n"
            "if (port === undefined) return null;  // a value with no route is dropped\n"
            f"const out = new Array({len(keys)}).fill(null);\nout[port] = msg;\nreturn out;")


# -- lines for a file ------------------------------------------------------------------

_COLUMNS = re.compile(r"\bcolumns?\s*(?::|are|=)\s*(?P<list>[^.;\n]+)", re.IGNORECASE)
_HEADER = re.compile(r"\bheader(?:\s+(?:row|line))?\s+(?P<list>[\w]+(?:\s*[,;]\s*\w+)+)", re.I)
_ADD_TIME = re.compile(r"\badd(?:ing)?\s+(?:a\s+)?(?:field|key|property)\s+[\"']?(?P<name>\w+)"
                       r"[\"']?\s+with\s+the\s+(?:time|timestamp|date)", re.IGNORECASE)
_TIME_COLUMN = re.compile(r"^(?:iso\s*)?(?:time|ts|timestamp|date|datetime|time\s*stamp|when)"
                          r"$", re.IGNORECASE)
_TEXT_COLUMN = re.compile(r"^(?:text|payload|value|message|msg|alarm|event|data)$", re.I)


def _file_line(spec: FunctionSpec, found: Extracted, u: Understanding) -> str | None:
    """A message as one line of a .jsonl or .csv file."""
    if spec.source not in ("json", "value") or spec.sink_types != ["file"]:
        return None
    files = [f.path for f in found.files if f.mode == "append" or f.path.endswith(
        (".csv", ".jsonl"))]
    path = files[0] if files else ""
    request = found.request
    whole = [f.path for f in found.files if f.mode == "overwrite"]
    if not files and len(whole) == 1 and whole[0].endswith(".json"):
        return ('msg.payload = typeof msg.payload === "string" ? msg.payload : '
                "JSON.stringify(msg.payload);\nreturn msg;")
    if path.endswith(".jsonl") or re.search(r"\bjson (?:object )?per line|one json object "
                                            r"per line|json lines\b", request, re.I):
        added = _ADD_TIME.search(request)
        extra = f", {{ {json.dumps(added.group('name'))}: new Date().toISOString() }}" \
            if added else ""
        return ('const o = typeof msg.payload === "object" && msg.payload !== null ? '
                "msg.payload : { value: msg.payload };\n"
                f"msg.payload = JSON.stringify(Object.assign({{}}, o{extra}));\nreturn msg;")
    listed = _COLUMNS.search(request)
    header = _HEADER.search(request)
    if not path.endswith((".csv", ".tsv", ".txt")) or not (listed or header):
        return None
    sep = ";" if re.search(r"semicolon", request, re.I) else (
        "\t" if re.search(r"\btab\b", request, re.I) else ",")
    source = listed or header
    assert source is not None
    names = [c.strip() for c in re.split(r"[,;]|\band\b", source.group("list")) if c.strip()]
    fields = list(u.json_in or {})
    cells: list[str] = []
    for name in names:
        if name in fields:
            cells.append(f"o.{name}")
        elif _TIME_COLUMN.match(name):
            cells.append("new Date().toISOString()")
        elif name.lower() == "topic":
            cells.append("msg.topic")
        elif _TEXT_COLUMN.match(name) and spec.source == "value":
            cells.append("msg.payload")
        else:
            return None
    wants_header = header is not None and not re.search(r"\bno header", request, re.I)
    lines = ["const o = msg.payload;"] if spec.source == "json" else []
    if spec.source == "json":
        lines.append('if (o === null || typeof o !== "object") throw new Error("expected a '
                     'JSON object, got " + JSON.stringify(o));')
    quote = ('const cell = (v) => { const s = v === undefined || v === null ? "" : String(v); '
             f'return /[{re.escape(sep)}"\\n]/.test(s) ? \'"\' + s.replace(/"/g, \'""\') + \'"\''
             " : s; };")
    lines.append(quote)
    lines.append(f"let line = [{', '.join(cells)}].map(cell).join({json.dumps(sep)});")
    if wants_header:
        lines.append('if (!context.get("header_written")) {  // the first line, once\n'
                     f"    line = {json.dumps(sep.join(names))} + \"\\n\" + line;\n"
                     '    context.set("header_written", true);\n}')
    lines.append("msg.payload = line;\nreturn msg;")
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


def _csv_of_listed_fields(spec: FunctionSpec, found: Extracted,
                          u: Understanding) -> str | None:
    """"make one line batch,recipe,kg,end": the named fields of a JSON message as one
    comma-separated line (no header unless asked for)."""
    fields = list(u.json_in or {})
    if spec.source != "json" or len(spec.outputs) != 1 or len(fields) < 2 \
            or spec.sink_types == ["file"]:
        return None
    text = _without_templates(found.request, found)
    if not re.search(r"\bcsv\b|\bcomma|\bsemicolon", text, re.IGNORECASE):
        return None
    for m in re.finditer(r"\b\w+(?:\s*([,;])\s*\w+)+\b", text):
        if not re.search(r"\b(?:lines?|csv|columns?|rows?|as|like)\s*:?\s*$",
                         text[max(0, m.start() - 20):m.start()], re.IGNORECASE):
            continue  # a list describing the input, not the line to make
        names = re.split(r"\s*[,;]\s*", m.group())
        if len(names) >= 2 and all(n in fields for n in names):
            sep = m.group(1)
            cells = ", ".join(f"o.{n}" for n in names)
            return ("const o = msg.payload;\n"
                    'if (o === null || typeof o !== "object") throw new Error("expected a JSON '
                    'object, got " + JSON.stringify(o));\n'
                    f"msg.payload = [{cells}].map((v) => v === undefined || v === null ? \"\" "
                    f": String(v)).join({json.dumps(sep)});\nreturn msg;")
    return None


# -- endpoints that answer from the request's query or from the latest MQTT values ------

def _query_reply(spec: FunctionSpec, found: Extracted, u: Understanding) -> str | None:
    """GET /tools/bar2psi?bar=6.5 -> {"bar": 6.5, "psi": 94.27}: the number in the query,
    converted; a missing or non-numeric value is a 400."""
    if spec.source != "http" or spec.sink_types != ["http response"]:
        return None
    asked = [m for e in found.http_endpoints
             for m in re.finditer(r"[?&](?P<name>[A-Za-z_]\w*)=", e.text)]
    shape = _output_shape(found)
    if len(asked) != 1 or shape is None:
        return None
    name = asked[0].group("name")
    converted = _conversion(found.request, "v")
    if converted is None or converted == "v":
        return None
    if found.decimals:
        converted = _round(converted, found.decimals[0].places)
    inner = shape.strip()[1:-1]
    parts: list[str] = []
    pos = 0
    while pos < len(inner):
        m = _ENTRY.match(inner, pos)
        if not m or m.end() == pos:
            return None
        pos = m.end()
        key = m.group("key").strip()
        parts.append(f"{json.dumps(key)}: {'v' if key == name else converted}")
    return (f"const raw = (msg.req && msg.req.query) ? msg.req.query.{name} : undefined;\n"
            'const v = raw === undefined || String(raw).trim() === "" ? NaN : Number(raw);\n'
            "if (!isFinite(v)) {\n    msg.statusCode = 400;\n"
            f'    msg.payload = {{ error: "{name} is missing or not a number" }};\n'
            "    return msg;\n}\n"
            f"msg.payload = {{ {', '.join(parts)} }};\nmsg.statusCode = 200;\nreturn msg;")


def _latest_reply(spec: FunctionSpec, found: Extracted, u: Understanding) -> str | None:
    """An endpoint that answers from the latest MQTT value(s) kept in flow context."""
    if spec.source != "http_latest" or spec.sink_types != ["http response"] \
            or len(u.topics_in) != 1:
        return None
    topic = u.topics_in[0]
    plain = re.search(r"text/plain|plain text", found.request, re.I) is not None
    header = 'msg.headers = { "content-type": "text/plain" };\n' if plain else ""
    texts = [lit for lit in found.literals if not lit.example]
    if "+" not in topic and len(texts) == 2:
        # "answer 200 "READY" when its true, otherwise 503 "NOT READY""
        codes = []
        for lit in texts:
            code = re.search(r"(\d{3})\s*[\"']?\s*$", found.request[max(0, lit.start - 8):
                                                                    lit.start])
            codes.append(int(code.group(1)) if code else 200)
        return ('const v = flow.get("latest");\n'
                'const yes = v === true || v === 1 || String(v).toLowerCase() === "true";\n'
                f"msg.payload = yes ? {json.dumps(texts[0].value)} : "
                f"{json.dumps(texts[1].value)};\n"
                f"msg.statusCode = yes ? {codes[0]} : {codes[1]};\n{header}return msg;")
    params = [p for e in u.served for p in re.findall(r":(\w+)", e.path)]
    shape = _output_shape(found)
    if "+" in topic and len(params) == 1 and shape is not None and topic.count("+") == 1:
        # GET /machines/<machine> -> the latest value of plant/hall2/<machine>/state
        head, tail = topic.split("+", 1)
        param = params[0]
        inner = shape.strip()[1:-1]
        parts: list[str] = []
        pos = 0
        value_used = False
        while pos < len(inner):
            m = _ENTRY.match(inner, pos)
            if not m or m.end() == pos:
                return None
            pos = m.end()
            key = m.group("key").strip()
            if key == param or key.startswith(param[:4]):
                parts.append(f"{json.dumps(key)}: id")
            elif not value_used:
                parts.append(f"{json.dumps(key)}: value")
                value_used = True
            else:
                return None
        return (f"const id = ((msg.req && msg.req.params) || {{}}).{param};\n"
                'const latest = flow.get("latest_by_topic") || {};\n'
                f"const value = latest[{json.dumps(head)} + id + {json.dumps(tail)}];\n"
                "if (value === undefined) {\n"
                "    msg.statusCode = 404;\n"
                f'    msg.payload = {{ error: "nothing heard from " + id }};\n    return msg;\n}}\n'
                f"msg.payload = {{ {', '.join(parts)} }};\nmsg.statusCode = 200;\nreturn msg;")
    return None
