"""What an execution copies: the planner lists the source (this registry's catalog,
or the endpoint's catalog / Harbor's project API) and keeps what the policy's
repository and tag filters take; events (events.py) give their items directly.

Repository globs with a literal first path component (`team/*`) name the namespaces
to list, so a remote whose catalog is closed (Harbor for non-administrators, Docker
Hub) can still be planned when the policy names them; a fully literal name is taken
as is, with no listing at all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from dockyard import events as ev
from dockyard.errors import InvalidRequest
from dockyard.oci.digest import is_digest
from dockyard.replication.copy import is_attached_tag, is_cosign_tag
from dockyard.replication.policy import Filters, Rewrite
from dockyard.replication.records import NewItem, Policy
from dockyard.replication.sides import Side

GLOB_CHARS = frozenset("*?[")
BATCH = 500


def _literal(glob: str) -> bool:
    return not (GLOB_CHARS & set(glob))


def namespaces(filters: Filters) -> tuple[str, ...] | None:
    """The first path components every repository glob starts with, or None when
    some glob could match anything (the whole catalog must be listed)."""
    if not filters.repositories:
        return None
    found: list[str] = []
    for glob in filters.repositories:
        first, sep, _ = glob.partition("/")
        if not sep or not _literal(first):
            return None
        if first not in found:
            found.append(first)
    return tuple(found)


async def _repositories(source: Side, filters: Filters) -> AsyncIterator[str]:
    if filters.repositories and all(_literal(g) for g in filters.repositories):
        for name in filters.repositories:
            yield name
        return
    async for name in source.repositories():
        if filters.takes_repository(name):
            yield name


def _destination(rewrite: Rewrite, name: str) -> tuple[str, str | None]:
    try:
        return rewrite.destination(name), None
    except InvalidRequest as exc:
        return name, exc.message


async def plan(
    policy: Policy,
    source: Side,
    add: Callable[[Sequence[NewItem]], Awaitable[None]],
) -> int:
    """List the source and hand the items to `add` in batches; the number planned."""
    batch: list[NewItem] = []
    planned = 0
    async for repository in _repositories(source, policy.filters):
        destination, problem = _destination(policy.rewrite, repository)
        for tag in sorted(await source.tags(repository)):
            if is_attached_tag(tag) or not policy.filters.takes_tag(tag):
                continue  # cosign's and referrers-index tags go with their artifact
            batch.append(NewItem("copy", repository, tag, destination, error=problem))
            if len(batch) >= BATCH:
                await add(batch)
                planned += len(batch)
                batch = []
    if batch:
        await add(batch)
        planned += len(batch)
    return planned


def from_events(policy: Policy, events: Sequence[ev.Event]) -> list[NewItem]:
    """The items a batch of this registry's events calls for under a push policy."""
    items: list[NewItem] = []
    filters = policy.filters
    for event in events:
        repository = event.repository
        if repository is None or not filters.takes_repository(repository):
            continue
        destination, problem = _destination(policy.rewrite, repository)
        if event.kind == ev.PUSHED and event.tag is not None:
            if is_cosign_tag(event.tag):
                items.append(NewItem("referrer", repository, event.tag, destination, error=problem))
            elif is_attached_tag(event.tag):
                continue  # a referrers index: the destination keeps its own
            elif filters.takes_tag(event.tag):
                items.append(NewItem("copy", repository, event.tag, destination, error=problem))
        elif event.kind == ev.PUSHED and event.digest and event.detail.get("subject"):
            items.append(NewItem("referrer", repository, event.digest, destination, error=problem))
        elif not policy.delete_propagation:
            continue
        elif event.kind == ev.TAG_DELETED and event.tag is not None:
            if filters.takes_tag(event.tag) or is_cosign_tag(event.tag):
                items.append(NewItem("delete", repository, event.tag, destination, error=problem))
        elif event.kind == ev.DELETED and event.digest and is_digest(event.digest):
            tags = [str(t) for t in event.detail.get("tags") or ()]
            if not filters.tags or not tags or any(filters.takes_tag(t) for t in tags):
                items.append(
                    NewItem("delete", repository, event.digest, destination, error=problem)
                )
    return items
