"""Repositories and artifacts of a project, as the management surface sees them: who
may list and delete what, and what a deletion makes stale."""

from __future__ import annotations

from dockyard.accounts.guard import Actor, Guard
from dockyard.auth import permissions as perm
from dockyard.auth.service import AuthService
from dockyard.cache.base import Cache
from dockyard.errors import Denied, ManifestUnknown, NotFound, Unsupported
from dockyard.metadata.identity import ArtifactSummary, Page, RepositorySummary
from dockyard.metadata.identity_stores import Identity
from dockyard.metadata.records import MetadataStore
from dockyard.oci.names import MAX_NAME_LENGTH
from dockyard.registry.manifests import ManifestService


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
        self, actor: Actor, project: str, query: str | None, page: Page
    ) -> tuple[list[RepositorySummary], int]:
        """The project's repositories the actor may pull: a member limited to
        repository globs sees only those."""
        await self._guard.project(actor, project, perm.PULL)
        globs = await self._auth.pullable_globs(actor.principal, project)
        if globs is None:
            return await self._identity.catalog.list_project_repositories(project, query, page)
        names = [
            n
            for n in await self._identity.catalog.project_repository_names(project)
            if globs and perm.repo_matches(globs, n) and (not query or query in n)
        ]
        found, _ = await self._identity.catalog.list_project_repositories(
            project, None, Page(1, page.size), names=names[page.offset : page.offset + page.size]
        )
        return found, len(names)

    async def artifacts(
        self, actor: Actor, project: str, path: str, page: Page
    ) -> tuple[str, list[ArtifactSummary], int]:
        full = await self._repository(actor, project, path, perm.PULL)
        found, total = await self._identity.catalog.list_artifacts(full, page)
        return full, found, total

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
