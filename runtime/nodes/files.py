"""Storage nodes: file (write, append, delete), file in (read), watch (files and folders).

Property names follow Node-RED's 10-file.js and 23-watch.js. Blocking file work runs in a
worker thread (`asyncio.to_thread`) so the flow's event loop never stalls on a disk.
Relative file names are taken from the runtime's working directory (Node-RED's optional
`fileWorkingDirectory` setting has no counterpart here).
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import errno
import json
import os
import stat
from dataclasses import dataclass
from typing import Any

from runtime.jsvalues import js_string
from runtime.message import Message, clone_message
from runtime.node import Done, Node, Send
from runtime.registry import register
from runtime.values import ValueError_, evaluate

# Bytes per message for `file in` in "stream" format (Node-RED reads 64 KiB chunks).
STREAM_CHUNK = 64 * 1024


def _codec(name: str) -> str:
    """Node-RED's encoding names ("none", "utf8", "latin1", ...) as a Python codec."""
    key = (name or "none").strip().lower()
    if key in ("", "none", "utf8", "utf-8"):
        return "utf-8"
    try:
        return codecs.lookup(key).name
    except LookupError as exc:
        raise ValueError_(f"unknown encoding {name!r}") from exc


def _filename(node: Node, msg: Message) -> str:
    """The file name for this message: `filename` read as `filenameType`; a flow from
    before typed file names (no filenameType) means msg.filename when the name is empty."""
    name = node.config.get("filename")
    kind = str(node.config.get("filenameType") or "")
    if not kind:
        text = str(name or "")
        if not text:
            name, kind = "filename", "msg"
        elif text.startswith("${") and text.endswith("}") and "}" not in text[2:-1]:
            name, kind = text[2:-1], "env"
        else:
            kind = "str"
    value = evaluate(name, kind, node, msg)
    return "" if value is None else str(value)


@register("file")
class FileOut(Node):
    """Writes msg.payload to a file (append or overwrite) or deletes the file, then passes
    the message on. Messages are handled one at a time, in the order they arrived."""

    def __init__(self, config: dict[str, Any], runtime: Any) -> None:
        super().__init__(config, runtime)
        self.append_newline = bool(config.get("appendNewline"))
        self.overwrite = str(config.get("overwriteFile", "false")).lower()
        self.create_dir = bool(config.get("createDir"))
        self.encoding = str(config.get("encoding") or "none")
        self._lock = asyncio.Lock()

    async def on_input(self, msg: Message, send: Send, done: Done) -> None:
        async with self._lock:
            await self._handle(msg, send, done)

    async def _handle(self, msg: Message, send: Send, done: Done) -> None:
        try:
            filename = _filename(self, msg)
        except ValueError_ as exc:
            done(str(exc))
            return
        msg["filename"] = filename
        if not self.config.get("filename") and filename:
            self.status("grey", "dot", filename)
        if not filename:
            self.warn("No filename specified")
            done()
            return
        if self.overwrite == "delete":
            try:
                await asyncio.to_thread(os.unlink, filename)
            except OSError as exc:
                done(f"failed to delete file: {exc}")
                return
            send(msg)
            done()
            return
        if "payload" not in msg:
            done()
            return
        try:
            data = self._bytes(msg)
        except (ValueError_, UnicodeError, TypeError) as exc:
            done(str(exc))
            return
        try:
            await asyncio.to_thread(self._write, filename, data)
        except OSError as exc:
            verb = "write to" if self.overwrite == "true" else "append to"
            done(f"failed to {verb} file: {exc}")
            return
        send(msg)
        done()

    def _bytes(self, msg: Message) -> bytes:
        data = msg["payload"]
        if isinstance(data, bytes | bytearray):
            return bytes(data)  # buffers are written as they are, never with a newline
        if isinstance(data, dict | list) or data is None:
            text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
        else:
            text = js_string(data)
        if self.append_newline:
            text += os.linesep
        encoding = self.encoding
        if encoding == "setbymsg":
            encoding = str(msg.get("encoding") or "none")
        return text.encode(_codec(encoding))

    def _write(self, filename: str, data: bytes) -> None:
        if self.create_dir:
            directory = os.path.dirname(os.path.abspath(filename))
            os.makedirs(directory, exist_ok=True)
        with open(filename, "wb" if self.overwrite == "true" else "ab") as handle:
            handle.write(data)


