"""Repositories and artifacts of a project, as the management surface sees them: who
may list and delete what, and what a deletion makes stale. Whoever may pull a
repository may read its listings, its tags and its artifacts in full."""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.accounts.guard import Actor, Guard
from dockyard.auth import permissions as perm
from dockyard.auth.service import AuthService
from dockyard.cache.base import Cache
from dockyard.errors import Denied, ManifestUnknown, NotFound, Unsupported
from dockyard.metadata.identity import (
    ArtifactSort,
    ArtifactSummary,
    Page,
    ReferrerSummary,
    RepositorySort,
    RepositorySummary,
    TagSort,
    TagSummary,
)
from dockyard.metadata.identity_stores import CatalogStore, Identity
from dockyard.metadata.records import MetadataStore
from dockyard.oci.names import MAX_NAME_LENGTH
from dockyard.registry.manifests import ManifestService

MAX_REFERRER_DEPTH = 3
"""referrers of referrers, of referrers (a signature of an attestation of an image)"""
MAX_REFERRERS = 200
"""nodes of one artifact's referrer tree, all levels together"""


@dataclass(frozen=True, slots=True)
class ReferrerNode:
    referrer: ReferrerSummary
    referrers: tuple[ReferrerNode, ...] = ()


@dataclass(frozen=True, slots=True)
class ArtifactDetail:
    repository: str
    artifact: ArtifactSummary
    referrers: tuple[ReferrerNode, ...]
    """the manifests whose subject is the artifact, each with its own, recursively"""
    referrers_truncated: bool
    """there are more than the tree holds (deeper than MAX_REFERRER_DEPTH, or more
    than MAX_REFERRERS in all)"""


async def referrer_tree(
    catalog: CatalogStore,
    repository: str,
    digest: str,
    depth: int = MAX_REFERRER_DEPTH,
    limit: int = MAX_REFERRERS,
) -> tuple[tuple[ReferrerNode, ...], bool]:
    """What refers to `digest`, level by level (one query per level, on the subject
    index the /v2 referrers API uses), at most `depth` levels and `limit` nodes;
    and whether anything was left out. A manifest names its subject by digest, so
    the graph has no cycles; `seen` guards against a store that says otherwise."""
    seen = {digest}
    below: dict[str, list[ReferrerSummary]] = {}
    frontier: list[str] = [digest]
    left, truncated = limit, False
    for _ in range(depth):
        if not frontier or left == 0:
            break
        found = [
            r
            for r in await catalog.referrers_of(repository, frontier, left + 1)
            if r.digest not in seen
        ]
        if len(found) > left:
            truncated, found = True, found[:left]
        left -= len(found)
        for r in found:
            seen.add(r.digest)
            below.setdefault(r.subject, []).append(r)
        frontier = [r.digest for r in found]
    if not truncated and frontier:  # stopped by the depth or the limit: anything further?
        truncated = any(
            r.digest not in seen for r in await catalog.referrers_of(repository, frontier, 1)
        )

    def nodes(subject: str) -> tuple[ReferrerNode, ...]:
        return tuple(ReferrerNode(r, nodes(r.digest)) for r in below.get(subject, ()))

    return nodes(digest), truncated


