"""Engine construction per dialect. SQLite gets WAL, foreign keys, and write
transactions that take the write lock up front (BEGIN IMMEDIATE) so concurrent
writers queue on busy_timeout instead of failing on lock upgrade."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any, Protocol

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from dockyard.metadata.writer import EngineWriter, SqliteThreadWriter, Writer


class HasEngines(Protocol):
    """What a capability's store runs on: the metadata store's reader and writer
    engines (services.store satisfies it)."""

    @property
    def read_engine(self) -> AsyncEngine: ...

    @property
    def write_engine(self) -> AsyncEngine: ...


def utc(value: dt.datetime) -> dt.datetime:
    """A timestamp read back from the database, as UTC (SQLite returns naive ones)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}


def async_url(url: str) -> str:
    """Map `sqlite:///x` / `postgresql://…` (or `postgres://…`) to the async driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if parsed.drivername == backend and backend in _ASYNC_DRIVERS:
        parsed = parsed.set(drivername=_ASYNC_DRIVERS[backend])
    return parsed.render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    return make_url(async_url(url)).get_backend_name() == "sqlite"


def _enable_wal(cur: Any) -> None:
    """Switch the file to WAL once. The switch needs the database to itself and SQLite
    answers "locked" at once, without its busy handler, while another process (a second
    migrator, a starting worker) holds it: retry for as long as busy_timeout would wait."""
    cur.execute("PRAGMA journal_mode")
    row = cur.fetchone()
    if row is not None and str(row[0]).lower() == "wal":
        return
    deadline = time.monotonic() + 30
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except Exception as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)  # lock contention backoff, in the driver's own thread


def sqlite_pragmas(dbapi_conn: Any) -> None:
    """Every SQLite connection: WAL, and synchronous=FULL so that each COMMIT is fsynced
    (in WAL mode NORMAL would leave the last commits to the next checkpoint: not durable
    on power loss, and a 201 promises durable)."""
    dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=30000")
    _enable_wal(cur)
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_engine(url: str, *, writer: bool, pool_size: int) -> AsyncEngine:
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=0 if writer else pool_size,
        connect_args={"timeout": 30},
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        sqlite_pragmas(dbapi_conn)

    if writer:

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def make_writer(url: str, write_engine: AsyncEngine) -> Writer:
    """How this process runs its registry write transactions (see metadata/writer.py)."""
    if is_sqlite(url):
        sync_url = make_url(async_url(url)).set(drivername="sqlite+pysqlite")
        return SqliteThreadWriter(sync_url.render_as_string(hide_password=False), sqlite_pragmas)
    return EngineWriter(write_engine)


def make_engines(url: str, pool_size: int) -> tuple[AsyncEngine, AsyncEngine]:
    """(reader, writer). On SQLite these are two pools over one file; readers run
    single statements in autocommit, writers serialize. Elsewhere, one engine."""
    url = async_url(url)
    if is_sqlite(url):
        return (
            _sqlite_engine(url, writer=False, pool_size=pool_size),
            _sqlite_engine(url, writer=True, pool_size=2),
        )
    engine = create_async_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, pool_recycle=1800
    )
    return engine, engine
