"""Snapshots: immutable, content-addressed, signed bundles of what a device runs.

A snapshot's id is the sha256 of its canonical form (`runtime.fleet.bundle`), so the same
content is the same snapshot: creating it again answers the existing one. The server signs
the id with its Ed25519 key; agents refuse anything it did not sign. Credentials are part
of the content (a changed password is a new snapshot) but are stored encrypted with
AES-256-GCM and only ever leave the server in clear inside a device's bundle; users see
which nodes have credentials and the names of their fields.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from runtime.fleet import audit
from runtime.fleet.audit import Actor
from runtime.fleet.bundle import content_id
from runtime.fleet.diff import diff_snapshots
from runtime.fleet.errors import FleetError, not_found
from runtime.fleet.keys import ServerKeys
from runtime.fleet.models import Snapshot

_SEALED = "v1:"  # the format tag, so a later scheme can be told apart from this one
_NONCE_BYTES = 12


class CredentialsUnreadable(Exception):
    """Stored credentials that the server's secret key cannot open."""


# -- signing and credentials at rest -------------------------------------------------------

def sign(keys: ServerKeys, snapshot_id: str) -> str:
    """The server's Ed25519 signature (hex) over the ASCII id."""
    return keys.signing.sign(snapshot_id.encode("ascii")).hex()


def seal_credentials(secret: bytes, credentials: Mapping[str, Any], snapshot_id: str) -> str:
    """Credentials encrypted with AES-256-GCM under a fresh random nonce, as
    `v1:<base64(nonce + ciphertext)>`. The snapshot id is the associated data, so a sealed
    value copied onto another snapshot's row does not open."""
    plain = json.dumps(credentials, sort_keys=True, separators=(",", ":"),
                       ensure_ascii=False).encode("utf-8")
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(secret).encrypt(nonce, plain, snapshot_id.encode("ascii"))
    return _SEALED + base64.b64encode(nonce + sealed).decode("ascii")


def open_credentials(secret: bytes, sealed: str, snapshot_id: str) -> dict[str, Any]:
    """The credentials `seal_credentials` sealed; CredentialsUnreadable when the key is
    not the one that sealed them or the stored text was altered."""
    if not sealed:  # a row written without credentials (never by `create_snapshot`)
        return {}
    if not sealed.startswith(_SEALED):
        raise CredentialsUnreadable("the stored credentials are in an unknown format")
    try:
        raw = base64.b64decode(sealed[len(_SEALED):], validate=True)
        plain = AESGCM(secret).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:],
                                       snapshot_id.encode("ascii"))
    except (binascii.Error, ValueError, InvalidTag) as exc:
        raise CredentialsUnreadable(
            "the stored credentials do not open with the server's secret key (a different "
            "key, or the row was altered)") from exc
    credentials: dict[str, Any] = json.loads(plain)
    return credentials


def credentials_of(keys: ServerKeys, snapshot: Snapshot) -> dict[str, Any]:
    """A snapshot's credentials in clear, for devices and for comparing snapshots only."""
    try:
        return open_credentials(keys.secret, snapshot.credentials_encrypted, snapshot.id)
    except CredentialsUnreadable as exc:
        raise FleetError(500, "credentials_unreadable",
                         f"snapshot {snapshot.id[:12]}: {exc}", snapshot=snapshot.id) from exc


def credential_fields(credentials: Mapping[str, Mapping[str, Any]]) -> dict[str, list[str]]:
    """What users may know of credentials: node ids and field names."""
    return {node_id: sorted(fields) for node_id, fields in sorted(credentials.items())}


# -- creating ------------------------------------------------------------------------------

def check_flows(flows: list[dict[str, Any]], modules: Mapping[str, str]) -> None:
    """Refuse (422 `invalid_flow`, with the findings) flows the validator finds errors in,
    as the runtime refuses such a deploy. Node types the validator does not know are let
    through when the snapshot names modules to install: they may provide them."""
    from flowschema.validator import validate_flow

    errors = [finding for finding in validate_flow(flows).errors
              if not (modules and finding.code == "unknown-type")]
    if errors:
        raise FleetError(422, "invalid_flow",
                         f"the flows have {len(errors)} validation error(s): {errors[0]}",
                         findings=[finding.to_dict() for finding in errors])


def _check_credentials(flows: list[dict[str, Any]],
                       credentials: Mapping[str, Mapping[str, Any]]) -> None:
    # Node-RED drops credentials of nodes that are gone; storing a secret no node uses
    # would only keep it around, so it is refused instead.
    ids = {node.get("id") for node in flows}
    strays = sorted(node_id for node_id in credentials if node_id not in ids)
    if strays:
        raise FleetError(422, "invalid_request",
                         f"credentials for nodes that are not in the flows: "
                         f"{', '.join(strays)}", nodes=strays)


