"""Typed values as Node-RED's editor stores them: a value and its type (`str`, `num`, `bool`,
`json`, `date`, `msg`, `flow`, `global`, `env`, `jsonata`, `bin`, `re`), read the way
`RED.util.evaluateNodeProperty` reads them, for every node (inject, change, switch, debug,
file, trigger...); and JSONata with the functions Node-RED adds (`runtime.jsonata_extras`)."""

from __future__ import annotations

import itertools
import re
import time
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from runtime import jsonata_extras
from runtime.jsvalues import parse_json, tidy, to_number
from runtime.message import Message

if TYPE_CHECKING:
    from runtime.node import Node


class ValueError_(ValueError):
    """A typed value that cannot be read (bad JSON, bad JSONata, a number that is not)."""


def get_path(obj: Any, path: str) -> Any:
    """`payload.a[0].b` from `obj`; None where a step is missing."""
    current = obj
    for part in _split_path(path):
        if isinstance(current, dict):
            current = current.get(part) if isinstance(part, str) else None
        elif isinstance(current, list) and isinstance(part, int):
            current = current[part] if -len(current) <= part < len(current) else None
        else:
            return None
    return current


def set_path(obj: dict[str, Any], path: str, value: Any) -> None:
    """Set `payload.a.b` in `obj`, creating objects on the way."""
    parts = _split_path(path)
    current: Any = obj
    for part, following in itertools.pairwise(parts):
        nxt = current[part] if _has(current, part) else None
        if not isinstance(nxt, dict | list):
            nxt = [] if isinstance(following, int) else {}
            _put(current, part, nxt)
        current = nxt
    _put(current, parts[-1], value)


def delete_path(obj: dict[str, Any], path: str) -> None:
    parts = _split_path(path)
    parent = get_path(obj, _join(parts[:-1])) if len(parts) > 1 else obj
    if isinstance(parent, dict):
        parent.pop(str(parts[-1]), None)
    elif isinstance(parent, list) and isinstance(parts[-1], int) and parts[-1] < len(parent):
        parent.pop(parts[-1])


def _has(container: Any, part: str | int) -> bool:
    if isinstance(container, dict):
        return part in container
    return isinstance(container, list) and isinstance(part, int) and part < len(container)


def _put(container: Any, part: str | int, value: Any) -> None:
    if isinstance(container, list) and isinstance(part, int):
        while len(container) <= part:
            container.append(None)
        container[part] = value
    else:
        container[part] = value


@lru_cache(maxsize=512)
def _split_path(path: str) -> list[str | int]:
    parts: list[str | int] = []
    for m in re.finditer(r"([^.\[\]]+)|\[(\d+)\]|\[[\"']([^\"']+)[\"']\]", path):
        if m.group(1) is not None:
            parts.append(m.group(1))
        elif m.group(2) is not None:
            parts.append(int(m.group(2)))
        else:
            parts.append(m.group(3))
    if not parts:
        raise ValueError_(f"empty property path {path!r}")
    return parts


