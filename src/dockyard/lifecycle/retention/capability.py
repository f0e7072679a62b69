"""What the package contributes through the capability seam (dockyard.capabilities)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer
    from fastapi import APIRouter

    from dockyard.capabilities import Capability
    from dockyard.registry.policies import TagPolicy

MIGRATIONS = Path(__file__).with_name("migrations")


def _router() -> APIRouter:
    from dockyard.lifecycle.retention.api import router

    return router()


def _retention_cli() -> typer.Typer:
    from dockyard.lifecycle.retention.cli import retention_app

    return retention_app()


def _immutability_cli() -> typer.Typer:
    from dockyard.lifecycle.retention.cli import immutability_app

    return immutability_app()


def _tag_policies(services: Any) -> list[TagPolicy]:
    from dockyard.lifecycle.retention.immutability import ImmutabilityPolicy
    from dockyard.lifecycle.retention.service import RetentionService

    return [ImmutabilityPolicy(RetentionService(services).rules)]


def capabilities() -> tuple[Capability, ...]:
    """The two capabilities. `Capability` is imported here, not at the top: the core's
    capabilities module imports this one while it is being built."""
    from dockyard.capabilities import Capability
    from dockyard.lifecycle.retention.jobs import KIND, SCHEDULE

    return (
        Capability(
            name="retention",
            router=_router,
            cli=_retention_cli,
            migrations=MIGRATIONS,
            jobs=(KIND,),
            schedules=(SCHEDULE,),
        ),
        Capability(name="immutability", cli=_immutability_cli, tag_policies=_tag_policies),
    )
