"""Who is calling the assistant.

Local mode (the default, loopback only): one person on this machine; a request without a
token acts as the built-in user "local", an admin. Token mode: every request carries a
fleet user's token and acts with that user's role, exactly as the fleet routes do. Both
modes go through the fleet's `current_user`, so the fleet's roles and approval rules hold
in the web UI and the API alike."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from runtime.fleet.audit import SYSTEM
from runtime.fleet.auth import (
    Caller,
    Permission,
    SessionDep,
    client_address,
    current_user,
    hash_password,
)
from runtime.fleet.errors import FleetError
from runtime.fleet.models import ApiToken, Role, User
from runtime.fleet.tokens import USER_TOKEN

LOCAL_USER = "local"
LOCAL_TOKEN_NAME = "local single-user mode"


def ensure_local_user(sessions: sessionmaker[Session]) -> None:
    """The local admin and its token row exist (made once; the token's secret is thrown
    away: local mode never needs it, it only gives the Caller a row to point at)."""
    from runtime.fleet import accounts

    with sessions() as session:
        user = session.scalars(select(User).where(User.name == LOCAL_USER)).first()
        if user is None:
            user = User(name=LOCAL_USER, password_hash=hash_password(secrets.token_urlsafe(32)),
                        role=Role.admin)
            session.add(user)
            session.flush()
        if _local_token(session, user) is None:
            accounts.issue_token(session, SYSTEM, user, LOCAL_TOKEN_NAME, role=Role.admin)
        session.commit()


def _local_token(session: Session, user: User) -> ApiToken | None:
    return session.scalars(select(ApiToken).where(
        ApiToken.user_id == user.id, ApiToken.name == LOCAL_TOKEN_NAME,
        ApiToken.revoked_at.is_(None))).first()


def local_or_token_user(request: Request, session: SessionDep) -> Caller:
    """Replaces the fleet's `current_user` in local mode: no Authorization header means
    the local user; a header is checked as usual (so tokens work in local mode too)."""
    if request.headers.get("authorization"):
        return current_user(request, session)
    user = session.scalars(select(User).where(User.name == LOCAL_USER)).one()
    token = _local_token(session, user)
    if token is None:  # revoked by hand: make a new row rather than lock the owner out
        # End this transaction first: on SQLite it holds the one writer slot that
        # ensure_local_user's own session needs.
        session.rollback()
        ensure_local_user(request.app.state.sessions)
        user = session.scalars(select(User).where(User.name == LOCAL_USER)).one()
        token = _local_token(session, user)
        assert token is not None
    return Caller(user=user, role=user.role, token=token, source=client_address(request))


@dataclass(frozen=True)
class AssistantCaller:
    """Who asks the assistant: a name (sessions belong to it) and the role in force."""

    name: str
    role: Role


def assistant_caller(request: Request) -> AssistantCaller:
    """Resolve the caller in a short database session of its own.

    Not the fleet's per-request session: an assistant request may run for minutes, and on
    SQLite an open transaction holds the one writer slot the whole fleet shares."""
    settings = request.app.state.server_settings
    if settings.auth == "local" and not request.headers.get("authorization"):
        # The one local user, an admin by construction: no database round trip per call.
        return AssistantCaller(LOCAL_USER, Role.admin)
    resolve = local_or_token_user if settings.auth == "local" else current_user
    factory: sessionmaker[Session] = request.app.state.sessions
    with factory() as session:
        caller = resolve(request, session)
        if not caller.may(Permission.read):
            raise FleetError(403, "forbidden", "reading needs the viewer role or higher")
        found = AssistantCaller(caller.user.name, caller.role)
        session.commit()  # a token's last-used touch, if any
    return found


def client_caller(request: Request) -> AssistantCaller:
    """`assistant_caller` for clients that always send some API key (OpenAI chat clients,
    MCP hosts): in local mode a key that is not a Plumb user token is ignored instead of
    refused; a Plumb token is still checked."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    plumb_token = scheme.lower() == "bearer" and value.strip().startswith(USER_TOKEN)
    if request.app.state.server_settings.auth == "local" and not plumb_token:
        headers = [(k, v) for k, v in request.scope.get("headers", [])
                   if k != b"authorization"]
        request = Request({**request.scope, "headers": headers})
    return assistant_caller(request)


# The assistant's routes ask for reading rights: any signed-in user may generate, explain
# and validate. Deploying goes through the fleet routes with their own permissions.
AssistantUser = Annotated[AssistantCaller, Depends(assistant_caller)]
__all__ = ["AssistantUser", "client_caller", "ensure_local_user", "local_or_token_user"]