def create_snapshot(session: Session, keys: ServerKeys, actor: Actor, *, name: str,
                    flows: list[dict[str, Any]],
                    credentials: Mapping[str, Mapping[str, Any]] | None = None,
                    settings: Mapping[str, Any] | None = None,
                    env: Mapping[str, str] | None = None,
                    modules: Mapping[str, str] | None = None, description: str = "",
                    parent_id: str | None = None, created_by: int | None = None
                    ) -> tuple[Snapshot, bool]:
    """The snapshot of this content and whether it is new. The same content answers the
    existing snapshot (its name, description and parent unchanged) and writes nothing.
    A new one is signed, its credentials sealed, and audited; the caller commits."""
    content: dict[str, Any] = {"flows": flows, "credentials": dict(credentials or {}),
                               "settings": dict(settings or {}), "env": dict(env or {}),
                               "modules": dict(modules or {})}
    try:
        snapshot_id = content_id(content)
    except (TypeError, ValueError) as exc:
        raise FleetError(422, "invalid_request",
                         f"the snapshot is not plain JSON: {exc}") from exc
    existing = session.get(Snapshot, snapshot_id)
    if existing is not None:
        return existing, False
    check_flows(flows, content["modules"])
    _check_credentials(flows, content["credentials"])
    if parent_id is not None and session.get(Snapshot, parent_id) is None:
        raise FleetError(422, "invalid_request", f"no parent snapshot {parent_id!r}",
                         parent=parent_id)
    snapshot = Snapshot(
        id=snapshot_id, name=name, description=description, flows=flows,
        credentials_encrypted=seal_credentials(keys.secret, content["credentials"],
                                               snapshot_id),
        credential_fields=credential_fields(content["credentials"]),
        settings=content["settings"], env=content["env"], modules=content["modules"],
        signature=sign(keys, snapshot_id), parent_id=parent_id, created_by=created_by)
    session.add(snapshot)
    try:
        session.flush()
    except IntegrityError:
        # Someone created the same content between our look and our insert: theirs is
        # the snapshot (ids are content, so it is this very one).
        session.rollback()
        raced = session.get(Snapshot, snapshot_id)
        if raced is None:
            raise
        return raced, False
    audit.record(session, actor, "snapshot.created", "snapshot", snapshot_id,
                 {"name": name, "parent": parent_id})
    return snapshot, True


# -- reading -------------------------------------------------------------------------------

def get_snapshot(session: Session, snapshot_id: str) -> Snapshot:
    snapshot = session.get(Snapshot, snapshot_id)
    if snapshot is None:
        raise not_found("snapshot", snapshot_id)
    return snapshot


def list_snapshots(session: Session, limit: int, offset: int) -> tuple[list[Snapshot], int]:
    """A page of snapshots, newest first, and how many there are in all."""
    total = session.scalar(select(func.count()).select_from(Snapshot)) or 0
    page = session.scalars(select(Snapshot)
                           .order_by(Snapshot.created_at.desc(), Snapshot.id)
                           .limit(limit).offset(offset)).all()
    return list(page), total


def content_of(keys: ServerKeys, snapshot: Snapshot) -> dict[str, Any]:
    """A stored snapshot's content, credentials opened (server side only)."""
    return {"flows": snapshot.flows, "credentials": credentials_of(keys, snapshot),
            "settings": snapshot.settings, "env": snapshot.env, "modules": snapshot.modules}


def diff(session: Session, keys: ServerKeys, from_id: str, to_id: str) -> dict[str, Any]:
    """What changed from one snapshot to another (credential field names, never values)."""
    old, new = get_snapshot(session, from_id), get_snapshot(session, to_id)
    return {"from_id": old.id, "to_id": new.id,
            **diff_snapshots(content_of(keys, old), content_of(keys, new))}


def bundle_for_device(session: Session, keys: ServerKeys, snapshot_id: str) -> dict[str, Any]:
    """The bundle a device fetches (docs/fleet.md), credentials in clear. The content is
    hashed again first: a row altered in the database fails here, with a clear error,
    rather than on every device that would fetch it and refuse it."""
    snapshot = get_snapshot(session, snapshot_id)
    content = content_of(keys, snapshot)
    if content_id(content) != snapshot.id:
        raise FleetError(500, "snapshot_corrupt",
                         f"snapshot {snapshot.id[:12]} no longer matches its id: its stored "
                         "content was altered", snapshot=snapshot.id)
    return {"id": snapshot.id, "name": snapshot.name, **content,
            "signature": snapshot.signature}
