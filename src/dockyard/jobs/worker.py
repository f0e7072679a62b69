"""The worker: claims jobs, runs them under a lease it keeps alive, records how they
ended; and, on the same loop, fires due schedules and relays new events.

It runs inside every `dockyard serve` process by default (the embedded default needs
no second process) and alone as `dockyard worker`. Several workers on several
replicas share the queue: each claim is atomic (jobs/sql_jobs.py), each schedule
tick fires once (jobs/sql_schedules.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dockyard.jobs import JobCancelled, JobKind, JobRecord, JobStore, PermanentFailure

if TYPE_CHECKING:
    from dockyard.context import Services

log = logging.getLogger(__name__)
MAX_BACKOFF = 3600.0


def holder_name() -> str:
    """Who holds a lease: host, process and a random part (a restarted process with the
    same pid is someone else)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def backoff(kind: JobKind, attempt: int) -> float:
    return float(min(kind.backoff_seconds * 2 ** max(attempt - 1, 0), MAX_BACKOFF))


@dataclass
class Context:
    """The JobContext a running job sees."""

    services: Services
    job_id: int
    attempt: int
    payload: Mapping[str, Any]
    _queue: JobStore
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)

    async def log(self, message: str) -> None:
        log.info("job %s: %s", self.job_id, message)
        await self._queue.add_log(self.job_id, self.attempt, message)

    async def checkpoint(self) -> None:
        if self.cancelled.is_set():
            raise JobCancelled(f"job {self.job_id} was cancelled")


Observer = Callable[[str, str, float], None]
"""(kind, outcome, seconds) of each finished run, for metrics"""

Tick = Callable[[], Awaitable[None]]


