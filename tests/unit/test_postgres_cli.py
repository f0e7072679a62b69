"""`dockyard migrate` / `serve` against PostgreSQL: concurrent migrators, refusal to
start on an unmigrated or newer schema."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import asyncpg

from dockyard.capabilities import REGISTERED, migration_branches
from dockyard.metadata.migrate import core_revision, schema_problem
from dockyard.metadata.schema import SCHEMA_REVISION


def _dockyard(*args: str, url: str, tmp_path: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD")}
    env["DOCKYARD_DATABASE_URL"] = url
    return subprocess.Popen(
        [sys.executable, "-m", "dockyard", *args, "--data-dir", str(tmp_path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def test_concurrent_migrations_and_refusals(postgres_database: str, tmp_path: Path) -> None:
    # serve refuses an unmigrated PostgreSQL database (no auto-migrate there)
    p = _dockyard("serve", "--port", "1", url=postgres_database, tmp_path=tmp_path)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 1
    assert "run `dockyard migrate`" in err and err.count("\n") == 1

    # three migrators at once all succeed; the schema ends at head, once
    procs = [_dockyard("migrate", url=postgres_database, tmp_path=tmp_path) for _ in range(3)]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert "up to date" in out
    conn = await asyncpg.connect(postgres_database)
    try:
        rows = await conn.fetch("SELECT version_num FROM alembic_version")
        heads = [r[0] for r in rows]
        # the core's head and every registered capability's branch (a branch that
        # depends on the core's head stands for both in alembic_version)
        branches = migration_branches(REGISTERED)
        assert len(heads) == len(set(heads)) and schema_problem(set(heads), branches) is None
        assert core_revision(set(heads), branches) == SCHEMA_REVISION
        # a schema from the future: refuse with a message (one row in place of the heads:
        # with two capability branches there are several)
        await conn.execute("DELETE FROM alembic_version")
        await conn.execute("INSERT INTO alembic_version (version_num) VALUES ('9999')")
    finally:
        await conn.close()
    p = _dockyard("serve", "--port", "1", url=postgres_database, tmp_path=tmp_path)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 1
    assert "revision 9999" in err and "upgrade Dockyard" in err
