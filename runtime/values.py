"""Typed values as Node-RED's editor stores them: a value and its type (`str`, `num`, `bool`,
`json`, `date`, `msg`, `flow`, `global`, `env`, `jsonata`, `bin`, `re`), read and written
the way the change, switch and inject nodes need them."""

from __future__ import annotations

import itertools
import json
import re
import time
from functools import lru_cache
from typing import TYPE_CHECKING, Any

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


@lru_cache(maxsize=256)
def compiled_jsonata(expression: str) -> Any:
    """A parsed JSONata expression, cached; ValueError_ when it does not parse."""
    import jsonata

    try:
        return jsonata.Jsonata(expression)
    except Exception as exc:
        raise ValueError_(f"Invalid JSONata expression {expression!r}: {exc}") from exc


# Older editors and example flows spell some types out ("string" for "str").
_ALIASES = {"string": "str", "number": "num", "boolean": "bool"}


def evaluate(value: Any, kind: str, node: Node, msg: Message | None) -> Any:
    """The value a typed input stands for, for this message."""
    kind = _ALIASES.get(kind, kind) if kind else "str"
    if kind == "str":
        return "" if value is None else str(value)
    if kind == "num":
        try:
            number = float(value)
        except (TypeError, ValueError) as exc:
            raise ValueError_(f"{value!r} is not a number") from exc
        return int(number) if number.is_integer() and "." not in str(value) else number
    if kind == "bool":
        return value is True or str(value).lower() == "true"
    if kind == "json":
        try:
            return json.loads(value) if isinstance(value, str) else value
        except ValueError as exc:
            raise ValueError_(f"invalid JSON {str(value)[:60]!r}: {exc}") from exc
    if kind == "date":
        return int(time.time() * 1000)
    if kind == "msg":
        return get_path(msg or {}, str(value))
    if kind == "flow":
        return node.context.flow().get(str(value))
    if kind == "global":
        return node.context.global_().get(str(value))
    if kind == "env":
        return node.env_get(str(value))
    if kind == "jsonata":
        try:
            return compiled_jsonata(str(value)).evaluate(msg or {})
        except ValueError_:
            raise
        except Exception as exc:
            raise ValueError_(f"JSONata expression {str(value)!r} failed: {exc}") from exc
    if kind == "bin":
        data = json.loads(value) if isinstance(value, str) else value
        return bytes(data)
    if kind == "re":
        return re.compile(str(value))
    raise ValueError_(f"unknown value type {kind!r}")


def assign(target: str, kind: str, node: Node, msg: Message, value: Any) -> None:
    """Write `value` to msg.<target>, flow.<target> or global.<target>."""
    if kind == "msg":
        set_path(msg, target, value)
    elif kind == "flow":
        node.context.flow().set(target, value)
    elif kind == "global":
        node.context.global_().set(target, value)
    else:
        raise ValueError_(f"cannot write to a {kind!r} property")
