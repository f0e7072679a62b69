"""Throwaway PostgreSQL databases on the server at 127.0.0.1:5432 (trust auth)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import asyncpg  # type: ignore[import-untyped]

ADMIN_URL = os.environ.get(
    "DOCKYARD_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _with_database(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


async def _admin(sql: str) -> None:
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(sql)
    finally:
        await admin.close()


def _new_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@asynccontextmanager
async def temporary_database(prefix: str = "dockyard_test") -> AsyncIterator[str]:
    """Create an empty database, yield its URL, drop it (and its connections) afterwards."""
    name = _new_name(prefix)
    await _admin(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(ADMIN_URL, name)
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def temporary_database_sync(prefix: str = "dockyard_test") -> Iterator[str]:
    """`temporary_database` for synchronous (module-scoped) fixtures.

    Plain coroutines, one `asyncio.run` each: an async generator entered under one
    `asyncio.run` is finalized (its `finally`, the DROP) when that loop shuts down.
    """
    name = _new_name(prefix)
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield _with_database(ADMIN_URL, name)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