@register("file in")
class FileIn(Node):
    """Reads a file: the whole file as one string (format "utf8") or buffer (format ""),
    one message per line ("lines", with msg.parts so a join node can rebuild it), or
    64 KiB buffers ("stream")."""

    def __init__(self, config: dict[str, Any], runtime: Any) -> None:
        super().__init__(config, runtime)
        self.format = str(config.get("format") or "")
        self.encoding = str(config.get("encoding") or "none")
        self.all_props = bool(config.get("allProps"))
        send_error = config.get("sendError")
        self.send_error = True if send_error is None else bool(send_error)

    async def on_input(self, msg: Message, send: Send, done: Done) -> None:
        try:
            filename = _filename(self, msg)
        except ValueError_ as exc:
            done(str(exc))
            return
        filename = filename.replace("\t", "").replace("\r", "").replace("\n", "")
        if not self.config.get("filename"):
            self.status("grey", "dot", filename)
        if not filename:
            self.warn("No filename specified")
            done()
            return
        msg["filename"] = filename
        try:
            data = await asyncio.to_thread(_read_bytes, filename)
            codec = _codec(self.encoding)
        except (OSError, ValueError_) as exc:
            text = str(exc)
            # The catch nodes hear it (done below); with sendError the output does too.
            if self.send_error:
                failed = clone_message(msg)
                failed.pop("payload", None)
                failed["error"] = {"message": text, "code": _errno_code(exc)}
                send(failed)
            done(text)
            return
        try:
            if self.format == "lines":
                self._send_lines(msg, data.decode(codec), send)
            elif self.format == "stream":
                self._send_chunks(msg, data, send)
            else:
                msg["payload"] = data.decode(codec) if self.format == "utf8" else data
                send(msg)
        except UnicodeError as exc:
            done(f"cannot decode {filename} as {codec}: {exc}")
            return
        done()

    def _part_message(self, msg: Message) -> Message:
        if self.all_props:
            return clone_message(msg)
        return {"topic": msg.get("topic"), "filename": msg.get("filename")}

    def _send_lines(self, msg: Message, text: str, send: Send) -> None:
        # As Node-RED: split on "\n" only, and the piece after the last newline (empty
        # when the file ends with one) is the last part, the one that carries the count.
        self._send_parts(msg, text.split("\n"), "\n", "string", send)

    def _send_chunks(self, msg: Message, data: bytes, send: Send) -> None:
        chunks = [data[i:i + STREAM_CHUNK] for i in range(0, len(data), STREAM_CHUNK)] or [b""]
        self._send_parts(msg, chunks, "", "buffer", send)

    def _send_parts(self, msg: Message, pieces: list[Any], ch: str, kind: str,
                    send: Send) -> None:
        """One message per piece, as a sequence (`msg.parts`); the last carries the count."""
        for index, piece in enumerate(pieces):
            out = self._part_message(msg)
            out["payload"] = piece
            out["parts"] = {"index": index, "ch": ch, "type": kind, "id": msg["_msgid"]}
            if index == len(pieces) - 1:
                out["parts"]["count"] = len(pieces)
            send(out)


def _read_bytes(filename: str) -> bytes:
    with open(filename, "rb") as handle:
        return handle.read()


def _errno_code(exc: BaseException) -> str:
    number = getattr(exc, "errno", None)
    return errno.errorcode.get(number, "") if isinstance(number, int) else ""


@dataclass(frozen=True)
class _Entry:
    is_dir: bool
    mtime_ns: int
    size: int
    inode: int


