"""fsck, as a capability: `dockyard fsck [--verify-digests] [--repair]` checks every
metadata reference against storage (checker.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dockyard.capabilities import Capability

if TYPE_CHECKING:
    import typer


def _cli() -> typer.Typer:
    from dockyard.lifecycle.fsck.cli import app

    return app


CAPABILITY = Capability(name="fsck", cli=_cli)
