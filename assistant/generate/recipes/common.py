"""Pieces the recipes share: the regexes that read the request (logic words, error
sentences, unit conversions and ranges), the value arithmetic (scale, convert, round, the
number guard), JSON output templates, stated filters and topic mapping.

Nothing here imports from the sibling recipe modules.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from assistant.extract import Extracted
from assistant.generate.conversions import conversion_for
from assistant.generate.understand import in_error_sentence

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
_PARSE_TEXT = re.compile(r"\bpars\w*\b.{0,40}\b(?:number|value|count|digits?)\b", re.I | re.S)
_TIME_KEY = re.compile(r"^(?:ts|time|timestamp|t_?ms|epoch|at|rx|received)$", re.IGNORECASE)


@dataclass
class _Value:
    expr: str  # JavaScript for the value
    numeric: bool = True


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


def _without_templates(text: str, found: Extracted) -> str:
    for shape in found.json_shapes:
        text = text.replace(shape.text, "{}")
    return text


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
    conversion = conversion_for(request)
    if conversion is not None:
        formula = conversion.formula
        return formula.replace("v", f"({expr})") if expr != "v" else formula
    return expr


# -- templates -----------------------------------------------------------------------

_ENTRY = re.compile(
    r"\s*\"?(?P<key>[A-Za-z_][\w ]*?)\"?\s*(?::\s*(?P<value>\"[^\"]*\"|<[^>]*>|\[[^\]]*\]|"
    r"[^,}]+))?\s*(?:,|$)")


def shape_entries(shape: str) -> list[tuple[str, str]] | None:
    """The (key, value as written) pairs of a JSON-ish shape from the request: `{"a": 1}`,
    `{a, b}` (no values) or `{"v": <num>}`; None when it does not read as one."""
    inner = shape.strip()
    if not (inner.startswith("{") and inner.endswith("}")):
        return None
    inner = inner[1:-1].strip()
    entries: list[tuple[str, str]] = []
    pos = 0
    while pos < len(inner):
        m = _ENTRY.match(inner, pos)
        if not m or m.end() == pos:
            return None
        pos = m.end()
        entries.append((m.group("key").strip(), (m.group("value") or "").strip()))
    return entries or None


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
    entries = shape_entries(shape)
    if entries is None:
        return None
    for key, raw in entries:
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


# -- fields named in the request -------------------------------------------------------

def _named_field(found: Extracted, fields: list[str]) -> str:
    """The one body field the request names outside the example body ("write the rpm")."""
    text = found.request
    for shape in found.json_shapes:
        text = text.replace(shape.text, " ")
    named = [f for f in fields if re.search(rf"\b{re.escape(f)}\b", text)]
    return named[0] if len(named) == 1 else (fields[0] if len(fields) == 1 else "")


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
