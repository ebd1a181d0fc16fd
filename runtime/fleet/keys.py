"""The server's keys: an Ed25519 key that signs snapshots (agents hold the public half and
refuse anything it did not sign) and a 256-bit key that encrypts snapshot credentials at
rest (AES-GCM). Both are made on first start, written with mode 0600, and read back after.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from runtime.fleet.settings import FleetSettings


@dataclass(frozen=True)
class ServerKeys:
    signing: Ed25519PrivateKey
    secret: bytes  # AES-256-GCM key for credentials at rest

    @property
    def public_pem(self) -> str:
        return self.signing.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def load_keys(settings: FleetSettings) -> ServerKeys:
    signing_path = settings.signing_key_path or settings.data_dir / "signing-key.pem"
    secret_path = settings.secret_key_path or settings.data_dir / "secret.key"
    if signing_path.exists():
        loaded = serialization.load_pem_private_key(signing_path.read_bytes(), password=None)
        if not isinstance(loaded, Ed25519PrivateKey):
            raise ValueError(f"{signing_path} is not an Ed25519 private key")
        signing = loaded
    else:
        signing = Ed25519PrivateKey.generate()
        _write_private(signing_path, signing.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
    if secret_path.exists():
        secret = base64.b64decode(secret_path.read_bytes().strip())
        if len(secret) != 32:
            raise ValueError(f"{secret_path} does not hold a 256-bit key")
    else:
        secret = os.urandom(32)
        _write_private(secret_path, base64.b64encode(secret) + b"\n")
    return ServerKeys(signing=signing, secret=secret)


def public_key_from_pem(pem: str) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key
