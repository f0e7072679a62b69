"""Apply Alembic migrations programmatically (no alembic.ini needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text

from dockyard.metadata.engine import make_engines

MIGRATIONS = Path(__file__).with_name("migrations")
LOCK_KEY = 0x646F636B79617264  # "dockyard": the advisory lock migrators share


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


async def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at `url` to `revision` in one transaction.

    Concurrent migrators (several replicas starting at once) are serialized:
    on SQLite by the writer engine's BEGIN IMMEDIATE, on PostgreSQL by a
    transaction-scoped advisory lock. The second one waits, then finds
    nothing left to do.
    """
    _, writer = make_engines(url, pool_size=1)
    cfg = alembic_config()

    def run(sync_conn: Any) -> None:
        cfg.attributes["connection"] = sync_conn
        command.upgrade(cfg, revision)

    try:
        async with writer.begin() as conn:
            if conn.dialect.name == "postgresql":
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
            await conn.run_sync(run)
    finally:
        await writer.dispose()
