"""The registries capability, as the core sees it (dockyard.capabilities): its
settings, its table (an Alembic branch), API routes and the `dockyard registry`
command group. The client (client.py) is what replication and the proxy cache use."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dockyard.remote.settings import RegistriesSettings

if TYPE_CHECKING:
    import typer
    from fastapi import APIRouter

    from dockyard.capabilities import Capability

NAME = "registries"
MIGRATIONS = Path(__file__).with_name("migrations")


def _router() -> APIRouter:
    from dockyard.remote.api import router

    return router


def _commands(root: typer.Typer) -> None:
    from dockyard.remote.cli import app

    root.add_typer(app, name="registry")


def capability() -> Capability:
    from dockyard.capabilities import Capability

    return Capability(
        name=NAME,
        settings=RegistriesSettings,
        router=_router,
        commands=_commands,
        migrations=MIGRATIONS,
    )
