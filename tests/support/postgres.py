"""Throwaway PostgreSQL databases on the server at 127.0.0.1:5432 (trust auth)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import asyncpg

ADMIN_URL = os.environ.get(
    "DOCKYARD_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _with_database(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


@asynccontextmanager
async def temporary_database(prefix: str = "dockyard_test") -> AsyncIterator[str]:
    """Create an empty database, yield its URL, drop it (and its connections) afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield _with_database(ADMIN_URL, name)
    finally:
        admin = await asyncpg.connect(ADMIN_URL)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@contextmanager
def temporary_database_sync(prefix: str = "dockyard_test") -> Iterator[str]:
    """`temporary_database` for synchronous (module-scoped) fixtures."""
    cm = temporary_database(prefix)
    url = asyncio.run(cm.__aenter__())
    try:
        yield url
    finally:
        asyncio.run(cm.__aexit__(None, None, None))
