"""Mustache as Node-RED's template node renders it.

Node-RED renders with mustache.js; flows written against it expect its exact output, so
this follows mustache.js rather than the Mustache spec where they differ: values go through
JavaScript's String() (an array renders as `1,2`, an object as `[object Object]`), `{{x}}`
escapes `& < > " ' / ` =`, a section over a falsy value (0, "", false, null) renders
nothing, lines holding only a section, comment or delimiter tag disappear, and with JSON
output the strings looked up outside any section get their backslashes and control
characters escaped. Partials (`{{> name}}`) render nothing: a flow has no partials.
JavaScript's value rules come from `runtime.jsvalues`; None stands for `undefined`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from runtime.jsvalues import JSError, js_string, js_truthy

_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;", "/": "&#x2F;",
         "`": "&#x60;", "=": "&#x3D;"}
_HTML_RE = re.compile("[&<>\"'`=/]")
_JSON_ESCAPES = (("\\", "\\\\"), ("\n", "\\n"), ("\t", "\\t"), ("\r", "\\r"), ("\f", "\\f"),
                 ("\b", "\\b"))
_STANDALONE = frozenset("#^/!=>")
_LINES = re.compile(r"[^\n]*\n|[^\n]+")


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
