"""The fleet server's agent API (docs/fleet.md, "Device protocol"), seen from the device."""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

PREFIX = "/api/v1/agent"


class ServerUnreachable(ConnectionError):
    """No answer (network down, server stopped, timeout, 5xx): try again later."""


class ServerRefused(RuntimeError):
    """The server answered no (4xx): retrying the same request will not help."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error") or body.get("detail") or body)
    return str(body)[:300]


class ServerClient:
    def __init__(self, base_url: str, timeout: float = 15.0) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self._http = httpx.Client(timeout=timeout, follow_redirects=False)

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, path: str, secret: str,
                 body: dict[str, Any] | None = None) -> Any:
        url = urljoin(self.base_url, path.lstrip("/"))
        try:
            response = self._http.request(method, url, json=body,
                                          headers={"Authorization": f"Bearer {secret}"})
        except httpx.HTTPError as exc:
            raise ServerUnreachable(f"{method} {url}: {exc or type(exc).__name__}") from exc
        if response.status_code >= 500:
            raise ServerUnreachable(f"{method} {url}: HTTP {response.status_code} "
                                    f"{_message(response)}")
        if response.status_code >= 400:
            raise ServerRefused(response.status_code, _message(response))
        try:
            return response.json()
        except ValueError as exc:
            raise ServerUnreachable(f"{method} {url}: the answer is not JSON") from exc

    def register(self, token: str, name: str, tags: list[str], agent_version: str,
                 runtime_version: str) -> dict[str, Any]:
        answer = self._request("POST", f"{PREFIX}/register", token, {
            "name": name, "tags": tags, "agent_version": agent_version,
            "runtime_version": runtime_version})
        if not isinstance(answer, dict) or not {"device_id", "credential"} <= answer.keys():
            raise ServerRefused(200, "the registration answer lacks device_id or credential")
        return answer

    def check_in(self, credential: str, report: dict[str, Any]) -> dict[str, Any]:
        answer = self._request("POST", f"{PREFIX}/check-in", credential, report)
        if not isinstance(answer, dict):
            raise ServerUnreachable("the check-in answer is not a JSON object")
        return answer

    def fetch(self, credential: str, url_or_id: str) -> Any:
        """The bundle at `url_or_id` (a path on this server, as the check-in answer gives
        it, or a bare snapshot id). The credential never goes to another host."""
        path = url_or_id if "/" in url_or_id else f"{PREFIX}/snapshots/{url_or_id}"
        parts = urlsplit(path)
        if parts.scheme or parts.netloc:
            base = urlsplit(self.base_url)
            if (parts.scheme, parts.netloc) != (base.scheme, base.netloc):
                raise ServerRefused(0, f"the snapshot URL {path} is not on this server")
            path = parts.path
        return self._request("GET", path, credential)
