"""The role matrix of the users and devices routers: for every endpoint, the lowest role
that may call it; every role below gets 403, and bad tokens get 401 everywhere."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update

from runtime.fleet import accounts
from runtime.fleet.audit import SYSTEM
from runtime.fleet.db import session_factory, transaction, utcnow
from runtime.fleet.devices import create_group, create_provisioning_token, register_device
from runtime.fleet.models import ApiToken, Role, User
from runtime.fleet.routers import devices as devices_router
from runtime.fleet.routers import users as users_router
from tests.fleet.conftest import PASSWORD

API = "/api/v1"
Headers = Callable[[Role], dict[str, str]]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # {group}, {device}, {ptoken}, {user}, {own_token}: made by the `world`
    body: Any
    lowest: Role

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


MATRIX = [
    Endpoint("GET", "/auth/me", None, Role.viewer),
    Endpoint("POST", "/auth/password",
             {"old_password": PASSWORD, "new_password": "a brand new passphrase"}, Role.viewer),
    Endpoint("POST", "/tokens", {"name": "script"}, Role.viewer),
    Endpoint("GET", "/tokens", None, Role.viewer),
    Endpoint("DELETE", "/tokens/{own_token}", None, Role.viewer),
    Endpoint("POST", "/users", {"name": "newcomer", "password": PASSWORD}, Role.admin),
    Endpoint("GET", "/users", None, Role.admin),
    Endpoint("GET", "/users/{user}", None, Role.admin),
    Endpoint("PATCH", "/users/{user}", {"role": "member"}, Role.admin),
    Endpoint("POST", "/groups", {"name": "new-group"}, Role.owner),
    Endpoint("GET", "/groups", None, Role.viewer),
    Endpoint("GET", "/groups/{group}", None, Role.viewer),
    Endpoint("PATCH", "/groups/{group}", {"description": "renamed"}, Role.owner),
    Endpoint("DELETE", "/groups/{group}", None, Role.owner),
    Endpoint("GET", "/devices", None, Role.viewer),
    Endpoint("GET", "/devices/{device}", None, Role.viewer),
    Endpoint("PATCH", "/devices/{device}", {"tags": ["moved"]}, Role.owner),
    Endpoint("POST", "/devices/{device}/decommission", None, Role.owner),
    Endpoint("POST", "/provisioning-tokens", {"name": "more"}, Role.owner),
    Endpoint("GET", "/provisioning-tokens", None, Role.owner),
    Endpoint("DELETE", "/provisioning-tokens/{ptoken}", None, Role.owner),
]
# Anyone may try to log in: it is how a token is had in the first place.
PUBLIC = {("POST", "/auth/login")}

CASES = [(endpoint, role) for endpoint in MATRIX for role in Role
         if endpoint.lowest.at_least(role)]


@pytest.fixture
def world(db: Engine) -> dict[str, Any]:
    """One of each thing the paths name (ids), made directly in the database."""
    with transaction(session_factory(db)) as session:
        group = create_group(session, SYSTEM, "rbac-empty")
        home = create_group(session, SYSTEM, "rbac-home")
        token, secret = create_provisioning_token(session, SYSTEM, name="rbac",
                                                  group_id=home.id, uses=None)
        device, _ = register_device(session, secret, "rbac-device", [], "0.1", "plumb")
        user = accounts.create_user(session, SYSTEM, "rbac-target", PASSWORD, Role.viewer)
        return {"group": group.id, "device": device.id, "ptoken": token.id, "user": user.id}


def call(client: TestClient, endpoint: Endpoint, headers: dict[str, str],
         world: dict[str, Any]) -> Any:
    ids = dict(world)
    if "{own_token}" in endpoint.path:
        ids["own_token"] = client.get(f"{API}/auth/me", headers=headers).json()["token"]["id"]
    return client.request(endpoint.method, API + endpoint.path.format(**ids),
                          headers=headers, json=endpoint.body)


def test_the_matrix_covers_every_endpoint_of_the_routers() -> None:
    routes = {(method, route.path)
              for router in (users_router.router, devices_router.router)
              for route in router.routes if isinstance(route, APIRoute)
              for method in route.methods or ()}
    # Path parameters are named differently in the routers ({group_id}) and the matrix.
    def shape(path: str) -> str:
        return "/".join("{}" if part.startswith("{") else part for part in path.split("/"))

    assert {(m, shape(p)) for m, p in routes} == (
        {(e.method, shape(e.path)) for e in MATRIX} | PUBLIC)


@pytest.mark.parametrize(("endpoint", "role"), CASES,
                         ids=[f"{e}-as-{r.value}" for e, r in CASES])
def test_each_role_below_the_lowest_is_forbidden(client: TestClient, user_headers: Headers,
                                                 world: dict[str, Any], endpoint: Endpoint,
                                                 role: Role) -> None:
    response = call(client, endpoint, user_headers(role), world)
    if role is endpoint.lowest:
        assert 200 <= response.status_code < 300, response.text
        return
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["error"] == "forbidden" and body["role_needed"] == endpoint.lowest.value
    assert f"you act as {role.value}" in body["message"]


@pytest.mark.parametrize("endpoint", MATRIX, ids=str)
def test_no_token_is_401_everywhere(client: TestClient, world: dict[str, Any],
                                    endpoint: Endpoint) -> None:
    path = API + endpoint.path.format(**world, own_token=1)
    response = client.request(endpoint.method, path, json=endpoint.body)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


def test_login_needs_no_token(client: TestClient, user_headers: Headers) -> None:
    user_headers(Role.viewer)
    response = client.post(f"{API}/auth/login",
                           json={"name": "viewer-user", "password": PASSWORD})
    assert response.status_code == 200


# --- tokens that no longer work ----------------------------------------------------------

def _owner_token(db: Engine, role: Role = Role.owner,
                 token_role: Role | None = None) -> tuple[int, int, dict[str, str]]:
    """A user with `role` and a token (acting at most as `token_role`): ids and headers."""
    with transaction(session_factory(db)) as session:
        user = accounts.create_user(session, SYSTEM, f"holder-{role.value}", PASSWORD, role)
        token, secret = accounts.issue_token(session, SYSTEM, user, "t", role=token_role)
        return user.id, token.id, {"Authorization": f"Bearer {secret}"}


READ = Endpoint("GET", "/devices", None, Role.viewer)
WRITE = Endpoint("POST", "/groups", {"name": "after"}, Role.owner)


@pytest.mark.parametrize("endpoint", [READ, WRITE], ids=str)
@pytest.mark.parametrize("spoil", ["revoked", "expired", "user disabled"])
def test_spoiled_tokens_are_401(client: TestClient, db: Engine, world: dict[str, Any],
                                endpoint: Endpoint, spoil: str) -> None:
    user_id, token_id, headers = _owner_token(db)
    assert call(client, endpoint, headers, world).status_code in (200, 201)
    with transaction(session_factory(db)) as session:
        if spoil == "revoked":
            session.execute(update(ApiToken).where(ApiToken.id == token_id)
                            .values(revoked_at=utcnow()))
        elif spoil == "expired":
            session.execute(update(ApiToken).where(ApiToken.id == token_id)
                            .values(expires_at=utcnow() - dt.timedelta(seconds=1)))
        else:
            session.execute(update(User).where(User.id == user_id).values(disabled=True))
    retry = Endpoint(endpoint.method, endpoint.path, {"name": "after-2"}
                     if endpoint.body else None, endpoint.lowest)
    response = call(client, retry, headers, world)
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "unauthorized"


def test_revoking_through_the_api_takes_effect_on_the_next_request(
        client: TestClient, db: Engine) -> None:
    _user, token_id, headers = _owner_token(db)
    assert client.delete(f"{API}/tokens/{token_id}", headers=headers).status_code == 204
    assert client.get(f"{API}/auth/me", headers=headers).status_code == 401


@pytest.mark.parametrize(("cap", "allowed", "forbidden"), [
    (Role.viewer, READ, WRITE),
    (Role.owner, WRITE, Endpoint("GET", "/users", None, Role.admin)),
])
def test_a_capped_token_acts_at_its_cap(client: TestClient, db: Engine,
                                        world: dict[str, Any], cap: Role,
                                        allowed: Endpoint, forbidden: Endpoint) -> None:
    _user, _token, headers = _owner_token(db, Role.admin, token_role=cap)
    assert client.get(f"{API}/auth/me", headers=headers).json()["acting_role"] == cap.value
    assert 200 <= call(client, allowed, headers, world).status_code < 300
    refused = call(client, forbidden, headers, world)
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    assert f"you act as {cap.value}" in refused.json()["message"]