def _join(parts: list[str | int]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")


# -- context ----------------------------------------------------------------------------
_STORE_PREFIX = re.compile(r"^#:\(\w*\)::")
_ROOT = re.compile(r"[^.\[]+")


def context_scope(node: Node, kind: str) -> Any:
    """The node's flow (`kind` "flow") or global context."""
    return node.context.flow() if kind == "flow" else node.context.global_()


def context_get(node: Node, kind: str, key: str) -> Any:
    """flow.get("a.b[0]") as Node-RED reads it: the first step from the store, the rest
    within that value. A `#:(store)::` prefix is accepted and ignored."""
    key = _STORE_PREFIX.sub("", key)
    root = _ROOT.match(key)
    if root is None:
        return None
    value = context_scope(node, kind).get(root.group(0))
    return value if root.end() == len(key) else get_path({root.group(0): value}, key)


def context_set(node: Node, kind: str, key: str, value: Any) -> None:
    """flow.set(key, value), a nested key writing into the stored value; None deletes."""
    key = _STORE_PREFIX.sub("", key)
    root = _ROOT.match(key)
    if root is None:
        raise ValueError_(f"invalid context key {key!r}")
    scoped = context_scope(node, kind)
    if root.end() == len(key):
        scoped.set(key, value)
        return
    holder = {root.group(0): scoped.get(root.group(0))}
    if value is None:
        delete_path(holder, key)
    else:
        set_path(holder, key, value)
    scoped.set(root.group(0), holder[root.group(0)])


# -- JSONata ------------------------------------------------------------------------------
@lru_cache(maxsize=256)
def compiled_jsonata(expression: str) -> Any:
    """A parsed JSONata expression, cached and `prepare`d for `jsonata_extras.evaluate`
    (which every evaluation must go through); ValueError_ when it does not parse."""
    import jsonata

    try:
        return jsonata_extras.prepare(jsonata.Jsonata(expression))
    except Exception as exc:
        raise ValueError_(f"Invalid JSONata expression {expression!r}: {exc}") from exc


def jsonata_bindings(node: Node, **extra: Any) -> dict[str, Any]:
    """Node-RED's functions for an expression of `node` ($flowContext, $globalContext,
    $env, $moment) and the `extra` variables ($I, $N, $A...), for jsonata_extras.evaluate."""
    bindings = jsonata_extras.node_red_bindings(
        lambda key: context_get(node, "flow", key),
        lambda key: context_get(node, "global", key), node.env_get)
    bindings.update({name: jsonata_extras.to_jsonata(value) for name, value in extra.items()})
    return bindings


def jsonata_result(expression: str, node: Node, msg: Any, **extra: Any) -> tuple[Any, bool]:
    """Evaluate `expression` against `msg` as Node-RED does: (the value, whether it was
    null rather than undefined). ValueError_ when it does not parse or fails."""
    compiled = compiled_jsonata(expression)
    try:
        return jsonata_extras.evaluate(compiled, expression, msg,
                                       jsonata_bindings(node, **extra))
    except Exception as exc:
        raise ValueError_(f"Invalid JSONata expression: {exc}") from exc


def jsonata_eval(expression: str, node: Node, msg: Any, **extra: Any) -> Any:
    """The value of `expression` for `msg` (None for null and undefined alike)."""
    return jsonata_result(expression, node, msg, **extra)[0]


# -- typed values -------------------------------------------------------------------------
# Older editors and example flows spell some types out ("string" for "str").
_ALIASES = {"string": "str", "number": "num", "boolean": "bool"}


def _parsed(value: Any, what: str) -> Any:
    """JSON.parse(value); a value that is not text (a flow written by a program) is taken as
    already parsed."""
    if not isinstance(value, str):
        return value
    try:
        return parse_json(value)
    except ValueError as exc:
        raise ValueError_(f"invalid JSON {what}{value[:60]!r}: {exc}") from exc


def _buffer(data: Any) -> bytes:
    """Buffer.from(data) for what a `bin` value holds: text (its UTF-8 bytes) or a list of
    byte values."""
    if isinstance(data, str):
        return data.encode()
    if isinstance(data, bytes | bytearray):
        return bytes(data)
    if isinstance(data, list):
        try:
            return bytes(data)
        except (TypeError, ValueError) as exc:
            raise ValueError_(f"cannot make a buffer of {str(data)[:60]!r}: {exc}") from exc
    raise ValueError_(f"cannot make a buffer of {str(data)[:60]!r}")


def evaluate(value: Any, kind: str, node: Node, msg: Message | None) -> Any:
    """The value a typed input stands for, for this message, as Node-RED reads it:
    `num` as JavaScript's Number() (NaN where that gives NaN), `bool` true only for "true"
    (any case), `json` and `bin` as JSON.parse (`bin` text as its UTF-8 bytes), `flow` and
    `global` with nested keys (`a.b[0]`), `jsonata` with $flowContext, $globalContext, $env
    and $moment and the `msg.` prefix. ValueError_ when the value cannot be read."""
    kind = _ALIASES.get(kind, kind) if kind else "str"
    if kind == "str":
        return "" if value is None else str(value)
    if kind == "num":
        return tidy(to_number(value))
    if kind == "bool":
        return value is True or str(value).lower() == "true"
    if kind == "json":
        return _parsed(value, "")
    if kind == "date":
        return int(time.time() * 1000)
    if kind == "msg":
        return get_path(msg or {}, str(value))
    if kind in ("flow", "global"):
        return context_get(node, kind, str(value))
    if kind == "env":
        return node.env_get(str(value))
    if kind == "jsonata":
        return jsonata_eval(str(value), node, msg if msg is not None else {})
    if kind == "bin":
        return _buffer(_parsed(value, "for a buffer "))
    if kind == "re":
        return re.compile(str(value))
    raise ValueError_(f"unknown value type {kind!r}")