@register("watch")
class Watch(Node):
    """Sends a message when a watched file, or anything in a watched folder (all levels
    with `recursive`), is created, changed or removed. Polls every `POLL_SECONDS` rather
    than asking the OS for notifications: portable, and simple to close. A folder is
    reported when it appears or goes, not when its contents change."""

    POLL_SECONDS = 0.5

    def __init__(self, config: dict[str, Any], runtime: Any) -> None:
        super().__init__(config, runtime)
        self.recursive = bool(config.get("recursive"))
        self.files_type = str(config.get("filesType") or "str")
        self.files: list[str] = []
        self.topic = ""
        self._task: asyncio.Task[None] | None = None

    async def on_start(self) -> None:
        if self.files_type == "msg":
            return  # waits for a message that names the files
        spec = self.config.get("files") or ""
        if self.files_type == "env":
            spec = evaluate(spec, "env", self, None)
        await self._configure(str(spec or ""))

    def on_input(self, msg: Message, send: Send, done: Done) -> Any:
        if self.files_type != "msg":
            done()
            return None
        spec = msg.get(str(self.config.get("files") or ""))
        if isinstance(spec, list):
            spec = ",".join(str(s) for s in spec)
        return self._reconfigure(str(spec or ""), done)

    async def _reconfigure(self, spec: str, done: Done) -> None:
        if [f.strip() for f in spec.split(",")] != self.files:
            await self._configure(spec)
        done()

    async def _configure(self, spec: str) -> None:
        await self._stop()
        self.files = [f.strip() for f in spec.split(",")]
        self.topic = (self.files[0] if len(self.files) == 1
                      else json.dumps(self.files, separators=(",", ":")))
        paths = [f for f in self.files if f]
        if not paths:
            return
        baseline = await asyncio.to_thread(self._scan, paths)
        self._task = asyncio.create_task(self._poll(paths, baseline))

    async def _poll(self, paths: list[str], seen: dict[str, _Entry]) -> None:
        while True:
            await asyncio.sleep(self.POLL_SECONDS)
            try:
                now = await asyncio.to_thread(self._scan, paths)
            except Exception as exc:  # report and keep watching
                self.error(f"watch failed: {exc}", {"payload": ""})
                continue
            for path, entry in now.items():
                before = seen.get(path)
                if before is None or (not entry.is_dir and entry != before) or (
                        entry.is_dir != before.is_dir):
                    self._report(path, "update", entry)
            for path in seen.keys() - now.keys():
                self._report(path, "remove", None)
            seen = now

    def _scan(self, paths: list[str]) -> dict[str, _Entry]:
        found: dict[str, _Entry] = {}
        for root in paths:
            top = _stat(root)
            if top is None:
                continue
            if not top.is_dir:
                found[root] = top
                continue
            if self.recursive:
                for folder, dirs, names in os.walk(root):
                    for name in [*dirs, *names]:
                        path = os.path.join(folder, name)
                        entry = _stat(path)
                        if entry is not None:
                            found[path] = entry
            else:
                try:
                    names = os.listdir(root)
                except OSError:
                    continue
                for name in names:
                    path = os.path.join(root, name)
                    entry = _stat(path)
                    if entry is not None:
                        found[path] = entry
        return found

    def _report(self, path: str, event: str, entry: _Entry | None) -> None:
        msg: Message = {"payload": path, "topic": self.topic, "file": os.path.basename(path),
                        "filename": path, "event": event}
        if entry is None:
            msg["type"] = "none"
        elif entry.is_dir:
            msg["type"] = "directory"
        else:
            msg["type"] = "file"
            msg["size"] = entry.size
        self.send(msg)

    async def _stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def on_close(self) -> None:
        await self._stop()


def _stat(path: str) -> _Entry | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return _Entry(stat.S_ISDIR(st.st_mode), st.st_mtime_ns, st.st_size, st.st_ino)
