"""Users and their tokens: the operations the users router, the CLI and tests share.

Nothing here commits: the caller owns the transaction, so a change and its audit row land
together or not at all.
"""

from __future__ import annotations

import datetime as dt
from functools import cache

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from runtime.fleet import audit
from runtime.fleet.audit import Actor
from runtime.fleet.auth import check_password, hash_password
from runtime.fleet.db import utcnow
from runtime.fleet.errors import FleetError, not_found
from runtime.fleet.models import ActorKind, ApiToken, Role, User
from runtime.fleet.tokens import USER_TOKEN, digest, new_secret

# What `POST /auth/login` hands out: an ordinary API token with this name and lifetime, so
# sessions are listed, capped and revoked like any other token.
LOGIN_TOKEN_NAME = "login"
LOGIN_LIFETIME = dt.timedelta(hours=12)
# argon2 accepts any length; the cap keeps one request from costing a lot of hashing.
MAX_PASSWORD_LENGTH = 1024
# One message for an unknown name and a wrong password, so a login never tells which.
LOGIN_REFUSED = "wrong user name or password"


def check_password_rules(password: str, name: str, min_length: int) -> None:
    """Refuse (422 weak_password) a password that is too short, too long, one repeated
    character, or the user's own name."""
    problem = None
    if len(password) < min_length:
        problem = f"a password needs at least {min_length} characters"
    elif len(password) > MAX_PASSWORD_LENGTH:
        problem = f"a password has at most {MAX_PASSWORD_LENGTH} characters"
    elif len(set(password)) == 1:
        problem = "a password cannot be one character repeated"
    elif password.strip().casefold() == name.strip().casefold():
        problem = "a password cannot be the user's name"
    if problem:
        raise FleetError(422, "weak_password", problem)


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise not_found("user", user_id)
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.name)))


def create_user(session: Session, actor: Actor, name: str, password: str, role: Role,
                min_length: int = 10) -> User:
    """A new user (the name must be free, the password must pass the rules)."""
    name = name.strip()
    if not name:
        raise FleetError(422, "invalid_request", "a user needs a name")
    check_password_rules(password, name, min_length)
    if session.scalars(select(User).where(User.name == name)).first() is not None:
        raise FleetError(409, "conflict", f"a user named {name!r} exists")
    user = User(name=name, password_hash=hash_password(password), role=role)
    session.add(user)
    session.flush()
    audit.record(session, actor, "user.created", "user", user.id,
                 {"name": name, "role": role.value})
    return user


def _other_active_admins(session: Session, user: User) -> int:
    return session.scalar(select(func.count()).select_from(User).where(
        User.role == Role.admin, User.disabled.is_(False), User.id != user.id)) or 0


def update_user(session: Session, actor: Actor, user: User, *, role: Role | None = None,
                disabled: bool | None = None, password: str | None = None,
                min_length: int = 10) -> User:
    """An admin's change to a user: role, disabled, or a new password. Disabling writes
    `user.disabled`; anything else `user.updated`. The last enabled admin can be neither
    demoted nor disabled, or nobody could manage users any more."""
    losing_admin = user.role is Role.admin and not user.disabled and (
        (role is not None and role is not Role.admin) or disabled is True)
    if losing_admin and _other_active_admins(session, user) == 0:
        raise FleetError(409, "conflict", f"{user.name!r} is the last enabled admin")
    changes: dict[str, object] = {}
    if role is not None and role is not user.role:
        changes["role"] = {"from": user.role.value, "to": role.value}
        user.role = role
    if password is not None:
        check_password_rules(password, user.name, min_length)
        user.password_hash = hash_password(password)
        changes["password"] = "reset"  # never the password itself
    if disabled is False and user.disabled:
        changes["disabled"] = {"from": True, "to": False}
        user.disabled = False
    details = {"name": user.name, "role": user.role.value}
    if changes:
        audit.record(session, actor, "user.updated", "user", user.id,
                     {**details, "changes": changes})
    if disabled is True and not user.disabled:
        # Takes effect on the user's next request: auth refuses a disabled user's tokens.
        user.disabled = True
        audit.record(session, actor, "user.disabled", "user", user.id,
                     {**details, "changes": {"disabled": {"from": False, "to": True}}})
    session.flush()
    return user


