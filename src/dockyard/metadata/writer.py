"""Write transactions as one call each: `await writer.run(fn, *args)` runs `fn(conn, *args)`
with a synchronous SQLAlchemy Connection inside one transaction and returns its result
once that transaction is committed (durable) -- or raises what `fn` raised, having
rolled its changes back.

- PostgreSQL: `AsyncConnection.run_sync` over the async engine (asyncpg).
- SQLite: one dedicated thread owns one connection (the stdlib driver) and runs every
  write of this process. A write costs one hand-off between threads instead of several
  per statement (aiosqlite hops to its thread for cursor, execute, fetch and close), and
  writes queue in-process instead of polling SQLite's busy handler against each other.
  Writes that queue up while one commits are **group-committed**: each runs inside its
  own SAVEPOINT (so one failing rolls back only itself), then one COMMIT makes the whole
  batch durable, and only then is any of them answered. With `synchronous=FULL` that
  COMMIT is fsynced, so an acknowledged write survives power loss.

  A write may say `durable=False` when losing it to a power cut costs nothing but a
  retry (taking an upload's lease, opening an upload session: the client is told to
  start over). A batch made only of such writes commits with synchronous=NORMAL: WAL
  frames written but not fsynced. The next durable commit fsyncs the WAL, and with it
  every frame before it, so nothing durable ever depends on an unsynced one.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, create_engine, event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import StaticPool

T = TypeVar("T")
MAX_BATCH = 64  # writes per group commit, at most


class Writer(Protocol):
    async def run(self, fn: Callable[..., T], *args: Any, durable: bool = True) -> T: ...

    async def close(self) -> None: ...


class EngineWriter:
    """One transaction per write on an async engine (PostgreSQL)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def run(self, fn: Callable[..., T], *args: Any, durable: bool = True) -> T:
        async with self._engine.begin() as conn:
            return await conn.run_sync(fn, *args)

    async def close(self) -> None:
        return None


_Job = tuple[
    Callable[..., Any], tuple[Any, ...], asyncio.Future[Any], asyncio.AbstractEventLoop, bool
]
_STOP = None


def _settle(fut: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if fut.done():  # the caller was cancelled meanwhile; the write stands or fell anyway
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(result)


class SqliteThreadWriter:
    """All of this process's writes to one SQLite file, on one thread, group-committed."""

    def __init__(self, sync_url: str, on_connect: Callable[[Any], None]) -> None:
        self._engine = create_engine(sync_url, poolclass=StaticPool)
        event.listen(self._engine, "connect", lambda conn, _rec: on_connect(conn))
        event.listen(self._engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="dockyard-sqlite-writer", daemon=True
                )
                self._thread.start()

    async def run(self, fn: Callable[..., T], *args: Any, durable: bool = True) -> T:
        if self._thread is None:
            self._start()
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        self._jobs.put((fn, args, fut, loop, durable))
        # Not cancellable halfway: the write commits or not whatever the caller does.
        return await asyncio.shield(fut)

    async def close(self) -> None:
        thread = self._thread
        if thread is not None:
            self._jobs.put(_STOP)
            await asyncio.to_thread(thread.join)
            self._thread = None
        self._engine.dispose()

    def _loop(self) -> None:
        conn = self._engine.connect()
        synced = True  # the connection starts with synchronous=FULL (engine.sqlite_pragmas)
        try:
            while True:
                job = self._jobs.get()
                if job is None:
                    return
                batch = [job]
                stop = False
                while len(batch) < MAX_BATCH:
                    try:
                        more = self._jobs.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        stop = True
                        break
                    batch.append(more)
                durable = any(job[4] for job in batch)
                if durable != synced:
                    # on the driver's connection: through SQLAlchemy it would begin a transaction
                    raw = conn.connection.driver_connection
                    assert raw is not None
                    raw.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
                    synced = durable
                self._commit_batch(conn, batch)
                if stop:
                    return
        finally:
            conn.close()

    @staticmethod
    def _commit_batch(conn: Connection, batch: list[_Job]) -> None:
        outcomes: list[tuple[Any, BaseException | None]] = []
        try:
            with conn.begin():
                if len(batch) == 1:
                    fn, args, *_ = batch[0]
                    outcomes.append((fn(conn, *args), None))
                else:
                    for fn, args, *_ in batch:
                        savepoint = conn.begin_nested()
                        try:
                            result = fn(conn, *args)
                        except Exception as exc:
                            savepoint.rollback()
                            outcomes.append((None, exc))
                        else:
                            savepoint.commit()
                            outcomes.append((result, None))
                if all(exc is not None for _, exc in outcomes):
                    # nothing to keep: roll back (the context manager's commit is skipped)
                    raise _NothingToCommit
        except _NothingToCommit:
            pass
        except Exception as exc:  # the COMMIT (or BEGIN) failed: no write of the batch stands
            outcomes = [(None, exc if not outcomes or o[1] is None else o[1]) for o in outcomes]
            outcomes += [(None, exc)] * (len(batch) - len(outcomes))
        for (_, _, fut, loop, _), (result, error) in zip(batch, outcomes, strict=True):
            with contextlib.suppress(RuntimeError):  # the loop is gone (shutdown)
                loop.call_soon_threadsafe(_settle, fut, result, error)


class _NothingToCommit(Exception):
    pass
