"""Node-RED's editor channel (the `/comms` websocket), read for health: node statuses
(`status/<id>`), errors and warnings that nodes log (`debug` messages with a `level`), and
the runtime's state notices (`notification/runtime-state`, e.g. missing types).

Stock Node-RED has no HTTP route for any of these; the websocket is what its editor reads.
It exists only while the editor is enabled (`disableEditor` not set); without it the agent
judges health from `GET /flows/state` alone. The client is a small RFC 6455 one over the
standard library (text frames, ping/pong, close), so the agent needs no websocket package.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import os
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger("plumb.agent")

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
ERROR_LEVEL = 20  # Node-RED's log levels: fatal 10, error 20, warn 30, info 40


class WebSocketError(OSError):
    pass


class WebSocket:
    """A client connection: `recv` returns the next text message, or None once closed."""

    def __init__(self, url: str, timeout: float = 10.0, token: str | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "http"):
            raise WebSocketError(f"only plain ws:// (http://) is supported, not {url}")
        host = parts.hostname or "127.0.0.1"
        port = parts.port or 80
        self.sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        extra = f"Authorization: Bearer {token}\r\n" if token else ""
        request = (f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                   "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                   f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n")
        self.sock.sendall(request.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise WebSocketError("the server closed the connection during the handshake")
            head += chunk
            if len(head) > 65536:
                raise WebSocketError("the handshake answer is too long")
        head, self._buffer = head.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        if " 101 " not in lines[0] + " ":
            raise WebSocketError(f"no websocket at {url}: {lines[0]}")
        headers = {k.strip().lower(): v.strip() for k, _, v in
                   (line.partition(":") for line in lines[1:])}
        expected = base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()
        if headers.get("sec-websocket-accept") != expected:
            raise WebSocketError("the server's handshake answer is wrong")
        self._send_lock = threading.Lock()

    def _read(self, count: int) -> bytes:
        while len(self._buffer) < count:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise WebSocketError("connection closed")
            self._buffer += chunk
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data

    def send(self, text: str, opcode: int = 0x1) -> None:
        payload = text.encode()
        header = bytes([0x80 | opcode])
        length = len(payload)
        if length < 126:
            header += bytes([0x80 | length])
        elif length < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack("!H", length)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", length)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        with self._send_lock:
            self.sock.sendall(header + mask + masked)

    def recv(self) -> str | None:
        message = b""
        while True:
            first, second = self._read(2)
            opcode = first & 0x0F
            length = second & 0x7F
            if length == 126:
                length = struct.unpack("!H", self._read(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", self._read(8))[0]
            mask = self._read(4) if second & 0x80 else b""
            payload = self._read(length)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            if opcode == 0x8:  # close
                return None
            if opcode == 0x9:  # ping
                self.send(payload.decode("latin-1"), 0xA)
                continue
            if opcode == 0xA:
                continue
            message += payload
            if first & 0x80:
                return message.decode("utf-8", errors="replace")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.send("", 0x8)
        with contextlib.suppress(OSError):
            self.sock.close()


@dataclass
class CommsState:
    connected: bool = False
    statuses: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: list[tuple[float, str]] = field(default_factory=list)  # (monotonic time, text)
    runtime_state: dict[str, Any] = field(default_factory=dict)


class CommsWatcher:
    """Keeps a connection to `<admin>/comms` open in a thread and records what it hears."""

    def __init__(self, admin_url: str, token: str | None = None) -> None:
        self.url = admin_url.rstrip("/") + "/comms"
        self.token = token
        self.state = CommsState()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._socket: WebSocket | None = None
        self._thread = threading.Thread(target=self._run, name="plumb-agent-comms",
                                        daemon=True)
        self._warned = False

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._socket is not None:
            self._socket.close()
        self._thread.join(timeout=5)

    @property
    def connected(self) -> bool:
        with self._lock:
            return self.state.connected

    def wait_connected(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.connected:
                return True
            time.sleep(0.05)
        return self.connected

    def errors_since(self, mark: float) -> list[str]:
        with self._lock:
            return [text for when, text in self.state.errors if when >= mark]

    def error_statuses(self) -> dict[str, str]:
        with self._lock:
            return {node: str(status.get("text", "")) for node, status in
                    self.state.statuses.items() if status.get("fill") == "red"}

    def runtime_problem(self) -> str | None:
        """Why Node-RED says its flows are not running (e.g. missing types), or None."""
        with self._lock:
            notice = dict(self.state.runtime_state)
        if notice.get("error"):
            detail = notice.get("types") or notice.get("modules") or ""
            return f"Node-RED: {notice['error']} {json.dumps(detail) if detail else ''}".strip()
        return None

    def forget_runtime_state(self) -> None:
        with self._lock:
            self.state.runtime_state = {}
            self.state.statuses = {}

    def _run(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                ws = WebSocket(self.url, token=self.token)
            except OSError as exc:
                if not self._warned:
                    log.info("no Node-RED editor channel at %s (%s): health from "
                             "/flows/state only until it answers", self.url, exc)
                    self._warned = True
                self._stop.wait(delay)
                delay = min(delay * 2, 10.0)
                continue
            self._socket = ws
            delay = 0.5
            try:
                ws.sock.settimeout(None)
                if self.token:
                    ws.send(json.dumps({"auth": self.token}))
                for topic in ("status/#", "notification/#", "debug"):
                    ws.send(json.dumps({"subscribe": topic}))
                with self._lock:
                    self.state.connected = True
                while not self._stop.is_set():
                    text = ws.recv()
                    if text is None:
                        break
                    self._handle(text)
            except OSError:
                pass
            finally:
                with self._lock:
                    self.state.connected = False
                ws.close()
                self._socket = None

    def _handle(self, text: str) -> None:
        try:
            batch = json.loads(text)
        except ValueError:
            return
        if isinstance(batch, dict):
            batch = [batch]
        if not isinstance(batch, list):
            return
        now = time.monotonic()
        with self._lock:
            for item in batch:
                if not isinstance(item, dict):
                    continue
                topic = str(item.get("topic", ""))
                data = item.get("data")
                if topic.startswith("status/"):
                    node = topic[len("status/"):]
                    if isinstance(data, dict) and data:
                        self.state.statuses[node] = data
                    else:
                        self.state.statuses.pop(node, None)
                elif topic == "debug" and isinstance(data, dict) \
                        and data.get("level") == ERROR_LEVEL:
                    where = data.get("name") or data.get("id") or "?"
                    self.state.errors.append((now, f"[{data.get('type', '?')}:{where}] "
                                                   f"{str(data.get('msg', ''))[:300]}"))
                    del self.state.errors[:-200]
                elif topic == "notification/runtime-state" and isinstance(data, dict):
                    self.state.runtime_state = data
