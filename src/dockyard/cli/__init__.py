"""The command line: `commands.py` (serve, migrate, config verify, and the app that
gathers every group), `admin.py` and `access.py` (users, projects, robots, members),
and `client.py`, the HTTP client of the management API those commands drive."""

from __future__ import annotations

from dockyard.cli.commands import main

__all__ = ["main"]
