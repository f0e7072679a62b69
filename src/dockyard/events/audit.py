"""The audit trail as an event consumer: it records the changes no request of a user
made (those a job made, whose actor is `job:<kind>`) and quota refusals, with
what the event knows. Changes made through the API or /v2/ are audited where they
are handled, with the client's address, so they are not recorded twice."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from dockyard import events as ev
from dockyard.events import Event, EventConsumer
from dockyard.jobs import JobContext
from dockyard.metadata.identity import AuditEvent

JOB_ACTOR = "job:"
"""the prefix of a job's actor name: `job:retention.run` deleted it"""


def audited(event: Event) -> bool:
    return event.kind == ev.QUOTA_EXCEEDED or (event.actor or "").startswith(JOB_ACTOR)


def entry(event: Event) -> AuditEvent:
    resource = event.repository or ""
    if event.tag:
        resource += f":{event.tag}"
    elif event.digest:
        resource += f"@{event.digest}"
    detail = dict(event.detail) | {"event": event.id}
    if event.digest and event.tag:
        detail["digest"] = event.digest
    refused = event.kind == ev.QUOTA_EXCEEDED
    return AuditEvent(
        actor=event.actor or "-",
        actor_kind="job" if (event.actor or "").startswith(JOB_ACTOR) else "user",
        address="",
        action=event.kind,
        resource=resource[:512],
        outcome="failed" if refused else "ok",
        project=event.project,
        detail=detail,
        at=event.at if event.at.tzinfo else event.at.replace(tzinfo=dt.UTC),
    )


async def record(ctx: JobContext, batch: Sequence[Event]) -> None:
    entries = [entry(e) for e in batch if audited(e)]
    if entries:  # an error here retries the batch (the consumer's cursor stays)
        await ctx.services.identity.audit.add_audit(entries)


AUDIT = EventConsumer(
    "audit",
    frozenset({ev.PUSHED, ev.DELETED, ev.TAG_DELETED, ev.REPOSITORY_DELETED, ev.QUOTA_EXCEEDED}),
    record,
)