class RepositoryService:
    def __init__(
        self,
        identity: Identity,
        store: MetadataStore,
        manifests: ManifestService,
        cache: Cache,
        auth: AuthService,
        guard: Guard,
        *,
        delete_enabled: bool,
    ) -> None:
        self._identity = identity
        self._store = store
        self._manifests = manifests
        self._cache = cache
        self._auth = auth
        self._guard = guard
        self._delete_enabled = delete_enabled

    async def _repository(self, actor: Actor, project: str, path: str, action: str) -> str:
        """The full name, if it exists and the actor may take `action` on it."""
        await self._guard.project(actor, project, None)
        full = f"{project}/{path}"
        await self._guard.repository(actor, full, action)
        if len(full) > MAX_NAME_LENGTH or not await self._store.repository_exists(full):
            raise NotFound(f"repository {full!r} not found")
        return full

    async def list_repositories(
        self,
        actor: Actor,
        project: str,
        query: str | None,
        page: Page,
        sort: RepositorySort = "name",
    ) -> tuple[list[RepositorySummary], int]:
        """The project's repositories the actor may pull: a member limited to
        repository globs sees only those."""
        await self._guard.project(actor, project, perm.PULL)
        catalog = self._identity.catalog
        globs = await self._auth.pullable_globs(actor.principal, project)
        if globs is None:
            return await catalog.list_project_repositories(project, query, page, sort=sort)
        names = [
            n
            for n in await catalog.project_repository_names(project)
            if globs and perm.repo_matches(globs, n) and (not query or query.lower() in n)
        ]
        if not names:
            return [], 0
        if sort in ("pushed", "-pushed", "updated"):  # the database orders them
            return await catalog.list_project_repositories(project, None, page, names, sort)
        if sort == "-name":
            names.reverse()
        chosen = names[page.offset : page.offset + page.size]
        found, _ = await catalog.list_project_repositories(
            project, None, Page(1, page.size), chosen, sort
        )
        return found, len(names)

    async def artifacts(
        self,
        actor: Actor,
        project: str,
        path: str,
        page: Page,
        query: str | None = None,
        sort: ArtifactSort = "-pushed",
    ) -> tuple[str, list[ArtifactSummary], int]:
        full = await self._repository(actor, project, path, perm.PULL)
        found, total = await self._identity.catalog.list_artifacts(full, page, query, sort)
        return full, found, total

    async def tags(
        self, actor: Actor, project: str, path: str, query: str | None, sort: TagSort, page: Page
    ) -> tuple[list[TagSummary], int]:
        full = await self._repository(actor, project, path, perm.PULL)
        return await self._identity.catalog.list_tags(full, query, sort, page)

    async def artifact(
        self, actor: Actor, project: str, path: str, reference: str
    ) -> ArtifactDetail:
        """One artifact by digest or tag, with the tree of what refers to it."""
        full = await self._repository(actor, project, path, perm.PULL)
        catalog = self._identity.catalog
        found = await catalog.get_artifact(full, reference)
        if found is None:
            raise NotFound(
                f"artifact {reference!r} not found in {full}",
                detail={"name": full, "reference": reference},
            )
        tree, truncated = await referrer_tree(catalog, full, found.digest)
        return ArtifactDetail(full, found, tree, truncated)

    async def delete_tag(self, actor: Actor, project: str, path: str, tag: str) -> None:
        """Drop the tag; the artifact stays."""
        full = await self._repository(actor, project, path, perm.DELETE_TAG)
        try:
            await self._manifests.delete(full, tag, actor.name)
        except ManifestUnknown:
            raise NotFound(f"tag {tag!r} not found in {full}") from None
        except Unsupported as exc:
            raise Denied(exc.message) from None
        await self._guard.record(actor, "tag.delete", f"{full}:{tag}", project=project)

    async def delete_artifact(self, actor: Actor, project: str, path: str, digest: str) -> None:
        """Drop one artifact by digest: its manifest and every tag on it, as the
        registry's manifest DELETE does (immutable tags refuse; quota follows; what
        refers to it stays until deleted itself)."""
        full = await self._repository(actor, project, path, perm.DELETE)
        try:
            await self._manifests.delete(full, digest, actor.name)
        except ManifestUnknown:
            raise NotFound(
                f"artifact {digest} not found in {full}", detail={"name": full, "digest": digest}
            ) from None
        except Unsupported as exc:
            raise Denied(exc.message) from None
        await self._guard.record(actor, "artifact.delete", f"{full}@{digest}", project=project)

    async def delete(self, actor: Actor, project: str, path: str) -> None:
        """Drop the repository with its artifacts and tags (quota follows)."""
        full = await self._repository(actor, project, path, perm.DELETE)
        if not self._delete_enabled:
            raise Denied("deletion is disabled on this registry")
        await self._manifests.check_repository_delete(full, actor.name)  # immutable tags
        if not await self._identity.catalog.delete_repository(full, actor.name):
            raise NotFound(f"repository {full!r} not found")
        await self._cache.invalidate(full)
        await self._guard.record(actor, "repository.delete", full, project=project)
