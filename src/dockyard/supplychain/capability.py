"""What the package contributes through the capability seam (dockyard.capabilities)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer
    from fastapi import APIRouter

    from dockyard.capabilities import Capability
    from dockyard.registry.policies import PullPolicy

MIGRATIONS = Path(__file__).with_name("migrations")


def _router() -> APIRouter:
    from dockyard.supplychain.api import router

    return router()


def _cli() -> typer.Typer:
    from dockyard.supplychain.cli import app

    return app()


def _vulndb_cli() -> typer.Typer:
    from dockyard.supplychain.cli import vulndb_app

    return vulndb_app()


def _scan_command(app: typer.Typer) -> None:
    from dockyard.supplychain.cli import add_scan

    add_scan(app)


def _pull_policies(services: Any) -> list[PullPolicy]:
    from dockyard.supplychain.service import SupplyChainService

    return [SupplyChainService(services).gate()]


def capability() -> tuple[Capability, ...]:
    from dockyard.capabilities import Capability
    from dockyard.supplychain.jobs import CONSUMER, REMATCH_KIND, SCAN_KIND, schedules
    from dockyard.supplychain.settings import SupplyChainSettings

    return (
        Capability(
            name="supplychain",
            settings=SupplyChainSettings,
            migrations=MIGRATIONS,
            router=_router,
            cli=_cli,
            commands=_scan_command,
            pull_policies=_pull_policies,
            jobs=(SCAN_KIND, REMATCH_KIND),
            schedules=schedules,
            consumers=(CONSUMER,),
        ),
        Capability(name="vulndb", cli=_vulndb_cli),
    )
