"""Running an execution (the `replication.run` job): take its lease, plan it when it
has no items yet, carry its items out in order, and finish it, or, when the far side
is unavailable, keep the item and come back later.

Resuming is the same as running: items already done are not pending any more, and a
copy that was cut off starts again with a HEAD of what the destination already has,
so only what is missing is sent. Retries back off from `retry_seconds` doubling to
`retry_max_seconds`; an event-triggered execution is re-driven until it is done (its
events are never dropped), and the policy's later event executions wait behind it,
so deletes and pushes reach the destination in the order they happened here.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dockyard.errors import NotFound
from dockyard.jobs import JobCancelled
from dockyard.metadata.engine import utcnow
from dockyard.replication.copy import Copier, CopyOptions, Transient
from dockyard.replication.planner import namespaces, plan
from dockyard.replication.records import Execution, Item, NewItem, Outcome, Policy
from dockyard.replication.settings import ReplicationSettings
from dockyard.replication.sides import LocalSide, RemoteSide, Side
from dockyard.replication.store import ReplicationStore

if TYPE_CHECKING:
    from dockyard.jobs import JobContext
    from dockyard.remote import Endpoints

log = logging.getLogger(__name__)

NAME = "replication"
RUN = "replication.run"


def endpoints_of(services: Any) -> Endpoints:
    """The stored endpoints (capability "registries"); a test may put its own in
    Services.extensions["replication.endpoints"]."""
    found = services.extensions.get("replication.endpoints")
    if found is not None:
        return found  # type: ignore[no-any-return]
    from dockyard.remote.service import endpoints

    return endpoints(services)


def settings_of(services: Any) -> ReplicationSettings:
    found = services.settings.section(NAME)
    return found if isinstance(found, ReplicationSettings) else ReplicationSettings()


def backoff(settings: ReplicationSettings, retries: int) -> float:
    return float(min(settings.retry_seconds * 2 ** min(retries, 30), settings.retry_max_seconds))


async def sides(services: Any, policy: Policy) -> tuple[Side, Side]:
    """(source, destination) of `policy`."""
    endpoints = endpoints_of(services)
    endpoint = await endpoints.get(policy.endpoint)
    # Harbor lists repositories per project (its catalog needs a system administrator);
    # any other registry's catalog is read once, whatever the globs
    harbor = namespaces(policy.filters) if endpoint.kind == "harbor" else None
    remote_side = RemoteSide(endpoints.remote(endpoint), harbor_namespaces=harbor or ())
    local: Side = LocalSide(services)
    far: Side = remote_side
    return (local, far) if policy.direction == "push" else (far, local)


class Runner:
    def __init__(self, services: Any, ctx: JobContext | None = None) -> None:
        self._services = services
        self._ctx = ctx
        self.settings = settings_of(services)
        self.store = ReplicationStore(services.store)
        self._holder = uuid.uuid4().hex
        self.counted: dict[str, int] = {}
        """item outcomes of this run, by state (the job's result)"""

    async def run(self, execution_id: int) -> str:
        """Run the execution (after the older unfinished ones of its policy, for an
        event execution); its state afterwards."""
        execution = await self.store.execution(execution_id)
        if execution.finished:
            return execution.state
        if execution.trigger in ("event", "redrive") and not execution.dry_run:
            for older in await self.store.unfinished_before(execution.policy_id, execution_id):
                state = await self._run_one(older)
                if state not in ("succeeded", "failed", "stopped"):
                    # the older one waits for a retry: this one waits behind it
                    return await self._wait_behind(execution, older)
        state = await self._run_one(execution_id)
        if state in ("succeeded", "failed", "stopped") and execution.trigger in (
            "event",
            "redrive",
        ):
            following = await self.store.unfinished_after(execution.policy_id, execution_id)
            if following is not None:  # the next one waited behind this one: go on
                await self._services.jobs.enqueue(
                    RUN, {"execution": following}, dedup_key=f"{RUN}:{following}"
                )
        return state

    async def _wait_behind(self, execution: Execution, older_id: int) -> str:
        older = await self.store.execution(older_id)
        if not await self.store.take_lease(execution.id, self._holder, self.settings.lease_seconds):
            return "running"
        await self.store.release(
            execution.id,
            self._holder,
            "retrying",
            error=f"waiting for execution {older_id} of the same policy",
            next_attempt_at=older.next_attempt_at or utcnow(),
        )
        return "retrying"

    async def _run_one(self, execution_id: int) -> str:
        store = self.store
        if not await store.take_lease(execution_id, self._holder, self.settings.lease_seconds):
            return (await store.execution(execution_id)).state  # someone else runs it
        renewing = asyncio.create_task(self._renew(execution_id))
        try:
            return await self._carry_out(execution_id)
        except JobCancelled:
            await store.cancel_open(execution_id)
            await store.release(execution_id, self._holder, "stopped", error="job cancelled")
            raise
        except BaseException as exc:
            # the database or this process failed, not an item: the job is retried
            with contextlib.suppress(Exception):
                await store.release(
                    execution_id,
                    self._holder,
                    "retrying",
                    error=str(exc)[:500],
                    next_attempt_at=utcnow(),
                )
            raise
        finally:
            renewing.cancel()

    async def _renew(self, execution_id: int) -> None:
        while True:
            await asyncio.sleep(self.settings.lease_seconds / 3)
            with contextlib.suppress(Exception):
                await self.store.renew_lease(
                    execution_id, self._holder, self.settings.lease_seconds
                )

    async def _carry_out(self, execution_id: int) -> str:
        store = self.store
        execution = await store.execution(execution_id)
        policy = await store.policy_by_id(execution.policy_id)
        if policy is None:
            await store.release(execution_id, self._holder, "failed", error="the policy is gone")
            return "failed"
        try:
            source, destination = await sides(self._services, policy)
        except NotFound as exc:
            await store.cancel_open(execution_id)
            await store.release(execution_id, self._holder, "failed", error=exc.message)
            return "failed"
        copier = Copier(
            source,
            destination,
            CopyOptions(
                filters=policy.filters,
                override=policy.override,
                dry_run=execution.dry_run,
                bandwidth_bytes=policy.bandwidth_bytes,
            ),
        )
        if execution.trigger in ("manual", "cron") and not await store.has_items(execution_id):
            try:
                await plan(policy, source, lambda items: self._add(execution_id, items))
            except Exception as exc:
                from dockyard.replication.copy import transient

                if not transient(exc):
                    await store.release(
                        execution_id, self._holder, "failed", error=f"listing the source: {exc}"
                    )
                    return "failed"
                return await self._retry(execution, f"listing the source: {exc}")
        in_order = execution.trigger in ("event", "redrive")
        lanes = 1 if in_order else self.settings.concurrency
        halted: list[str] = []
        """why the lanes stopped early: "stopped", or the transient error"""

        async def lane() -> None:
            while not halted:
                if self._ctx is not None:
                    await self._ctx.checkpoint()
                if await store.stop_requested(execution_id):
                    halted.append("stopped")
                    return
                item = await store.next_pending(execution_id)
                if item is None:
                    return
                try:
                    outcome = await self._carry(copier, item)
                except Transient as exc:
                    await store.finish_item(item.id, Outcome("pending", error=str(exc)))
                    halted.append(f"{item.source_repository}:{item.reference}: {exc}")
                    return
                await store.finish_item(item.id, outcome)
                self.counted[outcome.state] = self.counted.get(outcome.state, 0) + 1
                if outcome.state == "failed":
                    log.warning(
                        "replication %s: %s:%s failed: %s",
                        policy.name,
                        item.source_repository,
                        item.reference,
                        outcome.error,
                    )

        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(lanes):
                    group.create_task(lane())
        except BaseExceptionGroup as failed:  # the first one (JobCancelled, a DB error)
            raise failed.exceptions[0] from None
        if "stopped" in halted:
            await store.cancel_open(execution_id)
            await store.release(execution_id, self._holder, "stopped", error="stopped")
            return "stopped"
        if halted:
            return await self._retry(execution, halted[0])
        final = await store.execution(execution_id)
        state = "failed" if final.counts.get("failed") else "succeeded"
        error = None if state == "succeeded" else f"{final.counts['failed']} items failed"
        await store.release(execution_id, self._holder, state, error=error)
        return state

    @staticmethod
    async def _carry(copier: Copier, item: Item) -> Outcome:
        if item.action == "delete":
            return await copier.delete(item.destination_repository, item.reference)
        if item.action == "referrer":
            return await copier.copy_referrer(
                item.source_repository, item.reference, item.destination_repository
            )
        return await copier.copy(
            item.source_repository, item.reference, item.destination_repository
        )

    async def _add(self, execution_id: int, items: Sequence[NewItem]) -> None:
        await self.store.add_items(execution_id, items)

    async def _retry(self, execution: Execution, error: str) -> str:
        never_give_up = execution.trigger in ("event", "redrive")
        if not never_give_up and execution.retries >= self.settings.max_retries:
            await self.store.cancel_open(execution.id)
            await self.store.release(
                execution.id,
                self._holder,
                "failed",
                error=f"gave up after {execution.retries} retries: {error}",
            )
            return "failed"
        delay = backoff(self.settings, execution.retries)
        when = utcnow() + dt.timedelta(seconds=delay)
        await self.store.release(
            execution.id,
            self._holder,
            "retrying",
            error=error,
            next_attempt_at=when,
            retried=True,
        )
        await self._services.jobs.enqueue(
            RUN,
            {"execution": execution.id},
            dedup_key=f"{RUN}:{execution.id}:retry{execution.retries + 1}",
            run_after=when,
        )
        log.info("replication execution %s retries in %.0fs: %s", execution.id, delay, error)
        return "retrying"
