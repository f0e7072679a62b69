"""Password and secret hashing.

Passwords people choose are hashed with Argon2id (argon2-cffi), slow on purpose.
Secrets Dockyard generates (robot secrets, OIDC users' CLI secrets) carry 256 random
bits, so a slow hash buys nothing against guessing: they are stored as SHA-256, which
lets every registry request that presents one be checked in microseconds.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()  # argon2id, the library's current recommended parameters
MIN_PASSWORD_LENGTH = 8


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_secret() -> str:
    """A generated secret: 32 random bytes, URL-safe text."""
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()


def verify_secret(stored: str, secret: str) -> bool:
    return hmac.compare_digest(stored.encode(), hash_secret(secret).encode())


def fingerprint(stored_hash: str | None) -> str:
    """A short, non-reversible tag of a stored hash: refresh tokens carry it, so changing
    a password or rotating a secret invalidates every refresh token issued before."""
    return hashlib.sha256((stored_hash or "").encode()).hexdigest()[:16]
