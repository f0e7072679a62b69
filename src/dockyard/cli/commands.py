"""The `dockyard` command."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from dockyard import __version__
from dockyard.capabilities import REGISTERED
from dockyard.cli.admin import member_app, project_app, robot_app, user_app
from dockyard.cli.jobs import jobs_app, schedules_app
from dockyard.errors import ConfigError, SchemaError

app = typer.Typer(
    help="Dockyard: an OCI container registry for Kubernetes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Inspect and check configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(user_app, name="user")
app.add_typer(project_app, name="project")
app.add_typer(robot_app, name="robot")
app.add_typer(member_app, name="member")
app.add_typer(jobs_app, name="jobs")
app.add_typer(schedules_app, name="schedules")
for _capability in REGISTERED:  # each capability's command group (dockyard.capabilities)
    if _capability.cli is not None:
        app.add_typer(_capability.cli(), name=_capability.name)
    if _capability.commands is not None:
        _capability.commands(app)

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="YAML config file (default: $DOCKYARD_CONFIG).",
        exists=False,
        dir_okay=False,
    ),
]
DataDirOpt = Annotated[
    Path | None, typer.Option("--data-dir", help="Where SQLite metadata and blobs live.")
]


def _fail(message: str) -> None:
    typer.echo(f"dockyard: {message}", err=True)
    raise typer.Exit(code=1)


def _settings(config: Path | None, overrides: dict[str, Any]) -> Any:
    from dockyard.config import load_settings

    try:
        return load_settings(config, overrides)
    except ConfigError as exc:
        _fail(str(exc))


def _prepare_database(settings: Any, *, migrate: bool, bootstrap: bool = False) -> None:
    from dockyard.auth.bootstrap import ADMIN_PASSWORD_ENV
    from dockyard.services import prepare_database

    admin = settings.auth.admin_username
    try:
        generated = asyncio.run(
            prepare_database(
                settings,
                migrate=migrate,
                admin_password=os.environ.get(ADMIN_PASSWORD_ENV) if bootstrap else None,
                bootstrap=bootstrap,
            )
        )
    except (SchemaError, ConfigError) as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot open the metadata database: {exc}")
    if generated is not None:
        # Shown once, on the console only: the log never carries it.
        typer.echo(
            f"dockyard: created administrator {admin!r} with password {generated}\n"
            f"dockyard: it is stored only as a hash and will not be shown again; "
            f"set {ADMIN_PASSWORD_ENV} before the first start to choose it",
            err=True,
        )


def _check_port_free(host: str, port: int) -> None:
    """Refuse a port something already listens on. granian binds with SO_REUSEPORT,
    so a second server would start beside the first and the kernel would share the
    connections between them; a probe bound without SO_REUSEPORT fails instead.
    (SO_REUSEADDR only lets it past connections of an earlier run in TIME_WAIT.)"""
    import socket

    try:
        infos = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        _fail(f"cannot listen on {host}: {exc.strerror}")
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    _fail(f"port {port} on {host} is already in use")
                _fail(f"cannot listen on {host}:{port}: {exc.strerror}")


@app.command()
def serve(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    # The defaults live in the settings (a config file may change them), so the help
    # names them itself; `\\[` keeps Rich from taking `[default: …]` for markup.
    host: Annotated[
        str | None, typer.Option(help="Address to listen on. \\[default: 0.0.0.0]")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on. \\[default: 5000]")] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="Worker processes (cores / workers HTTP threads each). \\[default: 1]"),
    ] = None,
) -> None:
    """Start the registry (SQLite + local folder unless the config says otherwise)."""
    overrides: dict[str, Any] = {}
    server = {k: v for k, v in (("host", host), ("port", port), ("workers", workers)) if v}
    if server:
        overrides["server"] = server
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    settings = _settings(config, overrides)
    _check_port_free(settings.server.host, settings.server.port)

    from dockyard.logs import configure

    configure(settings.server.log_level, settings.server.log_format)
    _prepare_database(settings, migrate=settings.auto_migrate, bootstrap=True)

    from dockyard.supervisor import SETTINGS_ENV

    # Workers rebuild their settings from the same sources (so secrets never pass
    # through a serialised form); the supervisor gets only the server section.
    os.environ[SETTINGS_ENV] = json.dumps(
        {
            "config": str(config) if config else None,
            "overrides": {k: str(v) if isinstance(v, Path) else v for k, v in overrides.items()},
            "server": settings.server.model_dump(mode="json"),
        }
    )
    typer.echo(
        f"dockyard {__version__}: serving on http://{settings.server.host}:{settings.server.port} "
        f"with {settings.server.workers} worker(s) x {settings.runtime_threads} threads, "
        f"data in {settings.data_dir}",
        err=True,
    )
    sys.stdout.flush()
    sys.stderr.flush()
    # Replace this process with the lean supervisor (see dockyard.supervisor).
    os.execv(sys.executable, [sys.executable, "-m", "dockyard.supervisor"])


@app.command()
def worker(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    concurrency: Annotated[
        int | None, typer.Option(min=1, max=64, help="Jobs run at once. \\[default: 2]")
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="Run what is due now, then exit.")] = False,
) -> None:
    """Run background jobs, schedules and event delivery without serving HTTP.

    Every `dockyard serve` process runs a worker too, unless jobs.run_in_serve is
    off; run this as its own Deployment to keep background work off the serving pods.
    """
    overrides: dict[str, Any] = {"data_dir": data_dir} if data_dir else {}
    if concurrency:
        overrides["jobs"] = {"concurrency": concurrency}
    settings = _settings(config, overrides)

    from dockyard.logs import configure

    configure(settings.server.log_level, settings.server.log_format)
    _prepare_database(settings, migrate=settings.auto_migrate)
    from dockyard.cli.worker import run_worker

    try:
        ran = asyncio.run(run_worker(settings, once=once))
    except (SchemaError, ConfigError) as exc:
        _fail(str(exc))
    if once:
        typer.echo(f"ran {ran} job(s)")


@app.command()
def migrate(config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """Apply database migrations (safe to run from several replicas at once)."""
    settings = _settings(config, {"data_dir": data_dir} if data_dir else {})
    _prepare_database(settings, migrate=True)
    typer.echo("database schema is up to date")


@config_app.command("verify")
def config_verify(
    file: Annotated[Path, typer.Argument(help="The YAML file to check.", dir_okay=False)],
) -> None:
    """Check a config file (and DOCKYARD__* env overrides) without starting anything."""
    if not file.exists():
        _fail(f"{file}: no such file")
    _settings(file, {})
    typer.echo(f"{file}: OK")


@config_app.command("show")
def config_show(config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """Print the effective configuration as YAML."""
    import yaml

    settings = _settings(config, {"data_dir": data_dir} if data_dir else {})
    typer.echo(yaml.safe_dump(settings.model_dump(mode="json"), sort_keys=False))


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
