"""People: logging in, who am I, users (admins), and one's own API tokens.

A login is an API token named "login" that expires after 12 hours, so sessions are listed
and revoked like any other token. Token secrets appear once, in the answer that creates
them; the server keeps only their sha256.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from runtime.fleet import accounts
from runtime.fleet.auth import (
    Caller,
    CallerDep,
    Permission,
    SessionDep,
    SettingsDep,
    client_address,
    require,
)
from runtime.fleet.errors import FleetError
from runtime.fleet.models import Role
from runtime.fleet.routers import RowId

router = APIRouter()

UserAdmin = Annotated[Caller, require(Permission.manage_users)]
TokenOwner = Annotated[Caller, require(Permission.manage_own_tokens)]

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
# Length rules beyond "not empty" are the server's password rules (accounts), which answer
# with their own message; the cap here only keeps huge bodies from being hashed.
Password = Annotated[str, Field(min_length=1, max_length=accounts.MAX_PASSWORD_LENGTH)]


# --- schemas -----------------------------------------------------------------------------

class Login(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    password: Password


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    password: Password
    role: Role = Role.viewer


class UserUpdate(BaseModel):
    """What an admin may change; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    disabled: bool | None = None
    password: Password | None = None


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    old_password: Password
    new_password: Password


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    role: Role
    disabled: bool
    created_at: dt.datetime


class UsersPublic(BaseModel):
    data: list[UserPublic]
    count: int


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    role: Role | None = Field(
        default=None, description="The most the token may do; default: the role you act as.")
    expires_in_seconds: float | None = Field(
        default=None, gt=0, le=10 * 365 * 86400, description="None: never expires.")


class TokenPublic(BaseModel):
    """A token as listed: never its secret, only the first characters to recognise it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    prefix: str
    name: str
    role: Role
    created_at: dt.datetime
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class TokensPublic(BaseModel):
    data: list[TokenPublic]
    count: int


class TokenCreated(BaseModel):
    token: TokenPublic
    secret: str = Field(description="Shown this once; the server keeps only its sha256.")


class LoginSession(BaseModel):
    """The answer to a login: the bearer secret of a 12-hour token."""

    token: str
    token_type: str = "bearer"
    token_id: int
    expires_at: dt.datetime | None  # always set: 12 hours after the login
    user: UserPublic


class Me(BaseModel):
    user: UserPublic
    acting_role: Role = Field(description="The user's role, capped by the token's.")
    token: TokenPublic


# --- login and self ----------------------------------------------------------------------

@router.post("/auth/login", tags=["auth"])
def login(body: Login, request: Request, session: SessionDep) -> LoginSession:
    """Exchange a name and password for a session token (valid 12 hours)."""
    source = client_address(request)
    try:
        user = accounts.authenticate(session, body.name, body.password, source)
    except FleetError:
        session.commit()  # the login.failed row is kept although the answer is a refusal
        raise
    token, secret = accounts.start_session(session, user, source)
    session.commit()
    return LoginSession(token=secret, token_id=token.id, expires_at=token.expires_at,
                        user=UserPublic.model_validate(user))


@router.get("/auth/me", tags=["auth"])
def me(caller: CallerDep) -> Me:
    return Me(user=UserPublic.model_validate(caller.user), acting_role=caller.role,
              token=TokenPublic.model_validate(caller.token))


@router.post("/auth/password", status_code=status.HTTP_204_NO_CONTENT, tags=["auth"])
def change_password(body: PasswordChange, caller: CallerDep, session: SessionDep,
                    settings: SettingsDep) -> None:
    """Change one's own password (the old one is asked for again)."""
    accounts.change_own_password(session, caller.actor, caller.user, body.old_password,
                                 body.new_password, settings.password_min_length)
    session.commit()


# --- users (admins) ----------------------------------------------------------------------

@router.post("/users", status_code=status.HTTP_201_CREATED, tags=["users"])
def create_user(body: UserCreate, caller: UserAdmin, session: SessionDep,
                settings: SettingsDep) -> UserPublic:
    user = accounts.create_user(session, caller.actor, body.name, body.password, body.role,
                                settings.password_min_length)
    session.commit()
    return UserPublic.model_validate(user)


@router.get("/users", tags=["users"])
def list_users(caller: UserAdmin, session: SessionDep) -> UsersPublic:
    users = accounts.list_users(session)
    return UsersPublic(data=[UserPublic.model_validate(u) for u in users], count=len(users))


@router.get("/users/{user_id}", tags=["users"])
def get_user(user_id: RowId, caller: UserAdmin, session: SessionDep) -> UserPublic:
    return UserPublic.model_validate(accounts.get_user(session, user_id))


@router.patch("/users/{user_id}", tags=["users"])
def update_user(user_id: RowId, body: UserUpdate, caller: UserAdmin, session: SessionDep,
                settings: SettingsDep) -> UserPublic:
    """Change a user's role, disable or enable them, or reset their password."""
    user = accounts.update_user(session, caller.actor, accounts.get_user(session, user_id),
                                role=body.role, disabled=body.disabled,
                                password=body.password,
                                min_length=settings.password_min_length)
    session.commit()
    return UserPublic.model_validate(user)


# --- one's own tokens --------------------------------------------------------------------

@router.post("/tokens", status_code=status.HTTP_201_CREATED, tags=["tokens"])
def create_token(body: TokenCreate, caller: TokenOwner, session: SessionDep) -> TokenCreated:
    """A new token for yourself, acting at most as the role you act as now."""
    expires_in = (dt.timedelta(seconds=body.expires_in_seconds)
                  if body.expires_in_seconds is not None else None)
    token, secret = accounts.issue_token(session, caller.actor, caller.user, body.name,
                                         role=body.role, expires_in=expires_in,
                                         cap=caller.role)
    session.commit()
    return TokenCreated(token=TokenPublic.model_validate(token), secret=secret)


@router.get("/tokens", tags=["tokens"])
def list_tokens(caller: TokenOwner, session: SessionDep,
                include_inactive: bool = False) -> TokensPublic:
    """Your tokens; revoked and expired ones with `include_inactive=true`."""
    tokens = accounts.list_tokens(session, caller.user, include_inactive)
    return TokensPublic(data=[TokenPublic.model_validate(t) for t in tokens],
                        count=len(tokens))


@router.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT,
               tags=["tokens"])
def revoke_token(token_id: RowId, caller: TokenOwner, session: SessionDep) -> None:
    """Revoke one of your tokens; it is refused from its next request on."""
    accounts.revoke_token(session, caller.actor, caller.user, token_id)
    session.commit()
