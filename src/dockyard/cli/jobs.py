"""`dockyard jobs …` and `dockyard schedules …`: background work through the management
API of a running server (system administrators)."""

from __future__ import annotations

from typing import Annotated

import typer

from dockyard.cli.client import Api, command, emit, segment

jobs_app = typer.Typer(
    help="List, inspect, cancel and retry background jobs.", no_args_is_help=True
)
schedules_app = typer.Typer(
    help="List cron schedules, change or switch them off, run one now.", no_args_is_help=True
)

JOB_COLUMNS = [
    "id",
    "kind",
    "state",
    "attempts",
    "schedule",
    "created_at:created",
    "finished_at:finished",
    "last_error:error",
]
SCHEDULE_COLUMNS = ["name", "cron", "kind", "enabled", "next_run_at:next", "last_run_at:last"]
JobId = Annotated[int, typer.Argument(help="The job's id.", min=1)]


@command(jobs_app, "list")
def jobs_list(
    api: Api,
    as_json: bool,
    state: Annotated[
        str | None,
        typer.Option(help="queued, running, succeeded, failed or cancelled."),
    ] = None,
    kind: Annotated[str | None, typer.Option(help="Only jobs of this kind, e.g. gc.run.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200, help="How many, newest first.")] = 50,
) -> None:
    """List jobs, newest first."""
    params: dict[str, object] = {"limit": limit}
    if state:
        params["state"] = state
    if kind:
        params["kind"] = kind
    emit(api.call("GET", "/jobs", params=params), JOB_COLUMNS, as_json)


@command(jobs_app, "show")
def jobs_show(api: Api, as_json: bool, job_id: JobId) -> None:
    """Show a job with its log."""
    job = api.call("GET", f"/jobs/{job_id}")
    if as_json:
        emit(job, [], True)
        return
    emit(job, [*JOB_COLUMNS, "worker"], False)
    for line in job["log"]:
        typer.echo(f"{line['at']}  [{line['attempt']}] {line['message']}")
    if job.get("result"):
        typer.echo(f"result: {job['result']}")


@command(jobs_app, "cancel")
def jobs_cancel(api: Api, as_json: bool, job_id: JobId) -> None:
    """Cancel a job (a running one stops at its next checkpoint)."""
    emit(api.call("POST", f"/jobs/{job_id}/cancel"), JOB_COLUMNS, as_json)


@command(jobs_app, "retry")
def jobs_retry(api: Api, as_json: bool, job_id: JobId) -> None:
    """Queue a failed or cancelled job again."""
    emit(api.call("POST", f"/jobs/{job_id}/retry"), JOB_COLUMNS, as_json)


@command(schedules_app, "list")
def schedules_list(api: Api, as_json: bool) -> None:
    """List schedules (times in UTC)."""
    emit(api.call("GET", "/schedules"), SCHEDULE_COLUMNS, as_json)


@command(schedules_app, "set")
def schedules_set(
    api: Api,
    as_json: bool,
    name: Annotated[str, typer.Argument(help="The schedule's name.")],
    cron: Annotated[
        str | None, typer.Option(help="Five cron fields in UTC, e.g. '0 3 * * *'.")
    ] = None,
    enable: Annotated[
        bool | None, typer.Option("--enable/--disable", help="Switch the schedule on or off.")
    ] = None,
) -> None:
    """Change when a schedule fires, or switch it on or off."""
    body: dict[str, object] = {}
    if cron is not None:
        body["cron"] = cron
    if enable is not None:
        body["enabled"] = enable
    emit(api.call("PATCH", f"/schedules/{segment(name)}", json=body), SCHEDULE_COLUMNS, as_json)


@command(schedules_app, "run")
def schedules_run(
    api: Api, as_json: bool, name: Annotated[str, typer.Argument(help="The schedule's name.")]
) -> None:
    """Run a schedule's job now."""
    emit(api.call("POST", f"/schedules/{segment(name)}/run"), JOB_COLUMNS, as_json)
