"""Redis-backed cache shared by every replica.

Two levels: entries live in Redis (shared, so one replica's lookup warms all)
and in a small in-process map; both are stamped with the scope's generation
token. A lookup costs one Redis round trip that fetches the current token and
the shared entry together (MGET), so an entry is served only if no write to
its scope has happened since it was filled — on any replica.

Writers call `invalidate` after their transaction commits and before they
answer; it replaces the scope's token. If Redis cannot be reached then, the
error propagates (the client sees 500 and retries its idempotent write) rather
than risk another replica serving the old tag. If Redis cannot be reached
on a lookup, the lookup is a miss and goes to the database.

Values are stored as JSON, never pickle, so a compromised Redis cannot run
code in the registry.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from collections import OrderedDict
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from dockyard.cache.codec import Codec

log = logging.getLogger(__name__)
INVALIDATE_ATTEMPTS = 3
UNAVAILABLE = b"unavailable:"


def _b(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def _encode(token: bytes, payload: bytes) -> bytes:
    return json.dumps({"t": token.hex(), "v": base64.b64encode(payload).decode()}).encode()


def _decode(data: bytes) -> tuple[bytes, bytes]:
    doc = json.loads(data)
    return bytes.fromhex(doc["t"]), base64.b64decode(doc["v"])


class RedisCache:
    def __init__(
        self,
        url: str,
        *,
        codec: Codec,
        max_entries: int,
        max_bytes: int,
        ttl: float,
        key_prefix: str = "dockyard:",
    ) -> None:
        self._prefix = key_prefix
        self._codec = codec
        self._redis = aioredis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._local: OrderedDict[tuple[str, str], tuple[bytes, int, Any]] = OrderedDict()
        self._bytes = 0
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._ttl = ttl
        self._last_warning = 0.0
        self.hits = 0
        self.misses = 0

    def _gen_key(self, scope: str) -> str:
        return f"{self._prefix}gen:{scope}"

    def _entry_key(self, scope: str, key: str) -> str:
        return f"{self._prefix}m:{scope}\x00{key}"

    def _warn(self, what: str, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._last_warning > 30:
            self._last_warning = now
            log.warning("redis %s failed (%s); falling back to the database", what, exc)

    async def token(self, scope: str) -> bytes:
        """The scope's generation. A missing one (never written, or evicted by Redis)
        is created at random, so entries stamped before an eviction never match."""
        gen = self._gen_key(scope)
        try:
            await self._redis.set(gen, os.urandom(8).hex(), nx=True)
            value = await self._redis.get(gen)
        except RedisError as exc:
            self._warn("token read", exc)
            value = None
        if value is None:
            return UNAVAILABLE + os.urandom(8)  # never matches: nothing gets cached
        return _b(value)

    async def get(self, scope: str, key: str) -> Any | None:
        try:
            current, shared = await self._redis.mget(
                self._gen_key(scope), self._entry_key(scope, key)
            )
        except RedisError as exc:
            self._warn("lookup", exc)
            self.misses += 1
            return None
        if current is None:
            self.misses += 1
            return None
        current = _b(current)
        local = self._local.get((scope, key))
        if local is not None and local[0] == current:
            self._local.move_to_end((scope, key))
            self.hits += 1
            return local[2]
        if shared is not None:
            try:
                token, payload = _decode(_b(shared))
                record = self._codec.loads(payload)
            except (ValueError, KeyError, TypeError):
                token = b""
            if token == current:
                self._remember(scope, key, token, record, len(payload) + 256)
                self.hits += 1
                return record
        self.misses += 1
        return None

    async def put(self, scope: str, key: str, value: Any, token: bytes, size: int) -> None:
        if size > self._max_bytes // 16 or token.startswith(UNAVAILABLE):
            return
        payload = self._codec.dumps(value)
        try:
            await self._redis.set(
                self._entry_key(scope, key), _encode(token, payload), ex=max(int(self._ttl), 1)
            )
        except RedisError as exc:
            self._warn("store", exc)
        self._remember(scope, key, token, value, size)

    def _remember(self, scope: str, key: str, token: bytes, value: Any, size: int) -> None:
        k = (scope, key)
        old = self._local.pop(k, None)
        if old is not None:
            self._bytes -= old[1]
        self._local[k] = (token, size, value)
        self._bytes += size
        while len(self._local) > self._max_entries or self._bytes > self._max_bytes:
            _, (_, dropped, _) = self._local.popitem(last=False)
            self._bytes -= dropped

    async def invalidate(self, scope: str) -> None:
        last: RedisError | None = None
        for _ in range(INVALIDATE_ATTEMPTS):
            try:
                await self._redis.set(self._gen_key(scope), os.urandom(8).hex())
                return
            except RedisError as exc:
                last = exc
        log.error("could not invalidate the shared cache for %s: %s", scope, last)
        raise RuntimeError(f"shared cache invalidation failed for {scope}") from last

    async def ping(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        await self._redis.aclose()
