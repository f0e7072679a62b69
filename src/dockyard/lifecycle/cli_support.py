"""What `dockyard gc` and `dockyard fsck` share: they run against the store the
server is configured with (the same --config / --data-dir / DOCKYARD_* settings as
`dockyard serve`), beside a running server, and fail with one line."""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from dockyard.context import Services

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="YAML config file (default: $DOCKYARD_CONFIG).", dir_okay=False
    ),
]
DataDirOpt = Annotated[
    Path | None, typer.Option("--data-dir", help="Where SQLite metadata and blobs live.")
]
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """`0s`, `90`, `30m`, `24h`, `7d`, `1h30m` as seconds."""
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([smhd]?)", text.strip().lower())
    if not parts or "".join(n + u for n, u in parts) != re.sub(r"\s+", "", text.strip().lower()):
        raise typer.BadParameter(f"{text!r} is not a duration (e.g. 0s, 30m, 24h, 7d)")
    return sum(float(n) * _UNITS[u] for n, u in parts)


def fail(command: str, message: str) -> NoReturn:
    typer.echo(f"dockyard {command}: {' '.join(str(message).split())}", err=True)
    raise typer.Exit(code=1)


def load(command: str, config: Path | None, data_dir: Path | None) -> Any:
    from dockyard.config import load_settings
    from dockyard.errors import ConfigError

    try:
        return load_settings(config, {"data_dir": data_dir} if data_dir else {})
    except ConfigError as exc:
        fail(command, str(exc))


@contextlib.asynccontextmanager
async def open_services(command: str, settings: Any) -> AsyncIterator[Services]:
    """The Services of the configured store (no worker, no server), closed after."""
    from dockyard.capabilities import REGISTERED
    from dockyard.errors import SchemaError
    from dockyard.services import build_services

    try:  # with every capability: the schema check knows their migration branches
        services = await build_services(settings, capabilities=REGISTERED)
    except SchemaError as exc:
        fail(command, str(exc))
    except OSError as exc:
        fail(command, f"cannot open the store: {exc}")
    try:
        yield services
    finally:
        await services.close()


def stderr_is_tty() -> bool:
    return sys.stderr.isatty()
