"""The capability seam: how a capability package (scanning, replication, proxy cache,
P2P, …) plugs into the core without the core importing its internals.

A capability declares, in one `Capability` value, what it contributes; the core
reads `REGISTERED` (the one list, below) at the places each contribution belongs:

- `settings`: a pydantic model, validated as the top-level section named after
  the capability (YAML and DOCKYARD__<NAME>__* overrides, unknown keys refused);
  read back with `settings.section(name)` (config/__init__.py);
- `router`: an APIRouter mounted into the management API under /api/v1
  (http/api/app.py), with the same errors, auth and OpenAPI document;
- `cli`: a typer app added as `dockyard <name> …` (cli/commands.py);
- `commands`: a function that adds top-level commands to the root typer app
  (`dockyard scan REF`), for a verb that reads better without a group;
- `pull_policies`: given the built Services, policies the registry runs on every
  manifest GET/HEAD (registry/policies.py; each answers from its own cache);
- `migrations`: the folder of its Alembic revisions, on its own branch labelled with
  the capability's name (metadata/migrate.py); `dockyard migrate` applies every
  branch and the server refuses a database whose heads are not this build's;
- `jobs` / `schedules`: job kinds it runs and cron schedules that enqueue them
  (jobs/; the worker runs them on whichever replica is free); `schedules` may be a
  function of the Settings, for a cron the capability's section configures;
- `consumers`: event consumers fed from the outbox, in commit order (events/);
- `tag_policies`: given the built Services, policies asked before a tag is moved or
  deleted (registry/policies.py; tag immutability is one);
- `pull_sources`: given the built Services, where content a repository lacks comes
  from (registry/sources.py; the proxy cache), and the `?ns=` mirror routing;
- `storage`: given the Settings, the blob storage the core built and a function that
  builds another backend from a storage section (services.py stays the one place
  backends are chosen), the storage every service uses instead: tiering puts its
  two-tier driver here;
- `metrics`: given the built Services, an async function read at each scrape of
  /metrics giving the capability's metric families (read from its tables, so every
  replica reports the same figures: replication's executions and items).

Adding a capability is adding a package and one line to `REGISTERED`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer
    from fastapi import APIRouter
    from prometheus_client.metrics_core import Metric
    from pydantic import BaseModel

    from dockyard.events import EventConsumer
    from dockyard.jobs import JobKind, Schedule
    from dockyard.registry.policies import PullPolicy, TagPolicy
    from dockyard.registry.sources import PullSource
    from dockyard.storage.base import StorageDriver


@dataclass(frozen=True, slots=True)
class Capability:
    name: str
    """a lowercase identifier: the settings section, the CLI group, the API tag"""
    settings: type[BaseModel] | None = None
    """its settings section (every field with a default: an unset section is valid)"""
    router: Callable[[], APIRouter] | None = None
    """the capability's management API routes (built when the API is first used)"""
    pull_policies: Callable[[Any], Sequence[PullPolicy]] | None = None
    """policies for the pull path, built from the Services once they are up"""
    cli: Callable[[], typer.Typer] | None = None
    """its command group"""
    commands: Callable[[typer.Typer], None] | None = None
    """adds top-level commands to the root app (cli/commands.py)"""
    migrations: Path | None = None
    """its Alembic versions folder; the first revision has branch_labels=(name,) and
    depends_on the core revision it needs"""
    jobs: Sequence[JobKind] = ()
    schedules: Sequence[Schedule] | Callable[[Any], Sequence[Schedule]] = ()
    """its schedules, or a function of the Settings giving them"""
    consumers: Sequence[EventConsumer] = ()
    tag_policies: Callable[[Any], Sequence[TagPolicy]] | None = None
    """policies asked before a tag is moved or deleted, built from the Services"""
    pull_sources: Callable[[Any], Sequence[PullSource]] | None = None
    """pull-through sources (the proxy cache), built from the Services"""
    metrics: Callable[[Any], Callable[[], Awaitable[Sequence[Metric]]]] | None = None
    """given the Services, what each /metrics scrape adds (an exception leaves it out)"""
    storage: (
        Callable[[Any, StorageDriver, Callable[[Any, str], StorageDriver]], StorageDriver] | None
    ) = None
    """given the Settings, the blob storage and a builder (a storage section and the
    name its metrics go by → a driver), the storage the services use instead"""


def _registered() -> tuple[Capability, ...]:
    # imported here, once Capability exists: each capability's own module imports this one
    from dockyard.backup.capability import capability as backup
    from dockyard.convert.capability import capability as convert
    from dockyard.lifecycle.fsck import CAPABILITY as FSCK
    from dockyard.lifecycle.gc import CAPABILITY as GC
    from dockyard.lifecycle.retention.capability import capabilities as retention
    from dockyard.proxy.capability import capability as proxy
    from dockyard.remote.capability import capability as registries
    from dockyard.replication.capability import capability as replication
    from dockyard.supplychain.capability import capability as supplychain
    from dockyard.tiering.capability import capability as tiering
    from dockyard.usage.capability import capability as usage
    from dockyard.webhooks.capability import capability as webhooks

    return (
        webhooks(),
        GC,
        FSCK,
        *retention(),
        *supplychain(),
        registries(),
        proxy(),
        replication(),
        usage(),
        tiering(),
        backup(),
        convert(),
    )


def schedules_of(capability: Capability, settings: Any) -> Sequence[Schedule]:
    """The capability's schedules under `settings`."""
    found = capability.schedules
    return found(settings) if callable(found) else found


REGISTERED: tuple[Capability, ...] = _registered()
"""Every capability this build of Dockyard carries, in the order they are applied."""


def migration_branches(capabilities: Sequence[Capability]) -> list[Path]:
    """The capabilities' migration folders, for metadata/migrate.py."""
    return [c.migrations for c in capabilities if c.migrations is not None]
