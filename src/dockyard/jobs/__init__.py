"""Background work: a durable job queue in the metadata database, the workers that
run it, and the cron scheduler.

Why not a library: the queue must live in the metadata database on both backends
(SQLite for the embedded default, PostgreSQL when scaled out) and run inside the
async server. procrastinate and pgqueuer are PostgreSQL-only, arq, rq, dramatiq
and celery need Redis or a broker (Redis is optional here and keeps nothing
durable), saq has no SQLite backend. So the queue is a small table and a few
statements (jobs/sql.py), written the way Quay's data/queue.py is: claim with
`FOR UPDATE SKIP LOCKED` on PostgreSQL, one writer on SQLite. Cron expressions
are parsed by croniter (maintained under pallets-eco).

A job kind is `async def run(ctx, payload) -> dict | None`, registered by name
(core kinds in jobs/kinds.py, capabilities' through the capability seam). The
worker calls it with a lease it keeps alive; an exception retries it with
exponential backoff up to `max_attempts`, `PermanentFailure` fails it at once,
a worker killed mid-job loses its lease and another worker takes the job up.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from dockyard.context import Services

JobState = Literal["queued", "running", "succeeded", "failed", "cancelled"]
JobSort = Literal["-created", "created"]
"""newest or oldest first (by id: the order they were enqueued)"""
ACTIVE_STATES: tuple[JobState, ...] = ("queued", "running")
FINISHED_STATES: tuple[JobState, ...] = ("succeeded", "failed", "cancelled")


class PermanentFailure(Exception):
    """Raised by a job that retrying cannot help (bad payload, a refused request):
    the job fails at once, with this message as its error."""


class JobCancelled(Exception):
    """Raised inside a running job (at its next `ctx.checkpoint()`) when an
    operator cancelled it."""


@dataclass(frozen=True, slots=True)
class JobRecord:
    id: int
    kind: str
    payload: Mapping[str, Any]
    state: JobState
    attempts: int
    max_attempts: int
    dedup_key: str | None
    run_after: dt.datetime
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    lease_holder: str | None
    lease_until: dt.datetime | None
    last_error: str | None
    result: Mapping[str, Any] | None
    schedule: str | None
    cancel_requested: bool


@dataclass(frozen=True, slots=True)
class LogLine:
    at: dt.datetime
    attempt: int
    message: str


class JobContext(Protocol):
    """What a running job sees."""

    services: Services
    job_id: int
    attempt: int
    """1 on the first run"""
    payload: Mapping[str, Any]

    async def log(self, message: str) -> None:
        """A line in the job's log (kept with the job, shown by `dockyard jobs show`)."""
        ...

    async def checkpoint(self) -> None:
        """Call between units of work: raises JobCancelled if the job was cancelled.
        The lease is renewed in the background; no need to call this for that."""
        ...


JobFunction = Callable[[JobContext, Mapping[str, Any]], Awaitable[Mapping[str, Any] | None]]


@dataclass(frozen=True, slots=True)
class JobKind:
    name: str
    """dotted, owned by its package: "gc.run", "webhooks.deliver", "events.relay" """
    run: JobFunction
    max_attempts: int = 5
    backoff_seconds: float = 10.0
    """the first retry waits this long, each next one twice as long (capped at an hour)"""
    timeout_seconds: float | None = None
    """a run that takes longer is cancelled and counted as a failed attempt"""


@dataclass(frozen=True, slots=True)
class Schedule:
    """A job enqueued on a cron expression; exactly one replica fires each tick."""

    name: str
    cron: str
    kind: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    enabled: bool = True
    """the default; an operator may change it (and the cron) through the API"""


@dataclass(frozen=True, slots=True)
class ScheduleRecord:
    name: str
    cron: str
    kind: str
    payload: Mapping[str, Any]
    enabled: bool
    next_run_at: dt.datetime
    last_run_at: dt.datetime | None
    last_job_id: int | None


class JobQueue(Protocol):
    """The durable queue (jobs/sql.py on SQLite and PostgreSQL)."""

    async def enqueue(
        self,
        kind: str,
        payload: Mapping[str, Any] | None = None,
        *,
        dedup_key: str | None = None,
        run_after: dt.datetime | None = None,
        max_attempts: int | None = None,
        schedule: str | None = None,
    ) -> int:
        """Add a job; return its id. With `dedup_key`, at most one job per key is
        queued or running: if one is queued, its id is returned and nothing is added;
        if one is running, it is marked to run once more when it ends (so no wake-up
        is lost), and its id is returned."""
        ...

    async def get(self, job_id: int) -> JobRecord | None: ...

    async def find(
        self,
        *,
        state: str | None = None,
        kind: str | None = None,
        limit: int = 50,
        before: int | None = None,
        after: int | None = None,
        sort: JobSort = "-created",
    ) -> list[JobRecord]:
        """Newest first (`created`: oldest first); `before` and `after` keep ids below
        and above, which pages by id (the last id of a page is the next one's bound)."""
        ...

    async def log_of(self, job_id: int) -> list[LogLine]: ...

    async def cancel(self, job_id: int) -> JobRecord | None:
        """A queued job is cancelled at once; a running one at its next checkpoint."""
        ...

    async def retry(self, job_id: int) -> JobRecord | None:
        """Queue a failed or cancelled job again with its attempts reset."""
        ...

    async def counts(self) -> dict[str, int]:
        """Jobs per state, for metrics."""
        ...


class ScheduleStore(Protocol):
    """Cron schedules (jobs/sql.py). Code declares its schedules at start; an operator
    may change their cron or switch them off, and that change sticks."""

    async def schedules(self) -> list[ScheduleRecord]: ...

    async def schedule(self, name: str) -> ScheduleRecord | None: ...

    async def change_schedule(
        self, name: str, *, cron: str | None = None, enabled: bool | None = None
    ) -> ScheduleRecord | None: ...

    async def put_schedule(self, schedule: Schedule) -> ScheduleRecord:
        """Create or replace a schedule made at run time (e.g. a project's retention)."""
        ...

    async def delete_schedule(self, name: str) -> bool: ...


class JobStore(JobQueue, ScheduleStore, Protocol):
    """The queue as the worker, the scheduler and the relay use it (jobs/sql.py)."""

    @property
    def read_engine(self) -> Any:
        """the metadata database's read engine (the relay reads the outbox with it)"""
        ...

    @property
    def writer(self) -> Any:
        """the metadata database's writer (metadata/writer.py)"""
        ...

    def subscribe(self, wake: Callable[[], None]) -> None:
        """Call `wake` after each enqueue made through this queue (this process's
        worker then looks at once instead of at its next poll)."""
        ...

    async def claim(
        self, holder: str, lease_seconds: float, kinds: Sequence[str]
    ) -> tuple[JobRecord | None, list[JobRecord]]: ...

    async def heartbeat(
        self, job_id: int, holder: str, lease_seconds: float
    ) -> tuple[bool, bool]: ...

    async def finish(
        self,
        job_id: int,
        holder: str,
        outcome: str,
        *,
        error: str | None = None,
        result: Mapping[str, Any] | None = None,
        retry_in: float = 0.0,
    ) -> JobRecord | None: ...

    async def add_log(self, job_id: int, attempt: int, message: str) -> None: ...

    async def purge(self, before: dt.datetime) -> int: ...

    async def has_due(self, kinds: Sequence[str]) -> bool: ...

    async def declare_schedules(self, schedules: Sequence[Schedule]) -> None: ...

    async def fire_due(
        self, kinds: Sequence[str], max_attempts: dict[str, int]
    ) -> list[tuple[str, int]]: ...
