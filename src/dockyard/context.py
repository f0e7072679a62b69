"""The services of a running Dockyard, as one explicit context object: built by
services.py (the only place backends are chosen), carried by the app, read by the
HTTP layer and the jobs. Everything here is a protocol or a domain service."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from dockyard.accounts.guard import Guard
from dockyard.accounts.projects import MemberService, ProjectService
from dockyard.accounts.repositories import RepositoryService
from dockyard.accounts.robots import RobotService
from dockyard.accounts.users import UserService
from dockyard.auth.audit import AuditLog
from dockyard.auth.service import AuthService
from dockyard.cache.base import Cache
from dockyard.config import Settings
from dockyard.diskspace import SpaceWatch
from dockyard.jobs import JobStore
from dockyard.metadata.gc import GcStore
from dockyard.metadata.identity_stores import Identity
from dockyard.metadata.records import MetadataStore
from dockyard.operations.jobs import JobService
from dockyard.registry.blobs import BlobService
from dockyard.registry.manifests import ManifestService
from dockyard.registry.pulls import PullCounter
from dockyard.registry.uploads import UploadService
from dockyard.storage.base import StorageDriver


@dataclass
class Services:
    settings: Settings
    storage: StorageDriver
    store: MetadataStore
    cache: Cache
    blobs: BlobService
    uploads: UploadService
    manifests: ManifestService
    identity: Identity
    audit: AuditLog
    auth: AuthService
    guard: Guard
    users: UserService
    projects: ProjectService
    members: MemberService
    robots: RobotService
    repositories: RepositoryService
    space: SpaceWatch
    jobs: JobStore
    """the durable job queue and the cron schedules (jobs/)"""
    job_admin: JobService
    gc: GcStore
    """what garbage collection and fsck read and delete (lifecycle/gc, lifecycle/fsck)"""
    pulls: PullCounter
    extensions: dict[str, Any] = field(default_factory=dict)
    """per-process state a capability keeps for the life of these services, under its
    name (the vulnerability database's in-memory index)"""
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    """what a capability's extension must release when these services close (the remote
    registries' connection pools), called first"""

    async def close(self) -> None:
        for release in self.closers:
            await release()
        self.closers.clear()
        self.auth.close()
        await self.store.close()
        # drivers that hold connections (S3) close them; a wrapper exposes its `inner`
        for resource in (getattr(self.storage, "inner", self.storage), self.cache):
            closer = getattr(resource, "close", None)
            if closer is not None:
                result = closer()
                if inspect.isawaitable(result):
                    await result
