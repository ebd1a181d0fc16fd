"""JavaScript's view of values, and mustache as Node-RED's template node renders it.

Flows are written against Node-RED, so the logic nodes read values as JavaScript does:
String() and Number() conversions, `==` (the string "5" equals the number 5), `<` (strings
compare as strings, anything else as numbers), regular expressions and `String.replace`
with `$1`. None stands for `undefined` throughout. Nothing here knows about nodes.

Node-RED renders with mustache.js; flows written against it expect its exact output, so
this follows mustache.js rather than the Mustache spec where they differ: values go through
JavaScript's String() (an array renders as `1,2`, an object as `[object Object]`), `{{x}}`
escapes `& < > " ' / ` =`, a section over a falsy value (0, "", false, null) renders
nothing, lines holding only a section, comment or delimiter tag disappear, and with JSON
output the strings looked up outside any section get their backslashes and control
characters escaped. Partials (`{{> name}}`) render nothing: a flow has no partials.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;", "/": "&#x2F;",
         "`": "&#x60;", "=": "&#x3D;"}
_HTML_RE = re.compile("[&<>\"'`=/]")
_JSON_ESCAPES = (("\\", "\\\\"), ("\n", "\\n"), ("\t", "\\t"), ("\r", "\\r"), ("\f", "\\f"),
                 ("\b", "\\b"))
_STANDALONE = frozenset("#^/!=>")
_LINES = re.compile(r"[^\n]*\n|[^\n]+")


class JSError(ValueError):
    """What JavaScript would throw: an invalid regular expression or JSON, a template that
    mustache.js refuses (an unclosed or unopened section)."""


# -- JavaScript value semantics --------------------------------------------------------------
_JS_NUMERIC = re.compile(r"[+-]?(Infinity|(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)")
_JS_RADIX = re.compile(r"0([xX][0-9a-fA-F]+|[oO][0-7]+|[bB][01]+)")


def to_number(value: Any) -> float:
    """Number(value) in JavaScript (NaN where JavaScript gives NaN)."""
    if value is None:
        return math.nan
    if isinstance(value, bool | int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return 0.0
        if _JS_RADIX.fullmatch(text):
            return float(int(text, 0))
        if _JS_NUMERIC.fullmatch(text):
            return float(text.replace("Infinity", "inf"))
        return math.nan
    if isinstance(value, list | bytes | bytearray):
        return to_number(js_string(value))
    return math.nan


def tidy(number: float) -> int | float:
    """A whole finite float as an int, so that 50.0 reads (and serialises) as 50."""
    if isinstance(number, float) and math.isfinite(number) and number.is_integer():
        return int(number)
    return number


def _primitive(value: Any) -> Any:
    return js_string(value) if isinstance(value, dict | list | bytes | bytearray) else value


def loose_equal(a: Any, b: Any) -> bool:
    """`a == b` in JavaScript."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) and isinstance(b, bool):
        return a == b
    if isinstance(a, bool) or isinstance(b, bool):
        return loose_equal(int(a) if isinstance(a, bool) else a, int(b) if isinstance(b, bool)
                           else b)
    objects = (dict, list, bytes, bytearray)
    if isinstance(a, objects) and isinstance(b, objects):
        return a is b
    a, b = _primitive(a), _primitive(b)
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    return to_number(a) == to_number(b)


def compare(a: Any, b: Any) -> int | None:
    """-1, 0 or 1 as JavaScript's `<` would see `a` and `b`; None where it says neither
    (a NaN)."""
    a, b = _primitive(a), _primitive(b)
    if isinstance(a, str) and isinstance(b, str):
        return (a > b) - (a < b)
    x, y = to_number(a), to_number(b)
    if math.isnan(x) or math.isnan(y):
        return None
    return (x > y) - (x < y)


