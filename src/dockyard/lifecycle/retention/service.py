"""The retention capability's domain service: who may change immutability rules and
retention policies (project administrators; members may read them), evaluating a
policy (the dry run), carrying it out through the registry's own deletion (so caches,
quota and events stay right), and enqueuing the job that does it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from dockyard.accounts.guard import Actor
from dockyard.auth import permissions as perm
from dockyard.errors import Denied, ManifestUnknown, NotFound, Unsupported
from dockyard.lifecycle.retention.immutability import RuleCache, protecting
from dockyard.lifecycle.retention.jobs import JOB_KIND
from dockyard.lifecycle.retention.policy import Decision, RetentionPolicy, evaluate
from dockyard.lifecycle.retention.store import (
    ImmutabilityRule,
    RetentionStore,
    StoredPolicy,
)
from dockyard.metadata.engine import HasEngines
from dockyard.metadata.identity import AuditEvent

if TYPE_CHECKING:
    from dockyard.context import Services

ACTOR = "retention"
"""what the deletions a run makes are attributed to (events, audit)"""

Log = Callable[[str], Awaitable[None]]


async def _quiet(message: str) -> None:
    return None


@dataclass
class Report:
    project: str
    evaluated_at: dt.datetime
    dry_run: bool
    kept: list[Decision] = field(default_factory=list)
    removed: list[Decision] = field(default_factory=list)
    """what goes (dry run) or went (run)"""
    skipped: list[tuple[Decision, str]] = field(default_factory=list)
    """removals a run did not make, and why (changed since evaluated, refused)"""

    def summary(self) -> dict[str, object]:
        return {
            "project": self.project,
            "dry_run": self.dry_run,
            "kept": len(self.kept),
            "removed": len(self.removed),
            "skipped": len(self.skipped),
            "removed_artifacts": [
                {"repository": d.artifact.repository, "digest": d.artifact.digest}
                for d in self.removed[:1000]
            ],
        }


class RetentionService:
    def __init__(self, services: Services) -> None:
        self._s = services
        self.store = RetentionStore(cast(HasEngines, services.store))
        self.rules = RuleCache(self.store, services.cache, services.identity.projects)

    async def _project(self, actor: Actor, project: str, action: str) -> int:
        return (await self._s.guard.project(actor, project, action)).id

    async def project_id(self, project: str) -> int:
        found = await self._s.identity.projects.get_project(project)
        if found is None:
            raise NotFound(f"project {project!r} not found")
        return found.id

    # -- immutability -----------------------------------------------------------

    async def list_rules(self, actor: Actor, project: str) -> list[ImmutabilityRule]:
        return await self.store.rules(await self._project(actor, project, perm.READ_PROJECT))

    async def add_rule(
        self, actor: Actor, project: str, repository: str, tag: str
    ) -> ImmutabilityRule:
        pid = await self._project(actor, project, perm.UPDATE_PROJECT)
        try:
            rule = await self.store.add_rule(pid, repository, tag, actor.name)
        finally:
            await self.rules.invalidate(pid)
        await self._s.guard.record(
            actor,
            "immutability.create",
            f"{project}:{repository}:{tag}",
            project=project,
            detail={"id": rule.id, "repository": repository, "tag": tag},
        )
        return rule

    async def remove_rule(self, actor: Actor, project: str, rule_id: int) -> None:
        pid = await self._project(actor, project, perm.UPDATE_PROJECT)
        try:
            if not await self.store.remove_rule(pid, rule_id):
                raise NotFound(f"project {project!r} has no immutability rule {rule_id}")
        finally:
            await self.rules.invalidate(pid)
        await self._s.guard.record(
            actor, "immutability.delete", f"{project}:{rule_id}", project=project
        )

    # -- retention policies ---------------------------------------------------------

    async def get_policy(self, actor: Actor, project: str) -> StoredPolicy | None:
        return await self.store.policy(await self._project(actor, project, perm.READ_PROJECT))

    async def put_policy(self, actor: Actor, project: str, policy: RetentionPolicy) -> StoredPolicy:
        pid = await self._project(actor, project, perm.UPDATE_PROJECT)
        stored = await self.store.put_policy(pid, policy, actor.name)
        await self._s.guard.record(
            actor,
            "retention.update",
            project,
            project=project,
            detail={"enabled": policy.enabled, "rules": len(policy.rules)},
        )
        return stored

    async def delete_policy(self, actor: Actor, project: str) -> None:
        pid = await self._project(actor, project, perm.UPDATE_PROJECT)
        if not await self.store.delete_policy(pid):
            raise NotFound(f"project {project!r} has no retention policy")
        await self._s.guard.record(actor, "retention.delete", project, project=project)

    async def dry_run(
        self, actor: Actor, project: str, policy: RetentionPolicy | None = None
    ) -> Report:
        """What the stored policy (or `policy`, not stored) would remove now."""
        await self._project(actor, project, perm.UPDATE_PROJECT)
        return await self.evaluate(project, policy)

    async def enqueue(self, actor: Actor, project: str) -> int:
        """Queue a run of the project's policy (at most one queued per project)."""
        pid = await self._project(actor, project, perm.UPDATE_PROJECT)
        if await self.store.policy(pid) is None:
            raise NotFound(f"project {project!r} has no retention policy")
        job_id = await self._s.jobs.enqueue(
            JOB_KIND, {"project": project}, dedup_key=f"{JOB_KIND}:{project}"
        )
        await self._s.guard.record(
            actor, "retention.run", project, project=project, detail={"job": job_id}
        )
        return job_id

    # -- evaluation and execution (the job; no actor) -------------------------------

    async def evaluate(self, project: str, policy: RetentionPolicy | None = None) -> Report:
        pid = await self.project_id(project)
        if policy is None:
            stored = await self.store.policy(pid)
            policy = stored.policy if stored is not None else RetentionPolicy(rules=[])
        now = dt.datetime.now(dt.UTC)
        report = Report(project, now, dry_run=True)
        rules = await self.rules.rules(pid)
        immutable = lambda repo, tag: protecting(rules, repo, tag)  # noqa: E731
        for repository in await self.store.repositories(pid):
            if not any(rule.covers(repository) for rule in policy.rules):
                continue
            artifacts = await self.store.artifacts(repository)
            for decision in evaluate(policy, repository, artifacts, immutable, now):
                (report.kept if decision.keep else report.removed).append(decision)
        return report

    async def execute(
        self,
        project: str,
        log: Log = _quiet,
        checkpoint: Callable[[], Awaitable[None]] | None = None,
    ) -> Report:
        """Evaluate the stored policy and delete what it removes, in the order the
        evaluation gave (referrers before subjects, indexes before children). An
        artifact whose tags changed since it was evaluated is left for the next run."""
        planned = await self.evaluate(project)
        report = Report(project, planned.evaluated_at, dry_run=False, kept=planned.kept)
        await log(f"{project}: {len(planned.removed)} to remove, {len(planned.kept)} kept")
        manifests = self._s.manifests
        for decision in planned.removed:
            if checkpoint is not None:
                await checkpoint()
            a = decision.artifact
            now = tuple(await self._s.store.tags_of(a.repository, a.digest))
            if now != a.tags:
                report.skipped.append((decision, "its tags changed since it was evaluated"))
                continue
            try:
                await manifests.delete(a.repository, a.digest, ACTOR)
            except ManifestUnknown:
                report.skipped.append((decision, "already gone"))
                continue
            except Denied as exc:  # an immutability rule added since the evaluation
                report.skipped.append((decision, exc.message))
                continue
            except Unsupported as exc:
                raise Denied(f"retention cannot delete: {exc.message}") from None
            report.removed.append(decision)
            await log(f"removed {a.repository}@{a.digest} ({', '.join(a.tags) or 'untagged'})")
        await self._s.audit.write(
            AuditEvent(
                actor=ACTOR,
                actor_kind="system",
                address="",
                action="retention.execute",
                resource=project,
                project=project,
                detail={"removed": len(report.removed), "skipped": len(report.skipped)},
            )
        )
        return report
