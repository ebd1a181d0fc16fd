"""A snapshot's canonical form, its id, and the check an agent makes before it applies a
bundle: the id is the sha256 of the content, and the server signed that id.

Pure functions with no database or server imports: the agent imports this module, and the
server computes ids with the very same code, so the two can never disagree on a byte.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

# What a snapshot is made of. Name and description are left out on purpose: the same
# content is the same snapshot, whatever it is called.
CONTENT_KEYS = ("flows", "credentials", "settings", "env", "modules")

_HEX_ID = re.compile(r"[0-9a-f]{64}")


class BundleError(ValueError):
    """A bundle that must not be applied: malformed, altered, or not signed by the server."""


def canonical(content: Mapping[str, Any]) -> bytes:
    """The bytes a snapshot's id is the sha256 of (docs/fleet.md): the content keys only,
    sorted, without spaces, UTF-8. Raises ValueError for content JSON cannot carry (NaN,
    lone surrogates) and TypeError for values that are not JSON at all."""
    missing = [key for key in CONTENT_KEYS if key not in content]
    if missing:
        raise ValueError(f"a snapshot needs {', '.join(missing)}")
    text = json.dumps({key: content[key] for key in CONTENT_KEYS}, sort_keys=True,
                      separators=(",", ":"), ensure_ascii=False,
                      # NaN is not JSON: another parser (or PostgreSQL) would refuse it.
                      allow_nan=False)
    return text.encode("utf-8")


def content_id(content: Mapping[str, Any]) -> str:
    """The snapshot id of `content`: sha256 of its canonical form, hex."""
    return hashlib.sha256(canonical(content)).hexdigest()


def _public_key(key: Ed25519PublicKey | str | bytes) -> Ed25519PublicKey:
    if isinstance(key, Ed25519PublicKey):
        return key
    try:
        loaded = serialization.load_pem_public_key(key.encode() if isinstance(key, str)
                                                   else key)
    except ValueError as exc:
        raise BundleError(f"the server key is not a PEM public key: {exc}") from exc
    if not isinstance(loaded, Ed25519PublicKey):
        raise BundleError("the server key is not an Ed25519 public key")
    return loaded


def verify_bundle(bundle: Mapping[str, Any], public_key: Ed25519PublicKey | str | bytes
                  ) -> str:
    """Check a bundle from `GET /api/v1/agent/snapshots/{id}` before applying it: its id
    must be the sha256 of its canonical content and its signature the server's Ed25519
    signature over that id. `public_key` is the pinned key (object or PEM). Returns the id;
    raises BundleError saying what is wrong."""
    if not isinstance(bundle, Mapping):
        raise BundleError("a bundle is a JSON object")
    missing = [key for key in ("id", "signature", *CONTENT_KEYS) if key not in bundle]
    if missing:
        raise BundleError(f"the bundle lacks {', '.join(missing)}")
    claimed, signature = bundle["id"], bundle["signature"]
    if not isinstance(claimed, str) or not _HEX_ID.fullmatch(claimed):
        raise BundleError("the bundle's id is not a sha256 hex digest")
    try:
        actual = content_id(bundle)
    except (TypeError, ValueError) as exc:
        raise BundleError(f"the bundle's content is not canonical JSON: {exc}") from exc
    if not hmac.compare_digest(actual, claimed):
        raise BundleError(f"the bundle's content does not match its id: it claims "
                          f"{claimed[:12]}, its content hashes to {actual[:12]}")
    try:
        raw = bytes.fromhex(signature) if isinstance(signature, str) else b""
    except ValueError:
        raw = b""
    if len(raw) != 64:
        raise BundleError("the bundle's signature is not a hex Ed25519 signature")
    try:
        _public_key(public_key).verify(raw, claimed.encode("ascii"))
    except InvalidSignature as exc:
        raise BundleError(f"snapshot {claimed[:12]} is not signed by the pinned server key"
                          ) from exc
    return claimed
