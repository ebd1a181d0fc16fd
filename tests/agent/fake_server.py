"""A small fleet server for the agent's tests: a real HTTP server on a loopback port that
speaks the device protocol of docs/fleet.md (register, check-in, snapshot bundles) and
signs bundles with a real Ed25519 key. The real server (runtime/fleet) is tested on its
own; this one keeps what the agent sent so tests can read it, and can misbehave on demand
(tampered bundles, other keys, refusals, going away).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import uuid
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

FIELDS = ("flows", "credentials", "settings", "env", "modules")


def canonical(content: dict[str, Any]) -> bytes:
    return json.dumps({k: content[k] for k in FIELDS}, sort_keys=True,
                      separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def public_pem(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo
                                         ).decode()


class FakeFleet:
    def __init__(self, check_in_seconds: float = 0.3, port: int = 0) -> None:
        self.key = Ed25519PrivateKey.generate()
        self.check_in_seconds = check_in_seconds
        self.provision_tokens = {"plumb_p_test"}
        self.devices: dict[str, str] = {}  # credential -> device id
        self.bundles: dict[str, dict[str, Any]] = {}
        self.targets: deque[str | None] = deque()  # next targets, taken one per apply
        self.target: str | None = None
        self.check_ins: list[dict[str, Any]] = []
        self.fetches: list[str] = []
        self.refuse_devices = False
        self.lock = threading.Lock()
        self.port = port
        self._server: ThreadingHTTPServer | None = None

    # -- content --------------------------------------------------------------------------
    def snapshot(self, flows: list[dict[str, Any]], *, credentials: dict[str, Any] | None = None,
                 env: dict[str, str] | None = None, modules: dict[str, str] | None = None,
                 settings: dict[str, Any] | None = None, name: str = "test",
                 key: Ed25519PrivateKey | None = None) -> str:
        content = {"flows": flows, "credentials": credentials or {}, "settings": settings or {},
                   "env": env or {}, "modules": modules or {}}
        snapshot_id = hashlib.sha256(canonical(content)).hexdigest()
        signature = (key or self.key).sign(snapshot_id.encode("ascii")).hex()
        self.bundles[snapshot_id] = {"id": snapshot_id, "name": name, **content,
                                     "signature": signature}
        return snapshot_id

    def set_target(self, snapshot_id: str | None) -> None:
        with self.lock:
            self.target = snapshot_id
            self.targets.clear()

    def queue(self, *snapshot_ids: str | None) -> None:
        """Targets one after the other: the next is set once the device has reported the
        current one running or a result for it."""
        with self.lock:
            self.targets.extend(snapshot_ids)
            if self.target is None and self.targets:
                self.target = self.targets.popleft()

    def _advance(self, body: dict[str, Any]) -> None:
        result = body.get("last_result") or {}
        done = self.target is not None and (
            result.get("snapshot") == self.target or
            (body.get("running_snapshot") == self.target and body.get("state") == "idle"))
        if done and self.targets:
            self.target = self.targets.popleft()

    def last_check_in(self) -> dict[str, Any]:
        with self.lock:
            return self.check_ins[-1] if self.check_ins else {}

    def results(self) -> list[dict[str, Any]]:
        with self.lock:
            return [c["last_result"] for c in self.check_ins if "last_result" in c]

    # -- serving --------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeFleet:
        fleet = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _secret(self) -> str:
                header = self.headers.get("Authorization", "")
                return header.removeprefix("Bearer ").strip()

            def _body(self) -> Any:
                length = int(self.headers.get("Content-Length") or 0)
                return json.loads(self.rfile.read(length) or b"null")

            def do_POST(self) -> None:
                if self.path == "/api/v1/agent/register":
                    body = self._body()
                    if self._secret() not in fleet.provision_tokens:
                        return self._answer(401, {"error": "unauthorized",
                                                  "message": "bad provisioning token"})
                    device_id = str(uuid.uuid4())
                    credential = "plumb_d_" + secrets.token_urlsafe(24)
                    with fleet.lock:
                        fleet.devices[credential] = device_id
                        fleet.registrations.append(body)
                    return self._answer(201, {"device_id": device_id,
                                              "credential": credential,
                                              "public_key": public_pem(fleet.key),
                                              "check_in_seconds": fleet.check_in_seconds})
                if self.path == "/api/v1/agent/check-in":
                    if fleet.refuse_devices or self._secret() not in fleet.devices:
                        return self._answer(401, {"error": "unauthorized",
                                                  "message": "unknown device"})
                    body = self._body()
                    with fleet.lock:
                        fleet.check_ins.append(body)
                        fleet._advance(body)
                        target = fleet.target
                    answer = None
                    if target and target != body.get("running_snapshot"):
                        answer = {"snapshot": target,
                                  "url": f"/api/v1/agent/snapshots/{target}"}
                    return self._answer(200, {"target": answer,
                                              "check_in_seconds": fleet.check_in_seconds})
                return self._answer(404, {"error": "not_found", "message": self.path})

            def do_GET(self) -> None:
                prefix = "/api/v1/agent/snapshots/"
                if self.path.startswith(prefix):
                    if self._secret() not in fleet.devices:
                        return self._answer(401, {"error": "unauthorized", "message": "no"})
                    snapshot_id = self.path[len(prefix):]
                    with fleet.lock:
                        fleet.fetches.append(snapshot_id)
                    bundle = fleet.bundles.get(snapshot_id)
                    if bundle is None:
                        return self._answer(404, {"error": "not_found",
                                                  "message": "no such snapshot"})
                    return self._answer(200, bundle)
                return self._answer(404, {"error": "not_found", "message": self.path})

        self.registrations: list[dict[str, Any]] = getattr(self, "registrations", [])
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Go away: the port is closed until start() again (same port)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