def js_regex(source: str, ignore_case: bool = False) -> re.Pattern[str]:
    """A JavaScript regular expression in Python's dialect (named groups renamed)."""
    source = re.sub(r"\(\?<(?![=!])", "(?P<", source)
    source = re.sub(r"\\k<(\w+)>", r"(?P=\1)", source)
    try:
        return re.compile(source, re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        raise JSError(f"Invalid regular expression: /{source}/: {exc}") from exc


_DOLLAR = re.compile(r"\$(\$|&|`|'|\d{1,2}|<[^>]*>)")


def js_replace(pattern: re.Pattern[str], text: str, replacement: str) -> str:
    """`text.replace(/pattern/g, replacement)` with JavaScript's `$&`, `$1`, `$<name>`."""

    def expand(match: re.Match[str]) -> str:
        def one(token: re.Match[str]) -> str:
            code = token.group(1)
            if code == "$":
                return "$"
            if code == "&":
                return match.group(0)
            if code == "`":
                return match.string[:match.start()]
            if code == "'":
                return match.string[match.end():]
            if code.startswith("<"):
                if not pattern.groupindex:
                    return token.group(0)
                return (match.group(code[1:-1]) or "") if code[1:-1] in pattern.groupindex \
                    else ""
            if len(code) == 2 and 1 <= int(code) <= pattern.groups:
                return match.group(int(code)) or ""
            if 1 <= int(code[0]) <= pattern.groups:
                return (match.group(int(code[0])) or "") + code[1:]
            return token.group(0)

        return _DOLLAR.sub(one, replacement)

    return pattern.sub(expand, text)


def parse_json(text: Any) -> Any:
    """JSON.parse: strict JSON (no NaN or Infinity), the argument read as a string."""

    def refuse(name: str) -> Any:
        raise ValueError(f"Unexpected token {name}")

    return json.loads(js_string(text), parse_constant=refuse)


def js_number(value: float) -> str:
    """A number as JavaScript prints it: `1` not `1.0`, `1e+21`, `1e-7`, `NaN`."""
    if isinstance(value, int):
        value = float(value) if abs(value) >= 10 ** 21 else value
        if isinstance(value, int):
            return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    _, digit_tuple, exponent = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    k, n = len(digits), len(digits) + int(exponent)
    text = ("-" if value < 0 else "")
    if k <= n <= 21:
        return text + digits + "0" * (n - k)
    if 0 < n <= 21:
        return text + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return text + "0." + "0" * -n + digits
    mantissa = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{text}{mantissa}e{'+' if n - 1 >= 0 else '-'}{abs(n - 1)}"


def js_string(value: Any) -> str:
    """String(value) in JavaScript; None stands for `undefined`."""
    if value is None:
        return "undefined"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return js_number(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return ",".join("" if v is None else js_string(v) for v in value)
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, dict):
        return "[object Object]"
    return str(value)


def js_truthy(value: Any) -> bool:
    """JavaScript truthiness: 0, NaN, "", false, null are falsy; {} and [] are not."""
    if value is None or value is False or value == "":
        return False
    if isinstance(value, int | float):
        return not (value == 0 or math.isnan(value))
    return True


# -- mustache ---------------------------------------------------------------------------
# A parsed template: text, or (kind, name, children) with kind "name", "&", "#" or "^".
Tree = list[Any]


def _tokens(template: str) -> list[tuple[str, str]]:
    """(kind, text) pairs: ("text", literal) or a tag kind ("name", "&", "#", "^", "/") with
    its name. A line holding only whitespace and section, comment, partial or delimiter tags
    loses its whitespace and newline, as mustache.js strips it (not the last line, which
    mustache.js leaves alone either)."""
    opening, closing = "{{", "}}"
    raw: list[tuple[str, str]] = []
    pos = 0
    while pos < len(template):
        start = template.find(opening, pos)
        text = template[pos:] if start < 0 else template[pos:start]
        raw.extend(("text", piece) for piece in _LINES.findall(text))
        if start < 0:
            break
        inner = start + len(opening)
        sigil = template[inner:inner + 1]
        kind = sigil if sigil and sigil in "{&#^/!=>" else "name"
        end_marker = "}" + closing if kind == "{" else closing
        end = template.find(end_marker, inner)
        if end < 0:
            raise JSError(f"Unclosed tag at {start}")
        body = template[inner + (kind != "name"):end].strip()
        if kind == "=":
            delimiters = body.rstrip("=").split()
            if len(delimiters) != 2:
                raise JSError(f"Invalid tags: {body!r}")
            opening, closing = delimiters
        raw.append(("&" if kind == "{" else kind, body))
        pos = end + len(end_marker)
    out: list[tuple[str, str]] = []
    line: list[tuple[str, str]] = []
    for token in raw:
        line.append(token)
        if token[0] == "text" and token[1].endswith("\n"):
            tags = [t for t in line if t[0] != "text"]
            standalone = tags and all(t[0] in _STANDALONE for t in tags) \
                and not any(t[1].strip() for t in line if t[0] == "text")
            out.extend(tags if standalone else line)
            line = []
    out.extend(line)
    return [t for t in out if t[0] not in ("!", "=", ">")]


def parse(template: str) -> Tree:
    """The template as a tree of text and tags."""
    root: Tree = []
    stack: list[tuple[str, Tree]] = []
    current = root
    for kind, text in _tokens(template):
        if kind == "text":
            if text:
                current.append(text)
        elif kind in ("#", "^"):
            children: Tree = []
            current.append((kind, text, children))
            stack.append((text, current))
            current = children
        elif kind == "/":
            if not stack or stack[-1][0] != text:
                raise JSError(f'Unopened section "{text}"')
            current = stack.pop()[1]
        elif kind in ("name", "&"):
            current.append((kind, text, []))
    if stack:
        raise JSError(f'Unclosed section "{stack[-1][0]}"')
    return root


_MISSING = object()


def _step(value: Any, key: str, primitive: bool) -> Any:
    """value[key] for a view, or _MISSING (mustache.js `hasProperty`)."""
    if isinstance(value, dict):
        return value.get(key, _MISSING)
    if isinstance(value, list | str) and (primitive or isinstance(value, list)):
        if key == "length":
            return len(value)
        if key.isdigit() and int(key) < len(value):
            return value[int(key)]
    return _MISSING


def _lookup(views: list[Any], name: str) -> Any:
    """A name in the innermost view that has it (mustache.js Context.lookup)."""
    if name == ".":
        return views[-1]
    for view in reversed(views):
        value: Any = view
        parts = name.split(".") if "." in name[1:] else [name]
        for i, part in enumerate(parts):
            value = _step(value, part, len(parts) > 1)
            if value is _MISSING or (value is None and i < len(parts) - 1):
                value = _MISSING
                break
        if value is not _MISSING:
            return value
    return _MISSING


def render(template: str, msg: Any, fallback: Callable[[str], Any],
           json_strings: bool = False) -> str:
    """Render `template` against `msg`. `fallback(name)` answers the names the message lacks
    (`flow.x`, `global.x`, `env.X`); `json_strings` escapes strings for a JSON result."""
    out: list[str] = []

    def value_of(name: str, views: list[Any], top: bool) -> Any:
        value = _lookup(views, name)
        if value is _MISSING:
            return fallback(name)
        if json_strings and top and isinstance(value, str):
            for old, new in _JSON_ESCAPES:
                value = value.replace(old, new)
        return value

    def walk(tree: Tree, views: list[Any], top: bool) -> None:
        for item in tree:
            if isinstance(item, str):
                out.append(item)
                continue
            kind, name, children = item
            value = value_of(name, views, top)
            if kind in ("name", "&"):
                if value is None:
                    continue
                text = js_string(value)
                out.append(_HTML_RE.sub(lambda m: _HTML[m.group(0)], text) if kind == "name"
                           else text)
            elif kind == "^":
                if not js_truthy(value) or (isinstance(value, list) and not value):
                    walk(children, views, top)
            elif not js_truthy(value):
                continue
            elif isinstance(value, list):
                for entry in value:
                    walk(children, [*views, entry], False)
            elif value is True:
                walk(children, views, top)
            else:
                walk(children, [*views, value], False)

    walk(parse(template), [msg], True)
    return "".join(out)
