"""Syntax check of function-node JavaScript with a real engine's parser (QuickJS).

The code is placed in the same wrapper Node-RED compiles it in (an async function), so
what parses here parses there, top-level `await` and `return` included. The script starts
with a `throw`: a JavaScript engine parses a whole script before running any of it, so a
syntax error is reported, while valid code - even code crafted to close the wrapper early
and smuggle statements out of it - never runs a single statement.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

import quickjs

_SENTINEL = "__plumb_parse_only__"
# Node-RED declares `__msgid__` and `node` with `var` inside the same function as the code,
# so a `const node = ...` in a function node is a SyntaxError there; the wrapper says so too.
_PREFIX = (
    f'throw "{_SENTINEL}";\nvar __r = (async function(msg, __send__, __done__) {{ '
    "var __msgid__ = msg._msgid; var node = {};\n"
)
_SUFFIX = "\n})(msg, __send__, __done__);"
_PREFIX_LINES = _PREFIX.count("\n")
_LINE_RE = re.compile(r"at <input>:(\d+)")


@dataclass(frozen=True)
class SyntaxProblem:
    message: str
    line: int | None  # 1-based line within the checked code


class JavaScriptChecker:
    """Owns one QuickJS context; a lock keeps it to one thread at a time (QuickJS aborts
    the whole process when a context is used from two threads at once)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._context: quickjs.Context | None = None

    def _ctx(self) -> quickjs.Context:
        if self._context is None:
            ctx = quickjs.Context()
            ctx.set_memory_limit(256 * 1024 * 1024)
            ctx.set_time_limit(10)  # seconds; parsing a large body takes milliseconds
            self._context = ctx
        return self._context

    def check(self, source: str) -> SyntaxProblem | None:
        if "\x00" in source:
            return SyntaxProblem("the code contains a NUL character", None)
        with self._lock:
            try:
                self._ctx().eval(_PREFIX + source + _SUFFIX)
            except quickjs.JSException as exc:
                text = str(exc)
                if _SENTINEL in text:
                    return None  # parsed, then stopped at the guard before any statement ran
                return _problem(text, source.count("\n") + 1)
            except Exception as exc:  # memory or stack limits: report, never crash
                self._context = None
                return SyntaxProblem(f"the code could not be parsed: {exc}", None)
        # The guard always throws; reaching here means the engine misbehaved.
        return SyntaxProblem("the parser gave no verdict", None)


def _problem(text: str, source_lines: int) -> SyntaxProblem:
    lines = text.strip().splitlines()
    first = lines[0] if lines else "SyntaxError"
    match = _LINE_RE.search(text)
    # An error found in the closing wrapper (an unclosed comment, say) belongs to the last line.
    line = min(max(1, int(match.group(1)) - _PREFIX_LINES), source_lines) if match else None
    return SyntaxProblem(first, line)


_default = JavaScriptChecker()


def check_javascript(source: str) -> SyntaxProblem | None:
    """Parse `source` as a function-node body; None when it parses, else the problem."""
    return _default.check(source)
