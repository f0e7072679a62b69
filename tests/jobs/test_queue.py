"""The job queue's conformance, on SQLite and on PostgreSQL: claim, leases, retries
with backoff, permanent failure, de-duplication, cancel and retry, cron firing once
per tick across replicas, and the worker that drives them."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import time
from collections.abc import Callable, Mapping
from typing import Any, cast

import pytest
from sqlalchemy import update

from dockyard.context import Services
from dockyard.errors import Conflict, InvalidRequest
from dockyard.jobs import JobContext, JobKind, PermanentFailure, Schedule
from dockyard.jobs.sql import SqlJobQueue
from dockyard.jobs.worker import Worker
from dockyard.metadata import schema as s

NO_SERVICES = cast(Services, None)


async def wait_for(check: Callable[[], Any], within: float = 20.0) -> Any:
    """Poll an async condition until it holds (or fail after `within` seconds)."""
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(0.02)


async def test_enqueue_claim_finish(queue: SqlJobQueue) -> None:
    job_id = await queue.enqueue("t.echo", {"x": 1})
    job, lost = await queue.claim("w1", 30, ["t.echo"])
    assert lost == [] and job is not None
    assert (job.id, job.state, job.attempts, job.payload) == (job_id, "running", 1, {"x": 1})
    assert job.lease_holder == "w1"
    assert (await queue.claim("w2", 30, ["t.echo"]))[0] is None  # held
    done = await queue.finish(job_id, "w1", "succeeded", result={"ok": True})
    assert done is not None and done.state == "succeeded" and done.result == {"ok": True}
    assert done.finished_at is not None
    # someone who does not hold it cannot finish it
    assert await queue.finish(job_id, "w2", "failed") is None


async def test_claim_takes_only_due_jobs_of_known_kinds(queue: SqlJobQueue) -> None:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    await queue.enqueue("t.later", run_after=later)
    await queue.enqueue("t.other")
    assert (await queue.claim("w", 30, ["t.later", "t.mine"]))[0] is None
    job, _ = await queue.claim("w", 30, ["t.other"])
    assert job is not None and job.kind == "t.other"


async def test_concurrent_claims_take_distinct_jobs(
    replicas: Callable[[], Any],
) -> None:
    queues = [(await replicas())[1] for _ in range(3)]
    ids = {await queues[0].enqueue("t.many", {"n": n}) for n in range(12)}
    claims = await asyncio.gather(
        *(queues[i % 3].claim(f"w{i}", 30, ["t.many"]) for i in range(16))
    )
    got = [job.id for job, _ in claims if job is not None]
    assert sorted(got) == sorted(ids)  # every job once, none twice


async def test_expired_lease_is_taken_over(queue: SqlJobQueue) -> None:
    job_id = await queue.enqueue("t.slow")
    first, _ = await queue.claim("dead-worker", 0.2, ["t.slow"])
    assert first is not None
    second = await wait_for(lambda: _claim(queue, "w2", ["t.slow"]))
    assert (second.id, second.attempts, second.lease_holder) == (job_id, 2, "w2")
    assert await queue.finish(job_id, "dead-worker", "succeeded") is None  # too late
    log = await queue.log_of(job_id)
    assert any("dead-worker was lost" in line.message for line in log)


async def _claim(queue: SqlJobQueue, holder: str, kinds: list[str]) -> Any:
    job, _ = await queue.claim(holder, 30, kinds)
    return job


async def test_lost_on_last_attempt_fails(queue: SqlJobQueue) -> None:
    job_id = await queue.enqueue("t.doomed", max_attempts=1)
    assert (await queue.claim("dead", 0.1, ["t.doomed"]))[0] is not None

    async def failed() -> Any:
        job, lost = await queue.claim("w2", 30, ["t.doomed"])
        assert job is None
        return lost

    lost = await wait_for(failed)
    assert [j.id for j in lost] == [job_id]
    job = await queue.get(job_id)
    assert job is not None and job.state == "failed"
    assert "lease expired" in (job.last_error or "")


async def test_dedup_key(queue: SqlJobQueue) -> None:
    a = await queue.enqueue("t.d", {"n": 1}, dedup_key="k")
    b = await queue.enqueue("t.d", {"n": 2}, dedup_key="k")
    assert a == b  # queued: one
    job, _ = await queue.claim("w", 30, ["t.d"])
    assert job is not None and job.id == a
    c = await queue.enqueue("t.d", dedup_key="k")  # running: marked to run again
    assert c == a
    again = await queue.finish(a, "w", "succeeded")
    assert again is not None and again.state == "queued" and again.attempts == 0
    job, _ = await queue.claim("w", 30, ["t.d"])
    assert job is not None and job.id == a
    done = await queue.finish(a, "w", "succeeded")
    assert done is not None and done.state == "succeeded"
    d = await queue.enqueue("t.d", dedup_key="k")  # nothing active: a new job
    assert d != a


async def test_cancel_and_retry(queue: SqlJobQueue) -> None:
    queued = await queue.enqueue("t.c")
    cancelled = await queue.cancel(queued)
    assert cancelled is not None and cancelled.state == "cancelled"
    running_id = await queue.enqueue("t.c")
    await queue.claim("w", 30, ["t.c"])
    marked = await queue.cancel(running_id)
    assert marked is not None and marked.state == "running" and marked.cancel_requested
    assert (await queue.heartbeat(running_id, "w", 30)) == (True, True)
    retried = await queue.retry(queued)
    assert retried is not None and retried.state == "queued" and retried.attempts == 0
    assert await queue.get(999_999) is None
    assert await queue.cancel(999_999) is None


async def test_retry_refused_while_its_key_is_active(queue: SqlJobQueue) -> None:
    first = await queue.enqueue("t.r", dedup_key="same")
    await queue.cancel(first)
    await queue.enqueue("t.r", dedup_key="same")
    with pytest.raises(Conflict, match="de-duplication key"):
        await queue.retry(first)


async def test_counts_and_listing(queue: SqlJobQueue) -> None:
    ids = [await queue.enqueue("t.l", {"n": n}) for n in range(5)]
    await queue.cancel(ids[0])
    assert (await queue.counts()) == {"queued": 4, "cancelled": 1}
    page = await queue.find(limit=2)
    assert [j.id for j in page] == [ids[4], ids[3]]
    nxt = await queue.find(limit=10, before=page[-1].id)
    assert [j.id for j in nxt] == [ids[2], ids[1], ids[0]]
    assert [j.id for j in await queue.find(state="cancelled")] == [ids[0]]


async def test_purge_forgets_old_finished_jobs(queue: SqlJobQueue) -> None:
    old = await queue.enqueue("t.p")
    await queue.cancel(old)
    await queue.add_log(old, 0, "a line")
    keep = await queue.enqueue("t.p")
    assert await queue.purge(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)) == 1
    assert await queue.get(old) is None and await queue.log_of(old) == []
    assert await queue.get(keep) is not None


# -- the scheduler -----------------------------------------------------------------


async def _make_due(store_queue: SqlJobQueue, name: str) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)

    def run(conn: Any) -> None:
        conn.execute(update(s.schedules).where(s.schedules.c.name == name).values(next_run_at=past))

    await store_queue.writer.run(run)


async def test_cron_fires_once_per_tick_across_three_replicas(
    replicas: Callable[[], Any],
) -> None:
    queues: list[SqlJobQueue] = [(await replicas())[1] for _ in range(3)]
    schedule = Schedule("t.every-minute", "* * * * *", "t.tick", {"from": "cron"})
    await asyncio.gather(*(q.declare_schedules([schedule]) for q in queues))  # each replica
    fired: list[tuple[str, int]] = []
    for _tick in range(5):
        await _make_due(queues[0], schedule.name)
        rounds = await asyncio.gather(
            *(q.fire_due(["t.tick"], {}) for q in queues for _ in range(3))
        )
        fired += [f for r in rounds for f in r]
        # the tick's job ends, so the next tick is not folded into it by dedup
        job, _ = await queues[1].claim("w", 30, ["t.tick"])
        assert job is not None and job.schedule == schedule.name
        assert job.payload == {"from": "cron"}
        await queues[1].finish(job.id, "w", "succeeded")
    assert len(fired) == 5  # exactly one firing per tick
    assert len({job_id for _, job_id in fired}) == 5
    record = await queues[2].schedule(schedule.name)
    assert record is not None and record.next_run_at > dt.datetime.now(dt.UTC)


async def test_schedule_changes_stick_and_bad_cron_is_refused(queue: SqlJobQueue) -> None:
    await queue.declare_schedules([Schedule("t.s", "0 3 * * *", "t.k")])
    changed = await queue.change_schedule("t.s", cron="*/5 * * * *", enabled=False)
    assert changed is not None and (changed.cron, changed.enabled) == ("*/5 * * * *", False)
    await queue.declare_schedules([Schedule("t.s", "0 3 * * *", "t.k")])  # a restart
    kept = await queue.schedule("t.s")
    assert kept is not None and (kept.cron, kept.enabled) == ("*/5 * * * *", False)
    await _make_due(queue, "t.s")
    assert await queue.fire_due(["t.k"], {}) == []  # disabled
    with pytest.raises(InvalidRequest, match="not a cron expression"):
        await queue.change_schedule("t.s", cron="every day")
    with pytest.raises(InvalidRequest):
        await queue.declare_schedules([Schedule("t.bad", "61 * * * *", "t.k")])


# -- the worker --------------------------------------------------------------------


def _worker(queue: SqlJobQueue, kinds: list[JobKind], **kw: Any) -> Worker:
    return Worker(
        NO_SERVICES,
        queue,
        {k.name: k for k in kinds},
        poll_seconds=0.05,
        lease_seconds=kw.pop("lease_seconds", 5.0),
        **kw,
    )


async def _state(queue: SqlJobQueue, job_id: int, *states: str) -> Any:
    job = await queue.get(job_id)
    return job if job is not None and job.state in states else None


async def test_worker_retries_with_backoff_then_fails(queue: SqlJobQueue) -> None:
    calls: list[float] = []

    async def flaky(ctx: JobContext, payload: Mapping[str, Any]) -> None:
        calls.append(time.monotonic())
        await ctx.log(f"try {ctx.attempt}")
        raise RuntimeError(f"boom {ctx.attempt}")

    kind = JobKind("t.flaky", flaky, max_attempts=3, backoff_seconds=0.3)
    job_id = await queue.enqueue("t.flaky", max_attempts=3)
    worker = _worker(queue, [kind])
    worker.start()
    try:
        job = await wait_for(lambda: _state(queue, job_id, "failed"))
    finally:
        await worker.stop()
    assert job.attempts == 3 and "boom 3" in (job.last_error or "")
    assert len(calls) == 3
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert gaps[0] >= 0.3 and gaps[1] >= 0.6  # exponential backoff
    messages = [line.message for line in await queue.log_of(job_id)]
    assert "try 1" in messages and any("boom 2" in m for m in messages)


async def test_permanent_failure_is_not_retried(queue: SqlJobQueue) -> None:
    async def refuse(ctx: JobContext, payload: Mapping[str, Any]) -> None:
        raise PermanentFailure("the payload names no project")

    job_id = await queue.enqueue("t.refuse")
    worker = _worker(queue, [JobKind("t.refuse", refuse)])
    worker.start()
    try:
        job = await wait_for(lambda: _state(queue, job_id, "failed"))
    finally:
        await worker.stop()
    assert job.attempts == 1 and job.last_error == "the payload names no project"


async def test_worker_runs_jobs_concurrently_and_records_results(queue: SqlJobQueue) -> None:
    running = 0
    peak = 0

    async def work(ctx: JobContext, payload: Mapping[str, Any]) -> Mapping[str, Any]:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.2)
        running -= 1
        return {"n": payload["n"] * 2}

    ids = [await queue.enqueue("t.work", {"n": n}) for n in range(6)]
    worker = _worker(queue, [JobKind("t.work", work)], concurrency=3)
    worker.start()
    try:
        for job_id in ids:
            await wait_for(lambda i=job_id: _state(queue, i, "succeeded"))  # type: ignore[misc]
    finally:
        await worker.stop()
    assert peak == 3
    results = [(await queue.get(i)).result for i in ids]  # type: ignore[union-attr]
    assert results == [{"n": n * 2} for n in range(6)]


async def test_cancel_stops_a_running_job(queue: SqlJobQueue) -> None:
    started = asyncio.Event()

    async def long(ctx: JobContext, payload: Mapping[str, Any]) -> None:
        started.set()
        while True:
            await ctx.checkpoint()
            await asyncio.sleep(0.02)

    job_id = await queue.enqueue("t.long")
    worker = _worker(queue, [JobKind("t.long", long)], lease_seconds=0.3)
    worker.start()
    try:
        await asyncio.wait_for(started.wait(), 10)
        await queue.cancel(job_id)
        job = await wait_for(lambda: _state(queue, job_id, "cancelled"))
    finally:
        await worker.stop()
    assert job.last_error == "cancelled by an operator"


async def test_stopping_worker_hands_running_jobs_back(queue: SqlJobQueue) -> None:
    started = asyncio.Event()

    async def endless(ctx: JobContext, payload: Mapping[str, Any]) -> None:
        started.set()
        await asyncio.Event().wait()

    job_id = await queue.enqueue("t.endless")
    worker = _worker(queue, [JobKind("t.endless", endless)])
    worker.start()
    await asyncio.wait_for(started.wait(), 10)
    await worker.stop(grace=0.1)
    job = await queue.get(job_id)
    assert job is not None and job.state == "queued" and job.attempts == 0
    assert job.lease_holder is None
