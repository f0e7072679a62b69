"""`dockyard immutability …` and `dockyard retention …`: a project's tag immutability
rules and retention policy, through the management API of a running server (the
connection options of every admin command: --url, --username, --password, --token).

No `from __future__ import annotations` here: typer reads the annotations.
"""

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from dockyard.cli.client import Api, CliError, command, emit, finished_job, segment

RULE_COLUMNS = ["id", "repository", "tag", "created_by", "created_at"]
DECISION_COLUMNS = ["repository", "digest", "tags", "pushed_at", "last_pulled_at", "reason"]
POLICY_RULE_COLUMNS = ["repositories", "tags", "exclude_tags", "untagged", "keep", "count", "days"]

Project = Annotated[str, typer.Argument(help="The project name.")]
PolicyFile = Annotated[
    Path,
    typer.Option(
        "--file",
        "-f",
        help="The policy, JSON or YAML (`-`: standard input): "
        '{"enabled": true, "rules": [{"repositories": ["team-a/*"], "keep": "most_recent", '
        '"count": 10}]}',
    ),
]


def _read_policy(path: Path) -> Any:
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from None
    import yaml

    try:
        data = yaml.safe_load(text)  # JSON is YAML
    except yaml.YAMLError as exc:
        raise CliError(f"{path} is neither JSON nor YAML: {exc}") from None
    if not isinstance(data, dict):
        raise CliError(f"{path} must hold an object with `rules`")
    return data


def immutability_app() -> typer.Typer:
    app = typer.Typer(
        help="Tag immutability rules of a project: covered tags cannot be moved or deleted.",
        no_args_is_help=True,
    )

    @command(app, "list")
    def rule_list(api: Api, as_json: bool, project: Project) -> None:
        """List a project's immutability rules."""
        emit(api.call("GET", f"/projects/{segment(project)}/immutability"), RULE_COLUMNS, as_json)

    @command(app, "add")
    def rule_add(
        api: Api,
        as_json: bool,
        project: Project,
        repository: Annotated[
            str, typer.Option(help="A glob of full repository names, like team-a/* .")
        ],
        tag: Annotated[str, typer.Option(help="A glob of tags, like v* .")],
    ) -> None:
        """Make the tags matching --tag in the repositories matching --repository immutable."""
        body = {"repository": repository, "tag": tag}
        path = f"/projects/{segment(project)}/immutability"
        emit(api.call("POST", path, json=body), RULE_COLUMNS, as_json)

    @command(app, "remove")
    def rule_remove(
        api: Api,
        as_json: bool,
        project: Project,
        rule_id: Annotated[int, typer.Argument(help="The rule's id (see `list`).")],
    ) -> None:
        """Remove an immutability rule."""
        api.call("DELETE", f"/projects/{segment(project)}/immutability/{rule_id}")
        if not as_json:
            typer.echo(f"removed immutability rule {rule_id} of {project}")

    return app


def _show_report(report: Any, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    removed, kept = report["removed"], report["kept"]
    typer.echo(f"{len(removed)} artifacts would be removed, {len(kept)} kept")
    if removed:
        emit(removed, DECISION_COLUMNS, False)


def retention_app() -> typer.Typer:
    app = typer.Typer(
        help="Retention policy of a project: which artifacts to keep; the rest goes.",
        no_args_is_help=True,
    )

    @command(app, "show")
    def show(api: Api, as_json: bool, project: Project) -> None:
        """Show a project's retention policy."""
        policy = api.call("GET", f"/projects/{segment(project)}/retention")
        if policy is None:
            raise CliError(f"project {project!r} has no retention policy")
        if as_json:
            typer.echo(json.dumps(policy, indent=2))
            return
        state = "enabled" if policy["enabled"] else "disabled (runs only when asked)"
        typer.echo(f"{project}: {state}, set by {policy['updated_by']} at {policy['updated_at']}")
        emit(policy["rules"], POLICY_RULE_COLUMNS, False)

    @command(app, "set")
    def set_policy(api: Api, as_json: bool, project: Project, file: PolicyFile) -> None:
        """Set a project's retention policy from a JSON or YAML file."""
        body = _read_policy(file)
        policy = api.call("PUT", f"/projects/{segment(project)}/retention", json=body)
        if as_json:
            typer.echo(json.dumps(policy, indent=2))
        else:
            typer.echo(f"{project}: retention policy set ({len(policy['rules'])} rules)")

    @command(app, "delete")
    def delete(api: Api, as_json: bool, project: Project) -> None:
        """Remove a project's retention policy (nothing is deleted any more)."""
        api.call("DELETE", f"/projects/{segment(project)}/retention")
        if not as_json:
            typer.echo(f"{project}: retention policy removed")

    @command(app, "dry-run")
    def dry_run(
        api: Api,
        as_json: bool,
        project: Project,
        file: Annotated[
            Path | None,
            typer.Option("--file", "-f", help="Try this policy instead of the stored one."),
        ] = None,
    ) -> None:
        """List what the policy would remove now (repository, digest, tags, reason)."""
        body = _read_policy(file) if file is not None else None
        path = f"/projects/{segment(project)}/retention/dry-run"
        _show_report(api.call("POST", path, json=body), as_json)

    @command(app, "run")
    def run(
        api: Api,
        as_json: bool,
        project: Project,
        wait: Annotated[bool, typer.Option("--wait", help="Wait for the job to finish.")] = False,
        timeout: Annotated[float, typer.Option(help="Seconds --wait waits at most.")] = 3600,
    ) -> None:
        """Run the project's retention policy now (as a job)."""
        job_id = api.call("POST", f"/projects/{segment(project)}/retention/run")["job_id"]
        if not wait:
            if as_json:
                typer.echo(json.dumps({"job_id": job_id}))
            else:
                typer.echo(f"retention of {project} queued as job {job_id}")
            return
        job = finished_job(api, job_id, timeout, quiet=as_json)
        if as_json:
            typer.echo(json.dumps(job, indent=2))
            return
        if job["state"] != "succeeded":
            raise CliError(f"job {job_id} {job['state']}: {job.get('last_error') or 'no error'}")
        for done in (job.get("result") or {}).get("projects", []):
            typer.echo(
                f"{done['project']}: removed {done['removed']}, kept {done['kept']}, "
                f"skipped {done['skipped']}"
            )

    return app
