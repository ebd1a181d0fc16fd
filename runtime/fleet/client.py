"""A small client for the fleet API, shared by `ask fleet` and the simulation harness.

Errors come back as `FleetClientError` carrying the server's envelope (`error`, `message`)
or, when the server cannot be reached, a plain sentence saying so.
"""

from __future__ import annotations

from typing import Any

import httpx


class FleetClientError(RuntimeError):
    def __init__(self, message: str, status: int | None = None, code: str = "",
                 body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.body = body or {}


class FleetClient:
    """Calls to one fleet server with one bearer token (a user token or a device
    credential)."""

    def __init__(self, server: str, token: str | None = None, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.server = server.rstrip("/")
        self._http = httpx.Client(base_url=self.server + "/api/v1", headers=headers,
                                  timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> FleetClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise FleetClientError(f"cannot reach the fleet server at {self.server}: "
                                   f"{exc}") from exc
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {}
            message = body.get("message") if isinstance(body, dict) else None
            raise FleetClientError(message or f"HTTP {response.status_code}",
                                   response.status_code,
                                   str(body.get("error", "")) if isinstance(body, dict)
                                   else "", body if isinstance(body, dict) else {})
        if not response.content:
            return None
        if "json" in response.headers.get("content-type", ""):
            return response.json()
        return response.text

    def get(self, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        return self.request("GET", path, params=clean)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, json=body if body is not None else {})

    def patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, json=body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)