class Worker:
    def __init__(
        self,
        services: Services,
        queue: JobStore,
        kinds: Mapping[str, JobKind],
        *,
        concurrency: int = 2,
        poll_seconds: float = 1.0,
        lease_seconds: float = 60.0,
        ticks: Mapping[str, Tick] | None = None,
        observe: Observer | None = None,
    ) -> None:
        self.services = services
        self.queue = queue
        self.kinds = dict(kinds)
        self.concurrency = max(1, concurrency)
        self.poll_seconds = poll_seconds
        self.lease_seconds = lease_seconds
        self.holder = holder_name()
        self._ticks = dict(ticks or {})
        self._observe = observe
        self._wake = asyncio.Event()
        self._running: dict[int, asyncio.Task[None]] = {}
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        self.queue.subscribe(self.wake)
        self._loop_task = asyncio.create_task(self._loop(), name="dockyard-worker")

    def wake(self) -> None:
        """Look for work now (something was just enqueued in this process)."""
        self._wake.set()

    async def stop(self, grace: float = 10.0) -> None:
        """Stop claiming; give running jobs `grace` seconds, then hand them back."""
        self._stopping = True
        self._wake.set()
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        if self._running:
            _, pending = await asyncio.wait(list(self._running.values()), timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def run_once(self) -> int:
        """Claim and run jobs until none is due (for `dockyard worker --once`, tests)."""
        ran = 0
        while True:
            await self._tick()
            job = await self._claim()
            if job is None:
                return ran
            await self._run(job)
            ran += 1

    # -- the loop ---------------------------------------------------------------

    async def _loop(self) -> None:
        while not self._stopping:
            self._wake.clear()  # before looking: a wake-up during the look is kept
            try:
                await self._tick()
                while len(self._running) < self.concurrency and not self._stopping:
                    job = await self._claim()
                    if job is None:
                        break
                    task = asyncio.create_task(self._run(job), name=f"job-{job.id}")
                    self._running[job.id] = task
                    task.add_done_callback(functools.partial(self._done, job.id))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("worker loop failed; retrying after %s s", self.poll_seconds)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)

    def _done(self, job_id: int, _task: asyncio.Task[None]) -> None:
        self._running.pop(job_id, None)
        self._wake.set()  # a slot is free

    async def _tick(self) -> None:
        for name, tick in self._ticks.items():
            try:
                await tick()
            except Exception:
                log.exception("%s failed", name)

    async def _claim(self) -> JobRecord | None:
        kinds = list(self.kinds)
        if not kinds or not await self.queue.has_due(kinds):
            return None
        job, lost = await self.queue.claim(self.holder, self.lease_seconds, kinds)
        for failed in lost:
            log.error("job %s (%s) failed: %s", failed.id, failed.kind, failed.last_error)
            self._count(failed.kind, "failed", 0.0)
        return job

    def _count(self, kind: str, outcome: str, seconds: float) -> None:
        if self._observe is not None:
            self._observe(kind, outcome, seconds)

    # -- one run ----------------------------------------------------------------

    async def _run(self, job: JobRecord) -> None:
        kind = self.kinds[job.kind]
        ctx = Context(self.services, job.id, job.attempts, job.payload, self.queue)
        task = asyncio.create_task(self._call(kind, ctx))
        beat = asyncio.create_task(self._heartbeat(job.id, task, ctx))
        started = time.monotonic()
        outcome, error, result, retry_in = "succeeded", None, None, 0.0
        try:
            result = await task
        except PermanentFailure as exc:
            outcome, error = "failed", str(exc) or type(exc).__name__
        except (JobCancelled, asyncio.CancelledError) as exc:
            if self._stopping and not ctx.cancelled.is_set():
                outcome = "released"
            elif ctx.cancelled.is_set():
                outcome, error = "cancelled", "cancelled by an operator"
            else:
                outcome, error = "lost", str(exc)
        except TimeoutError:
            outcome, error = self._failed(kind, job, f"timed out after {kind.timeout_seconds} s")
            retry_in = backoff(kind, job.attempts)
        except Exception as exc:
            detail = "".join(traceback.format_exception_only(exc)).strip()
            outcome, error = self._failed(kind, job, detail)
            retry_in = backoff(kind, job.attempts)
            log.warning("job %s (%s) attempt %s failed: %s", job.id, job.kind, job.attempts, detail)
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
        seconds = time.monotonic() - started
        if outcome == "lost":  # another worker holds it now; nothing of ours to record
            log.warning("job %s: lease lost to another worker", job.id)
            return
        if error is not None:
            await self._safe_log(ctx, f"attempt {job.attempts}: {error}")
        done = await self.queue.finish(
            job.id, self.holder, outcome, error=error, result=result, retry_in=retry_in
        )
        if done is not None:
            self._count(job.kind, outcome, seconds)
            if outcome == "failed":
                log.error("job %s (%s) failed: %s", job.id, job.kind, error)

    def _failed(self, kind: JobKind, job: JobRecord, error: str) -> tuple[str, str]:
        limit = min(kind.max_attempts, job.max_attempts)
        return ("failed" if job.attempts >= limit else "retry"), error

    @staticmethod
    async def _call(kind: JobKind, ctx: Context) -> Mapping[str, Any] | None:
        if kind.timeout_seconds is None:
            return await kind.run(ctx, ctx.payload)
        async with asyncio.timeout(kind.timeout_seconds):
            return await kind.run(ctx, ctx.payload)

    async def _heartbeat(self, job_id: int, task: asyncio.Task[Any], ctx: Context) -> None:
        every = max(self.lease_seconds / 3, 0.05)
        while not task.done():
            await asyncio.sleep(every)
            try:
                held, cancel = await self.queue.heartbeat(job_id, self.holder, self.lease_seconds)
            except Exception:
                log.exception("could not renew the lease of job %s", job_id)
                continue
            if not held:
                task.cancel()  # someone else runs it now
                return
            if cancel and not ctx.cancelled.is_set():
                ctx.cancelled.set()
                # a job that never checkpoints is stopped where it awaits
                asyncio.get_running_loop().call_later(every, task.cancel)

    async def _safe_log(self, ctx: Context, message: str) -> None:
        try:
            await ctx.log(message)
        except Exception:
            log.exception("could not write the log of job %s", ctx.job_id)
