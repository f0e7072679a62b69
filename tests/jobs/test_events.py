"""The outbox and the relay, on SQLite and PostgreSQL: changes write their events in
their own transaction, consumers get them in commit order, at least once, from a
cursor that only moves after the handler returned."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any, cast

import pytest
from sqlalchemy import insert, text

from dockyard import events as ev
from dockyard.context import Services
from dockyard.errors import QuotaExceeded
from dockyard.events import Event, EventConsumer
from dockyard.events.outbox import row as event_row
from dockyard.events.relay import Relay
from dockyard.jobs import JobContext
from dockyard.jobs.sql import SqlJobQueue
from dockyard.jobs.worker import Worker
from dockyard.metadata import schema as s
from dockyard.metadata.records import NewManifest
from dockyard.metadata.sql import SqlMetadataStore
from dockyard.metadata.sql_identity import sql_identity


def _manifest(layer: str) -> NewManifest:
    content = json.dumps({"schemaVersion": 2, "layers": [layer]}).encode()
    return NewManifest(
        digest="sha256:" + hashlib.sha256(content).hexdigest(),
        media_type="application/vnd.oci.image.manifest.v1+json",
        content=content,
        artifact_type=None,
        subject_digest=None,
        annotations=None,
        blob_refs=[(layer, 3)],
        child_refs=[],
    )


class Recorder:
    def __init__(self, fail_first: int = 0) -> None:
        self.seen: list[Event] = []
        self.fail_first = fail_first

    async def handle(self, ctx: JobContext, batch: Sequence[Event]) -> None:
        if self.fail_first:
            self.fail_first -= 1
            raise RuntimeError("receiver down")
        self.seen.extend(batch)


async def _drain(relay: Relay, queue: SqlJobQueue) -> None:
    """Relay, then run every due job (consume jobs) until none is left."""
    worker = Worker(
        cast(Services, None), queue, {relay.kind().name: relay.kind()}, poll_seconds=0.05
    )
    await relay.tick()
    await worker.run_once()


async def _setup(replicas: Any) -> tuple[SqlMetadataStore, SqlJobQueue]:
    store, queue = await replicas()
    return store, queue


async def test_changes_become_events_in_commit_order(replicas: Any) -> None:
    store, queue = await _setup(replicas)
    recorder = Recorder()
    consumer = EventConsumer("rec", frozenset(ev.ALL_KINDS), recorder.handle, batch_size=2)
    relay = Relay(store.read_engine, store.writer, queue, [consumer])
    await relay.declare()  # the consumer's cursor starts here
    layer = "sha256:" + hashlib.sha256(b"abc").hexdigest()
    await store.link_blob("proj/app", layer, 3)
    one = _manifest(layer)
    await store.put_manifest("proj/app", one, "v1", "alice")
    await store.put_manifest("proj/app", one, "v1", "alice")  # same digest, same tag: nothing
    await store.put_manifest("proj/app", one, "latest", "alice")  # a new tag on it
    await store.delete_tag("proj/app", "latest", "bob")
    await store.delete_manifest("proj/app", one.digest, "bob")
    await _drain(relay, queue)
    kinds = [(e.kind, e.tag, e.actor) for e in recorder.seen]
    assert kinds == [
        (ev.PUSHED, "v1", "alice"),
        (ev.PUSHED, "latest", "alice"),
        (ev.TAG_DELETED, "latest", "bob"),
        (ev.DELETED, None, "bob"),
    ]
    assert recorder.seen[3].detail == {"tags": ["v1"]}
    assert all(e.project == "proj" and e.repository == "proj/app" for e in recorder.seen)
    seqs = [e.seq for e in recorder.seen]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4
    await _drain(relay, queue)  # nothing new: nothing handed again
    assert len(recorder.seen) == 4


async def test_tag_move_names_the_previous_digest(replicas: Any) -> None:
    store, queue = await _setup(replicas)
    recorder = Recorder()
    relay = Relay(
        store.read_engine,
        store.writer,
        queue,
        [EventConsumer("r", frozenset({ev.PUSHED}), recorder.handle)],
    )
    await relay.declare()
    a = "sha256:" + hashlib.sha256(b"a").hexdigest()
    b = "sha256:" + hashlib.sha256(b"b").hexdigest()
    for layer in (a, b):
        await store.link_blob("p/r", layer, 3)
    first, second = _manifest(a), _manifest(b)
    await store.put_manifest("p/r", first, "t")
    await store.put_manifest("p/r", second, "t")
    await _drain(relay, queue)
    assert [e.digest for e in recorder.seen] == [first.digest, second.digest]
    assert "previous" not in recorder.seen[0].detail
    assert recorder.seen[1].detail["previous"] == first.digest


async def test_quota_refusal_is_an_event(replicas: Any) -> None:
    store, queue = await _setup(replicas)
    recorder = Recorder()
    relay = Relay(
        store.read_engine,
        store.writer,
        queue,
        [EventConsumer("q", frozenset({ev.QUOTA_EXCEEDED}), recorder.handle)],
    )
    await relay.declare()
    identity = sql_identity(store)
    await identity.projects.create_project("small", public=False, quota_bytes=10)
    layer = "sha256:" + hashlib.sha256(b"big").hexdigest()
    with pytest.raises(QuotaExceeded):
        await store.link_blob("small/app", layer, 100)
    await _drain(relay, queue)
    assert [e.kind for e in recorder.seen] == [ev.QUOTA_EXCEEDED]
    assert recorder.seen[0].detail["requested_bytes"] == 100


async def test_a_failing_consumer_gets_the_same_events_again(replicas: Any) -> None:
    store, queue = await _setup(replicas)
    recorder = Recorder(fail_first=2)
    consumer = EventConsumer("flaky", frozenset({ev.PUSHED}), recorder.handle)
    relay = Relay(store.read_engine, store.writer, queue, [consumer])
    await relay.declare()
    layer = "sha256:" + hashlib.sha256(b"x").hexdigest()
    await store.link_blob("p/x", layer, 3)
    await store.put_manifest("p/x", _manifest(layer), "v1")
    await relay.tick()
    job_id = (await queue.find(kind="events.consume"))[0].id
    for _ in range(3):  # two failures, then delivered; each retry from the same cursor
        job, _ = await queue.claim("w", 30, ["events.consume"])
        if job is None:  # waiting out its backoff: make it due now
            await queue.writer.run(
                lambda c: c.execute(text("UPDATE jobs SET run_after = created_at"))
            )
            job, _ = await queue.claim("w", 30, ["events.consume"])
        assert job is not None and job.id == job_id
        ctx = cast(JobContext, _Ctx(job.id))
        try:
            await relay.consume(ctx, job.payload)
        except RuntimeError:
            await queue.finish(job.id, "w", "retry", error="receiver down", retry_in=60)
            continue
        await queue.finish(job.id, "w", "succeeded")
    assert [e.tag for e in recorder.seen] == ["v1"]  # once, after the failures


class _Ctx:
    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        self.attempt = 1

    async def checkpoint(self) -> None:
        return None

    async def log(self, message: str) -> None:
        return None


async def test_an_event_committed_late_is_not_skipped(replicas: Any, database_url: str) -> None:
    """On PostgreSQL ids are taken at insert: an event whose transaction commits after
    a later id's must still reach the consumer (the relay numbers in commit order)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer: ids are taken in commit order")
    store, queue = await _setup(replicas)
    recorder = Recorder()
    relay = Relay(
        store.read_engine,
        store.writer,
        queue,
        [EventConsumer("late", frozenset({"t.e"}), recorder.handle)],
    )
    await relay.declare()
    import datetime as dt

    at = dt.datetime.now(dt.UTC)
    slow = store.write_engine.connect()
    conn = await slow.__aenter__()
    try:
        await conn.begin()
        await conn.execute(insert(s.events).values(event_row(ev.NewEvent("t.e", "p/slow"), at)))
        await store.writer.run(
            lambda c: c.execute(
                insert(s.events).values(event_row(ev.NewEvent("t.e", "p/fast"), at))
            )
        )
        await _drain(relay, queue)
        assert [e.repository for e in recorder.seen] == ["p/fast"]
        await conn.commit()
    finally:
        await slow.__aexit__(None, None, None)
    await _drain(relay, queue)
    assert [e.repository for e in recorder.seen] == ["p/fast", "p/slow"]
