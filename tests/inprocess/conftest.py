"""The registry and HTTP layers in process: the real ASGI app (real SQLite, real local
folder) driven through httpx's ASGI transport, no server process, no sockets. Fast
feedback on routing, authorization and error rendering; the real-server tests (spec,
e2e, access) stay the contract for what crosses the wire."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from dockyard.app import DockyardApp
from dockyard.auth.bootstrap import ensure_admin
from dockyard.capabilities import Capability, migration_branches
from dockyard.config import load_settings
from dockyard.metadata.migrate import upgrade
from dockyard.metadata.sql import SqlMetadataStore
from dockyard.metadata.sql_identity import sql_identity

ADMIN = ("admin", "in-process-admin-password")
BASE = "http://127.0.0.1:5000"


@dataclass
class InProcess:
    app: DockyardApp
    transport: httpx.ASGITransport

    def client(self, auth: tuple[str, str] | None = None, **kwargs: object) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=self.transport,
            base_url=BASE,
            auth=auth,
            **kwargs,  # type: ignore[arg-type]
        )


@contextlib.asynccontextmanager
async def running(
    data_dir: Path,
    capabilities: Sequence[Capability] = (),
    overrides: dict[str, object] | None = None,
) -> AsyncIterator[InProcess]:
    """The app started on `data_dir` (migrated, with the administrator ADMIN)."""
    settings = load_settings(
        None,
        {"data_dir": str(data_dir), "auth": {"login": {"max_failures": 100}}, **(overrides or {})},
        capabilities,
    )
    await upgrade(settings.database_url, branches=migration_branches(capabilities))
    store = SqlMetadataStore(settings.database_url, pool_size=1)
    try:
        await ensure_admin(sql_identity(store).users, ADMIN[0], ADMIN[1])
    finally:
        await store.close()
    app = DockyardApp(settings, capabilities)
    await app.startup()
    try:
        # the client address a real server would see (the gate reads it for throttling)
        yield InProcess(app, httpx.ASGITransport(app=app, client=("127.0.0.1", 40000)))
    finally:
        await app.shutdown()


@pytest.fixture
async def registry(tmp_path: Path) -> AsyncIterator[InProcess]:
    async with running(tmp_path) as r:
        yield r
