"""`dockyard tiering …`: bytes per tier, the projects' rules and a pass now, through the
management API of a running server.

(No `from __future__ import annotations`: typer reads the options from the
annotations at run time.)"""

import json
from typing import Annotated, Any

import typer

from dockyard.cli.client import Api, CliError, command, emit, finished_job, human_size, segment

app = typer.Typer(
    help="Hot/cold tiering: blobs no image pulled for a project's days move to the cold "
    "tier; pulls find them there.",
    no_args_is_help=True,
)

Project = Annotated[str, typer.Argument(help="The project.")]


@command(app, "status")
def status(api: Api, as_json: bool) -> None:
    """Bytes and blobs on each tier, and how tiering is configured."""
    found = api.call("GET", "/tiering")
    if as_json:
        emit(found, [], True)
        return
    row: dict[str, Any] = {
        "enabled": found["enabled"],
        "mode": found["mode"],
        "cold_location": found["cold_location"] or "-",
        "hot": f"{human_size(found['hot']['bytes'])} in {found['hot']['blobs']} blobs",
        "cold": f"{human_size(found['cold']['bytes'])} in {found['cold']['blobs']} blobs",
        "rules": found["rules"],
        "default_days": found["default_cold_after_days"] or "-",
        "schedule": found["schedule"] or "-",
    }
    emit(row, list(row), False)


@command(app, "rules")
def rules(api: Api, as_json: bool) -> None:
    """Every project's rule."""
    emit(api.call("GET", "/tiering/rules"), ["project", "cold_after_days", "updated_by"], as_json)


@command(app, "show")
def show(api: Api, as_json: bool, project: Project) -> None:
    """A project's rule."""
    found = api.call("GET", f"/projects/{segment(project)}/tiering")
    if found is None:
        raise CliError(f"project {project!r} has no tiering rule")
    emit(found, ["project", "cold_after_days", "updated_by", "updated_at"], as_json)


@command(app, "set")
def set_rule(
    api: Api,
    as_json: bool,
    project: Project,
    days: Annotated[
        int, typer.Argument(min=1, max=36500, help="Blobs not pulled for this many days go cold.")
    ],
) -> None:
    """Set a project's rule: its blobs no image pulled for DAYS days go cold."""
    body = {"cold_after_days": days}
    found = api.call("PUT", f"/projects/{segment(project)}/tiering", json=body)
    emit(found, ["project", "cold_after_days", "updated_by"], as_json)


@command(app, "unset")
def unset_rule(api: Api, as_json: bool, project: Project) -> None:
    """Remove a project's rule (its cold blobs come back hot at the next pass)."""
    api.call("DELETE", f"/projects/{segment(project)}/tiering")
    if not as_json:
        typer.echo(f"{project}: no tiering rule")


@command(app, "run")
def run(
    api: Api,
    as_json: bool,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the job to finish.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds --wait waits at most.")] = 3600,
) -> None:
    """Run a tiering pass now (as a job)."""
    job_id = api.call("POST", "/tiering/run")["job_id"]
    if not wait:
        typer.echo(json.dumps({"job_id": job_id}) if as_json else f"tiering queued as job {job_id}")
        return
    job = finished_job(api, job_id, timeout, quiet=as_json)
    if as_json:
        typer.echo(json.dumps(job, indent=2))
        return
    if job["state"] != "succeeded":
        raise CliError(f"job {job_id} {job['state']}: {job.get('last_error') or 'no error'}")
    done = job.get("result") or {}
    typer.echo(
        f"moved cold: {done.get('cooled', 0)} blobs ({human_size(done.get('cooled_bytes', 0))}); "
        f"back hot: {done.get('warmed', 0)} ({human_size(done.get('warmed_bytes', 0))}); "
        f"cold copies dropped: {done.get('settled', 0)}; failed: {done.get('failed', 0)}"
    )
