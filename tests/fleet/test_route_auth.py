"""Every route of the fleet app, found by walking the app (so a new route cannot slip
through): without a token it is refused; a device credential opens only the agent's
routes and a user token none of them; a viewer cannot change anything but their own
tokens and password. The allowed roles per route are tested with each router."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from runtime.fleet.app import create_fleet_app
from runtime.fleet.models import Role
from runtime.fleet.settings import FleetSettings

PUBLIC = {("POST", "/api/v1/auth/login")}
DEVICE_PROVISIONING = {("POST", "/api/v1/agent/register")}
VIEWER_MAY_CHANGE = {("POST", "/api/v1/tokens"), ("DELETE", "/api/v1/tokens/{token_id}"),
                     ("POST", "/api/v1/auth/password")}
# Snapshots are immutable: these answer 405 to everyone.
IMMUTABLE = {(m, "/api/v1/snapshots/{snapshot_id}") for m in ("PUT", "PATCH", "DELETE")}


def routes() -> list[tuple[str, str]]:
    """(method, path) of every operation, as the app's OpenAPI document lists them."""
    app = create_fleet_app(FleetSettings(database_url="sqlite://"), run_controller=False)
    found = []
    for path, operations in app.openapi()["paths"].items():
        found += [(method.upper(), path) for method in sorted(operations)
                  if method in ("get", "post", "put", "patch", "delete")]
    return found


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


ALL = routes()


def test_the_walk_finds_the_routers() -> None:
    paths = {p for _, p in ALL}
    for prefix in ("/api/v1/users", "/api/v1/devices", "/api/v1/snapshots",
                   "/api/v1/rollouts", "/api/v1/pipelines", "/api/v1/audit",
                   "/api/v1/agent/check-in"):
        assert any(p.startswith(prefix) for p in paths), prefix


@pytest.mark.parametrize(("method", "path"), [r for r in ALL if r not in PUBLIC | IMMUTABLE])
def test_no_token_is_refused(client: TestClient, method: str, path: str) -> None:
    # Registration reads its (provisioning) token after the body: give it a valid one.
    body = {"name": "box"} if (method, path) in DEVICE_PROVISIONING else {}
    response = client.request(method, concrete(path), json=body)
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "unauthorized"


@pytest.mark.parametrize(("method", "path"), [
    r for r in ALL if r[1].startswith("/api/v1/agent/") and r not in DEVICE_PROVISIONING])
def test_a_user_token_does_not_open_the_agent_routes(
        client: TestClient, user_headers: Callable[[Role], dict[str, str]], method: str,
        path: str) -> None:
    response = client.request(method, concrete(path), json={},
                              headers=user_headers(Role.admin))
    assert response.status_code == 401


@pytest.mark.parametrize(("method", "path"), [
    r for r in ALL if r[0] in ("POST", "PUT", "PATCH", "DELETE")
    and not r[1].startswith("/api/v1/agent/")
    and r not in PUBLIC | VIEWER_MAY_CHANGE | IMMUTABLE])
def test_a_viewer_changes_nothing(client: TestClient,
                                  user_headers: Callable[[Role], dict[str, str]],
                                  method: str, path: str) -> None:
    response = client.request(method, concrete(path), json={},
                              headers=user_headers(Role.viewer))
    assert response.status_code == 403, response.text
    body: dict[str, Any] = response.json()
    assert body["error"] == "forbidden" and body["role_needed"] != "viewer"


def test_numbers_too_large_for_the_database_are_a_422(client: TestClient,
                                                      user_headers: Any) -> None:
    headers = user_headers(Role.admin)
    # Past 64-bit integers: refused on both databases.
    for path in ("/api/v1/rollouts?group_id=36893488147419103232",
                 "/api/v1/rollouts/36893488147419103232"):
        answer = client.get(path, headers=headers)
        assert answer.status_code == 422, (path, answer.text)
        assert answer.json()["error"] == "invalid_request"
    # Past PostgreSQL's 32-bit integer columns (a plain miss on SQLite): never a 500.
    for path in ("/api/v1/rollouts?stage_id=4294967296", "/api/v1/groups/4294967296"):
        answer = client.get(path, headers=headers)
        assert answer.status_code in (200, 404, 422), (path, answer.text)
        if answer.status_code >= 400:
            assert answer.json()["error"] in ("invalid_request", "not_found")
