"""Secrets handed out by the fleet (API tokens, device credentials, provisioning tokens):
random, shown once, stored only as a sha256, compared in constant time."""

from __future__ import annotations

import hashlib
import secrets

# The prefix says what a leaked secret is for (and lets secret scanners find it).
USER_TOKEN = "plumb_u_"
DEVICE_CREDENTIAL = "plumb_d_"
PROVISIONING_TOKEN = "plumb_p_"


def new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
