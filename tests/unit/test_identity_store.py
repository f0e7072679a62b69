"""Identity migrations: existing repositories join projects."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from dockyard.metadata.engine import async_url
from dockyard.metadata.identity import Page
from dockyard.metadata.migrate import upgrade
from dockyard.metadata.sql import SqlMetadataStore
from dockyard.metadata.sql_identity import sql_identity


async def test_migration_puts_existing_repositories_into_projects(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    await upgrade(url, "0001")
    engine = create_async_engine(async_url(url))
    now = dt.datetime.now(dt.UTC)
    async with engine.begin() as conn:
        for i, name in enumerate(("team-a/app", "team-a/web", "solo"), start=1):
            await conn.execute(
                text("INSERT INTO repositories (id, name, created_at) VALUES (:i, :n, :t)"),
                {"i": i, "n": name, "t": now},
            )
        await conn.execute(
            text("INSERT INTO blobs (digest, size, created_at) VALUES ('sha256:aa', 7, :t)"),
            {"t": now},
        )
        for rid in (1, 2):
            await conn.execute(
                text("INSERT INTO repository_blobs VALUES (:r, 'sha256:aa', :t)"),
                {"r": rid, "t": now},
            )
    await engine.dispose()
    await upgrade(url)
    store = SqlMetadataStore(url)
    try:
        ids = sql_identity(store)
        team = await ids.projects.get_project("team-a")
        assert team is not None and not team.public and team.used_bytes == 7
        assert await ids.projects.get_project("solo") is not None
        repos, total = await ids.catalog.list_project_repositories("team-a", None, Page())
        assert total == 2 and [r.name for r in repos] == ["team-a/app", "team-a/web"]
    finally:
        await store.close()
