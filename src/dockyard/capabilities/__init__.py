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
- `pull_policies`: given the built Services, policies the registry runs on every
  manifest GET/HEAD (registry/policies.py; each answers from its own cache);
- later issues add their slots here as the parts they plug into land: migrations
  on their own Alembic branch, jobs and schedules (issue 10's queue), event kinds
  consumed from its outbox, push-path hooks.

Adding a capability is adding a package and one line to `REGISTERED`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer
    from fastapi import APIRouter
    from pydantic import BaseModel

    from dockyard.registry.policies import PullPolicy


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


REGISTERED: tuple[Capability, ...] = ()
"""Every capability this build of Dockyard carries, in the order they are applied."""
