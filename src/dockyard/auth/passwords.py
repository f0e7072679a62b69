"""Password and secret hashing.

Passwords people choose are hashed with Argon2id (argon2-cffi), slow on purpose.
Secrets Dockyard generates (robot secrets, OIDC users' CLI secrets) carry 256 random
bits, so a slow hash buys nothing against guessing: they are stored as SHA-256, which
lets every registry request that presents one be checked in microseconds.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from dockyard.errors import TooManyRequests

T = TypeVar("T")

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


class HashingPool:
    """Threads of their own for password hashing (Argon2 is slow and memory-hard on
    purpose): at most `threads` hashes at once and `queue` logins waiting, beyond which
    a login is refused with 429 at once. Blob reads and digest hashing run on the
    default executor, which a login storm therefore never fills."""

    def __init__(self, threads: int, queue: int) -> None:
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="argon2")
        self._limit = threads + queue
        self._held = 0

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        if self._held >= self._limit:
            raise TooManyRequests("too many logins at once: try again in a moment", retry_after=1)
        self._held += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        finally:
            self._held -= 1

    async def hash_password(self, password: str) -> str:
        return await self.run(hash_password, password)

    async def verify_password(self, stored: str, password: str) -> bool:
        return await self.run(verify_password, stored, password)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