def change_own_password(session: Session, actor: Actor, user: User, old_password: str,
                        new_password: str, min_length: int = 10) -> None:
    """A user's own password change: the old one must be right, the new one different."""
    if not check_password(user.password_hash, old_password):
        raise FleetError(400, "wrong_password", "the old password is wrong")
    if new_password == old_password:
        raise FleetError(422, "weak_password", "the new password is the old one")
    check_password_rules(new_password, user.name, min_length)
    user.password_hash = hash_password(new_password)
    audit.record(session, actor, "user.updated", "user", user.id,
                 {"name": user.name, "role": user.role.value,
                  "changes": {"password": "changed"}})
    session.flush()


@cache
def _decoy_hash() -> str:
    return hash_password("a password nobody has")


def authenticate(session: Session, name: str, password: str, source: str) -> User:
    """The user `name` if `password` is theirs and they are enabled. Otherwise a 401 is
    raised after a `login.failed` row was added to the session: the caller commits it
    before letting the refusal through."""
    user = session.scalars(select(User).where(User.name == name)).first()
    if user is None:
        # Hash anyway, so an unknown name takes as long as a wrong password.
        check_password(_decoy_hash(), password)
        reason, message = "unknown user", LOGIN_REFUSED
    elif not check_password(user.password_hash, password):
        reason, message = "wrong password", LOGIN_REFUSED
    elif user.disabled:
        # Said only to someone who knows the password.
        reason, message = "user disabled", "the user is disabled"
    else:
        return user
    audit.record(session, Actor(ActorKind.user, name[:100], source), "login.failed", "user",
                 user.id if user else "", {"name": name[:100], "reason": reason})
    raise FleetError(401, "unauthorized", message)


def start_session(session: Session, user: User, source: str) -> tuple[ApiToken, str]:
    """A login token for `user` (their full role, 12 hours) and its secret."""
    actor = Actor(ActorKind.user, user.name, source)
    token, secret = issue_token(session, actor, user, LOGIN_TOKEN_NAME,
                                expires_in=LOGIN_LIFETIME)
    audit.record(session, actor, "login.succeeded", "user", user.id,
                 {"name": user.name, "token": token.id})
    return token, secret


def issue_token(session: Session, actor: Actor, user: User, name: str,
                role: Role | None = None, expires_in: dt.timedelta | None = None,
                cap: Role | None = None) -> tuple[ApiToken, str]:
    """A new API token for `user`, acting at most as `role` (default: the ceiling).
    The ceiling is the user's role, or `cap` when lower: a token made through a capped
    token cannot act above the token it was made with.
    Returns the row and the secret, which is never stored and cannot be shown again."""
    ceiling = user.role if cap is None or cap.at_least(user.role) else cap
    role = role or ceiling
    if not ceiling.at_least(role):
        raise FleetError(403, "forbidden", f"a token cannot act as {role.value}: you act as "
                         f"{ceiling.value} at most", role_needed=role.value)
    secret = new_secret(USER_TOKEN)
    token = ApiToken(user_id=user.id, name=name, token_hash=digest(secret),
                     prefix=secret[:12], role=role,
                     expires_at=utcnow() + expires_in if expires_in else None)
    session.add(token)
    session.flush()
    audit.record(session, actor, "token.created", "token", token.id,
                 {"user": user.name, "name": name, "role": role.value})
    return token, secret


def list_tokens(session: Session, user: User, include_inactive: bool = False
                ) -> list[ApiToken]:
    """`user`'s tokens, newest first; revoked and expired ones only when asked for."""
    query = select(ApiToken).where(ApiToken.user_id == user.id)
    if not include_inactive:
        query = query.where(ApiToken.revoked_at.is_(None),
                            ApiToken.expires_at.is_(None) | (ApiToken.expires_at > utcnow()))
    return list(session.scalars(query.order_by(ApiToken.created_at.desc(),
                                               ApiToken.id.desc())))


def revoke_token(session: Session, actor: Actor, user: User, token_id: int) -> ApiToken:
    """Revoke one of `user`'s own tokens (another user's is "not found"). It stops working
    on its next request; revoking twice changes nothing more."""
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise not_found("token", token_id)
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record(session, actor, "token.revoked", "token", token.id,
                     {"user": user.name, "name": token.name, "role": token.role.value})
        session.flush()
    return token
