"""The SQLite writer thread: group commits where a failing write rolls back alone,
durable and non-durable writes mixed, and the file readable by others after each."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from dockyard.metadata.engine import make_engines, make_writer


def _setup(conn: Connection) -> None:
    conn.execute(text("CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v TEXT)"))


def _put(conn: Connection, k: int) -> int:
    conn.execute(text("INSERT INTO t (k, v) VALUES (:k, 'x')"), {"k": k})
    if k % 7 == 3:  # after writing: the savepoint must take the row back
        raise ValueError(f"refused {k}")
    return k


async def test_group_commit_isolates_failures_and_commits_the_rest(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    read, write = make_engines(url, 2)
    writer = make_writer(url, write)
    try:
        await writer.run(_setup)
        results = await asyncio.gather(
            *(writer.run(_put, k, durable=bool(k % 2)) for k in range(200)),
            return_exceptions=True,
        )
        for k, got in enumerate(results):
            if k % 7 == 3:
                assert isinstance(got, ValueError) and str(got) == f"refused {k}"
            else:
                assert got == k
        # a failed write changes nothing; the others are there, for another connection too
        with sqlite3.connect(tmp_path / "w.db") as other:
            keys = {row[0] for row in other.execute("SELECT k FROM t")}
        assert keys == {k for k in range(200) if k % 7 != 3}
        # the duplicate key fails on its own; the writer carries on
        with pytest.raises(Exception, match="UNIQUE"):
            await writer.run(_put, 0)
        assert await writer.run(_put, 1000) == 1000
        # a batch of non-durable writes alone, then a durable one: switching the sync
        # level must leave no transaction open (the write lock would stay taken)
        assert await writer.run(_put, 2000, durable=False) == 2000
        assert await writer.run(_put, 2001) == 2001
        assert await writer.run(_put, 2002, durable=False) == 2002
        with sqlite3.connect(tmp_path / "w.db", timeout=1) as other:
            other.execute("INSERT INTO t (k, v) VALUES (3000, 'other')")
            keys = {row[0] for row in other.execute("SELECT k FROM t WHERE k >= 2000")}
        assert keys == {2000, 2001, 2002, 3000}
    finally:
        await writer.close()
        await read.dispose()
        await write.dispose()
