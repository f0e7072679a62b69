"""Managing replication (system administrators): policies (validated, their cron
kept as a schedule), starting an execution (manual, or a dry run), stopping and
retrying one, and reading executions with their items. Every change is audited."""

from __future__ import annotations

import builtins
import dataclasses
import re
from typing import Any

from dockyard.accounts.guard import Actor
from dockyard.errors import Conflict, InvalidRequest, NotFound
from dockyard.jobs import Schedule
from dockyard.jobs.cron import valid_cron
from dockyard.replication.records import Execution, Item, Policy
from dockyard.replication.runner import RUN, endpoints_of
from dockyard.replication.store import ReplicationStore

NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
START = "replication.start"
SCHEDULE_PREFIX = "replication.policy."


class InvalidPolicy(InvalidRequest):
    pass


def schedule_name(policy: str) -> str:
    return SCHEDULE_PREFIX + policy


def check(policy: Policy) -> None:
    """What a policy may say, beyond each field's own shape (the API's models)."""
    if not re.match(NAME_PATTERN, policy.name):
        raise InvalidPolicy(
            "a policy name is 1-64 lowercase letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    if policy.direction not in ("push", "pull"):
        raise InvalidPolicy("direction is push (to the endpoint) or pull (from it)")
    if policy.trigger not in ("manual", "event", "cron"):
        raise InvalidPolicy("trigger is manual, event or cron")
    if policy.trigger == "event" and policy.direction != "push":
        raise InvalidPolicy(
            "an event trigger follows this registry's pushes and deletes: only push "
            "policies can have it (schedule a pull policy with a cron trigger)"
        )
    if policy.trigger == "cron":
        if not policy.cron or not valid_cron(policy.cron):
            raise InvalidPolicy("a cron trigger needs a valid five-field cron expression")
    elif policy.cron:
        raise InvalidPolicy("cron is only for a policy whose trigger is cron")
    if policy.delete_propagation and policy.trigger != "event":
        raise InvalidPolicy(
            "delete propagation replays this registry's delete events: it needs a push "
            "policy with the event trigger"
        )
    if policy.bandwidth_bytes < 0:
        raise InvalidPolicy("bandwidth is bytes per second, 0 for no limit")


def _detail(policy: Policy) -> dict[str, object]:
    return {
        "direction": policy.direction,
        "endpoint": policy.endpoint,
        "trigger": policy.trigger,
        "cron": policy.cron,
        "filters": policy.filters.model_dump(),
        "rewrite": policy.rewrite.model_dump(),
        "delete_propagation": policy.delete_propagation,
        "override": policy.override,
        "bandwidth_bytes": policy.bandwidth_bytes,
        "enabled": policy.enabled,
    }


class ReplicationService:
    def __init__(self, services: Any) -> None:
        self._services = services
        self.store = ReplicationStore(services.store)

    def _admin(self, actor: Actor, what: str) -> None:
        self._services.guard.admin(actor, what)

    async def _check_endpoint(self, name: str) -> None:
        try:
            await endpoints_of(self._services).get(name)
        except NotFound:
            raise NotFound(
                f"no registry endpoint named {name!r} (add it with `dockyard registry add`)"
            ) from None

    async def _schedule(self, policy: Policy) -> None:
        jobs = self._services.jobs
        if policy.trigger == "cron" and policy.enabled and policy.cron:
            await jobs.put_schedule(
                Schedule(schedule_name(policy.name), policy.cron, START, {"policy": policy.name})
            )
        else:
            await jobs.delete_schedule(schedule_name(policy.name))

    async def create(self, actor: Actor, policy: Policy) -> Policy:
        self._admin(actor, "create replication policies")
        check(policy)
        await self._check_endpoint(policy.endpoint)
        created = await self.store.create_policy(dataclasses.replace(policy, created_by=actor.name))
        await self._schedule(created)
        await self._services.guard.record(
            actor, "replication.policy.create", created.name, detail=_detail(created)
        )
        return created

    async def list(self, actor: Actor) -> list[Policy]:
        self._admin(actor, "list replication policies")
        return await self.store.policies()

    async def get(self, actor: Actor, name: str) -> Policy:
        self._admin(actor, "read replication policies")
        return await self.store.policy(name)

    async def update(self, actor: Actor, name: str, changes: dict[str, Any]) -> Policy:
        self._admin(actor, "change replication policies")
        current = await self.store.policy(name)
        updated = dataclasses.replace(current, **changes)
        try:
            check(updated)
        except InvalidPolicy as exc:  # the change is fine, but not with the other fields
            raise Conflict(exc.message) from None
        if updated.endpoint != current.endpoint:
            await self._check_endpoint(updated.endpoint)
        saved = await self.store.update_policy(updated)
        await self._schedule(saved)
        await self._services.guard.record(
            actor, "replication.policy.update", name, detail=_detail(saved)
        )
        return saved

    async def delete(self, actor: Actor, name: str) -> None:
        """The policy's executions go with it; executions running stop at their next item."""
        self._admin(actor, "delete replication policies")
        await self.store.delete_policy(name)
        await self._services.jobs.delete_schedule(schedule_name(name))
        await self._services.guard.record(actor, "replication.policy.delete", name)

    # -- executions -------------------------------------------------------------

    async def start(self, actor: Actor, name: str, *, dry_run: bool = False) -> Execution:
        self._admin(actor, "run replication policies")
        policy = await self.store.policy(name)
        if not policy.enabled and not dry_run:
            raise Conflict(f"policy {name} is disabled (enable it, or ask for a dry run)")
        execution_id = await self.store.create_execution(
            policy, "manual", actor.name, dry_run=dry_run
        )
        assert execution_id is not None
        await self._services.jobs.enqueue(
            RUN, {"execution": execution_id}, dedup_key=f"{RUN}:{execution_id}"
        )
        await self._services.guard.record(
            actor,
            "replication.run",
            name,
            detail={"execution": execution_id, "dry_run": dry_run},
        )
        return await self.store.execution(execution_id)

    async def executions(
        self,
        actor: Actor,
        *,
        policy: str | None = None,
        state: str | None = None,
        limit: int = 50,
        before: int | None = None,
        after: int | None = None,
        oldest_first: bool = False,
    ) -> tuple[builtins.list[Execution], bool]:
        """A page of executions, and whether more follow (one more is read to know)."""
        self._admin(actor, "read replication executions")
        found = await self.store.executions(
            policy=policy,
            state=state,
            limit=limit + 1,
            before=before,
            after=after,
            oldest_first=oldest_first,
        )
        return found[:limit], len(found) > limit

    async def execution(self, actor: Actor, execution_id: int) -> Execution:
        self._admin(actor, "read replication executions")
        return await self.store.execution(execution_id)

    async def items(
        self,
        actor: Actor,
        execution_id: int,
        *,
        state: str | None = None,
        limit: int = 100,
        after: int | None = None,
    ) -> builtins.list[Item]:
        self._admin(actor, "read replication executions")
        await self.store.execution(execution_id)  # NotFound when there is none
        return await self.store.items(execution_id, state=state, limit=limit, after=after)

    async def stop(self, actor: Actor, execution_id: int) -> Execution:
        self._admin(actor, "stop replication executions")
        await self.store.execution(execution_id)
        if not await self.store.request_stop(execution_id):
            raise Conflict(f"execution {execution_id} has already finished")
        await self._services.guard.record(
            actor, "replication.stop", str(execution_id), detail={"execution": execution_id}
        )
        return await self.store.execution(execution_id)

    async def retry(self, actor: Actor, execution_id: int) -> Execution:
        """A failed or stopped execution's failed and cancelled items, run again."""
        self._admin(actor, "retry replication executions")
        await self.store.execution(execution_id)
        if not await self.store.reopen(execution_id):
            raise Conflict(f"execution {execution_id} is not failed or stopped: nothing to retry")
        await self._services.jobs.enqueue(
            RUN, {"execution": execution_id}, dedup_key=f"{RUN}:{execution_id}"
        )
        await self._services.guard.record(
            actor, "replication.retry", str(execution_id), detail={"execution": execution_id}
        )
        return await self.store.execution(execution_id)
