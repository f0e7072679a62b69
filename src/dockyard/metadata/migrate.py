"""Apply Alembic migrations programmatically (no alembic.ini needed).

The core's revisions are one linear branch (metadata/migrations/versions). A
capability that brings tables brings its own folder of revisions (its `migrations`
slot, dockyard.capabilities): a branch of its own, labelled with the capability's
name, whose first revision `depends_on` the core revision it needs. `upgrade`
applies every branch ("heads"); `expected_heads` is what a database must be at for
this build, which the server checks at start.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text

from dockyard.metadata.engine import make_engines

MIGRATIONS = Path(__file__).with_name("migrations")
LOCK_KEY = 0x646F636B79617264  # "dockyard": the advisory lock migrators share


def alembic_config(branches: Iterable[Path] = ()) -> Config:
    """`branches`: the capabilities' migration folders, beside the core's."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    locations = [str(MIGRATIONS / "versions"), *(str(p) for p in branches)]
    # a separator no path contains, so folders with spaces or colons are safe
    cfg.set_main_option("path_separator", "newline")
    cfg.set_main_option("version_locations", "\n".join(locations))
    return cfg


def head_revision() -> str:
    """The core branch's head."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def expected_heads(branches: Sequence[Path] = ()) -> set[str]:
    """The revision of every branch's head in this build."""
    return set(ScriptDirectory.from_config(alembic_config(branches)).get_heads())


def core_revision(db_heads: set[str], branches: Sequence[Path] = ()) -> str | None:
    """The newest core revision a database at `db_heads` has applied."""
    core = [rev.revision for rev in ScriptDirectory.from_config(alembic_config()).walk_revisions()]
    script = ScriptDirectory.from_config(alembic_config(branches))
    known = {rev.revision for rev in script.walk_revisions()}
    heads = tuple(h for h in db_heads if h in known)
    applied = {rev.revision for rev in script.iterate_revisions(heads, "base")}
    return next((rev for rev in core if rev in applied), None)  # core is newest first


def schema_problem(db_heads: set[str], branches: Sequence[Path] = ()) -> str | None:
    """Why a database at `db_heads` (alembic_version's rows) does not fit this build,
    or None when it does: every branch's head applied, nothing this build does not
    know. (Alembic keeps only the heads not implied by others: a capability branch
    that depends on the core's head stands for both, so compare what is applied.)"""
    script = ScriptDirectory.from_config(alembic_config(branches))
    known = {rev.revision for rev in script.walk_revisions()}
    unknown = db_heads - known
    want = ", ".join(sorted(script.get_heads()))
    if unknown:
        return (
            f"the metadata database is at schema revision {', '.join(sorted(unknown))}, which "
            f"this Dockyard does not know (it expects {want}): upgrade Dockyard, or enable "
            "the capability that brought it"
        )
    applied = {rev.revision for rev in script.iterate_revisions(tuple(db_heads), "base")}
    missing = set(script.get_heads()) - applied
    if missing:
        return (
            f"the metadata database is at schema revision {', '.join(sorted(db_heads))} but "
            f"this Dockyard expects {want}: run `dockyard migrate`"
        )
    return None


async def upgrade(url: str, revision: str = "heads", branches: Sequence[Path] = ()) -> None:
    """Migrate the database at `url` to `revision` (every branch's head by default),
    in one transaction.

    Concurrent migrators (several replicas starting at once) are serialized:
    on SQLite by the writer engine's BEGIN IMMEDIATE, on PostgreSQL by a
    transaction-scoped advisory lock. The second one waits, then finds
    nothing left to do.
    """
    _, writer = make_engines(url, pool_size=1)
    cfg = alembic_config(branches)

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
