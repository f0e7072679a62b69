"""Tag immutability: per-project rules (a repository glob and a tag glob, matched as
access control matches repository globs: the full name, `*` across '/'). A push that
would move a tag a rule covers to another digest, a delete of that tag, or a delete
of the manifest it points at is refused with DENIED naming the rule. Pushing the same
digest again is allowed; so is creating a tag for the first time.

The check answers from the shared cache (services.cache: per process, or Redis across
replicas): a project's rules are cached under its id and invalidated when they change,
so a push costs a cache probe, not a query. A project with no rules is cached too.
"""

from __future__ import annotations

import json
from fnmatch import fnmatchcase

from dockyard.auth.permissions import project_of
from dockyard.cache.base import Cache
from dockyard.errors import Denied
from dockyard.lifecycle.retention.store import RetentionStore
from dockyard.metadata.identity_stores import ProjectStore
from dockyard.metadata.records import ManifestRecord
from dockyard.registry.policies import TagChange

NAME = "immutability"


def rules_scope(project_id: int) -> str:
    """The cache scope of a project's rules: never a repository name (those have no '~')."""
    return f"~immutability/{project_id}"


class RuleCache:
    """A project's immutability rules, from the shared cache, else the database."""

    KEY = "rules"

    def __init__(self, store: RetentionStore, cache: Cache, projects: ProjectStore) -> None:
        self._store = store
        self._cache = cache
        self._projects = projects

    async def project_id(self, project: str) -> int | None:
        record = await self._projects.cached_project(project)
        return None if record is None else record.id

    async def rules(self, project_id: int) -> list[tuple[int, str, str]]:
        """(rule id, repository glob, tag glob) of the project."""
        scope = rules_scope(project_id)
        held = await self._cache.get(scope, self.KEY)
        if held is not None:
            return [(int(i), str(repo), str(tag)) for i, repo, tag in json.loads(held.content)]
        token = await self._cache.token(scope)
        found = [(r.id, r.repository, r.tag) for r in await self._store.rules(project_id)]
        content = json.dumps(found).encode()
        record = ManifestRecord("", "application/json", len(content), content)
        await self._cache.put(scope, self.KEY, record, token, len(content) + 256)
        return found

    async def invalidate(self, project_id: int) -> None:
        await self._cache.invalidate(rules_scope(project_id))

    async def protecting(self, repository: str, tag: str) -> str | None:
        """The rule protecting repository:tag, described, or None."""
        pid = await self.project_id(project_of(repository))
        if pid is None:
            return None
        return protecting(await self.rules(pid), repository, tag)


def protecting(rules: list[tuple[int, str, str]], repository: str, tag: str) -> str | None:
    for rule_id, repo_glob, tag_glob in rules:
        if fnmatchcase(repository, repo_glob) and fnmatchcase(tag, tag_glob):
            return f"immutability rule {rule_id}: {repo_glob}:{tag_glob}"
    return None


class ImmutabilityPolicy:
    """The tag policy (registry/policies.py) the capability plugs into the registry."""

    name = NAME

    def __init__(self, rules: RuleCache) -> None:
        self._rules = rules

    async def guards(self, repository: str, tag: str) -> bool:
        return await self._rules.protecting(repository, tag) is not None

    async def check(self, change: TagChange) -> None:
        if change.new_digest is not None and change.old_digest in (None, change.new_digest):
            return  # a new tag, or the same digest again
        rule = await self._rules.protecting(change.repository, change.tag)
        if rule is None:
            return
        where = f"{change.repository}:{change.tag}"
        if change.new_digest is None:
            raise Denied(
                f"tag {where} is immutable ({rule}): it cannot be deleted",
                detail={"rule": rule, "tag": change.tag, "repository": change.repository},
            )
        raise Denied(
            f"tag {where} is immutable ({rule}): it points at {change.old_digest} "
            f"and cannot be moved to {change.new_digest}",
            detail={"rule": rule, "tag": change.tag, "repository": change.repository},
        )
