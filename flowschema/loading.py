"""Reading flow JSON from files and streams, with errors a person can act on.

Every failure becomes a FlowLoadError whose message says what was wrong and where (line
and column for malformed JSON), so callers print it instead of a traceback.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Any

DEFAULT_MAX_BYTES = 16 * 1024 * 1024


class FlowLoadError(ValueError):
    pass


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def read_flow_bytes(
    source: str | Path, *, stdin: IO[bytes] | None = None, max_bytes: int = DEFAULT_MAX_BYTES
) -> bytes:
    """The raw bytes of a flow file, or of `stdin` when source is "-"."""
    if str(source) == "-":
        if stdin is None:
            raise FlowLoadError("no standard input to read")
        data = stdin.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise FlowLoadError(
                f"standard input is larger than the {_megabytes(max_bytes)} limit "
                "(raise it with --max-size)"
            )
        return data
    path = Path(source)
    if path.is_dir():
        raise FlowLoadError(f"{path} is a directory, not a flow file")
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise FlowLoadError(f"{path} does not exist") from None
    except OSError as exc:
        raise FlowLoadError(f"cannot read {path}: {exc.strerror}") from None
    if size > max_bytes:
        raise FlowLoadError(
            f"{path} is {_megabytes(size)}, larger than the {_megabytes(max_bytes)} limit "
            "(raise it with --max-size)"
        )
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise FlowLoadError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > max_bytes:  # grew while we looked, or a special file
        raise FlowLoadError(f"{path} is larger than the {_megabytes(max_bytes)} limit")
    return data


def parse_flow(data: bytes | str, *, origin: str = "input") -> Any:
    """Parse flow JSON; the result may be any JSON value (the validator judges it)."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise FlowLoadError(
                f"{origin} is not UTF-8 text (bad byte at offset {exc.start})"
            ) from None
    else:
        text = data
    if not text.strip():
        raise FlowLoadError(f"{origin} is empty; a flow is a JSON array of nodes")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise FlowLoadError(
            f"{origin} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    except RecursionError:
        raise FlowLoadError(f"{origin} nests JSON too deeply to be a flow") from None


def load_flow(
    source: str | Path, *, stdin: IO[bytes] | None = None, max_bytes: int = DEFAULT_MAX_BYTES
) -> Any:
    origin = "standard input" if str(source) == "-" else os.fspath(source)
    return parse_flow(read_flow_bytes(source, stdin=stdin, max_bytes=max_bytes), origin=origin)
