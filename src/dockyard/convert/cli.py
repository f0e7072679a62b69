"""`dockyard convert zstd PROJECT/REPOSITORY:TAG --tag NEW | --add-to-index [--wait]`,
through the management API of a running server (the connection options of every
admin command).

No `from __future__ import annotations` here: typer reads the annotations.
"""

import json
from typing import Annotated, Any

import typer

from dockyard.cli.client import Api, CliError, command, finished_job, segment

Ref = Annotated[
    str,
    typer.Argument(help="An image or index: PROJECT/REPOSITORY:TAG or PROJECT/REPOSITORY@DIGEST."),
]


def _artifact_path(ref: str) -> str:
    """PROJECT/REPO:TAG → /projects/PROJECT/repositories/REPO/-/artifacts/TAG"""
    name, sep, reference = ref.partition("@")
    if not sep:
        head, colon, tag = ref.rpartition(":")
        if not colon or "/" in tag:
            name, reference = ref, "latest"
        else:
            name, reference = head, tag
    project, slash, repository = name.partition("/")
    if not slash or not project or not repository or not reference:
        raise CliError(f"{ref!r} is not PROJECT/REPOSITORY:TAG or PROJECT/REPOSITORY@DIGEST")
    return (
        f"/projects/{segment(project)}/repositories/"
        + "/".join(segment(p) for p in repository.split("/"))
        + f"/-/artifacts/{segment(reference)}"
    )


def app() -> typer.Typer:
    group = typer.Typer(help="Convert images: gzip layers rewritten as zstd.", no_args_is_help=True)

    @command(group, "zstd")
    def zstd(
        api: Api,
        as_json: bool,
        ref: Ref,
        tag: Annotated[
            str | None, typer.Option("--tag", "-t", help="The tag the converted image gets.")
        ] = None,
        add_to_index: Annotated[
            bool,
            typer.Option(
                "--add-to-index",
                help="Keep the gzip image and add the zstd variant next to it in an OCI index "
                "the tag then names (podman prefers the zstd variant, other clients the gzip).",
            ),
        ] = False,
        level: Annotated[
            int | None, typer.Option(min=1, max=19, help="zstd level \\[default: 3].")
        ] = None,
        wait: Annotated[
            bool, typer.Option("--wait/--no-wait", help="Wait for the job and show its result.")
        ] = False,
        timeout: Annotated[float, typer.Option(help="Seconds --wait waits at most.")] = 3600,
    ) -> None:
        """Rewrite an image's gzip layers as zstd (a job on the server): the result goes to a
        new tag (--tag), or next to the original in an index (--add-to-index)."""
        if tag is None and not add_to_index:
            raise CliError("give --tag NEW, or --add-to-index")
        body: dict[str, Any] = {"add_to_index": add_to_index}
        if tag is not None:
            body["target_tag"] = tag
        if level is not None:
            body["level"] = level
        job_id = api.call("POST", _artifact_path(ref) + "/convert", json=body)["job_id"]
        if not wait:
            typer.echo(
                json.dumps({"job_id": job_id}) if as_json else f"conversion queued: job {job_id}"
            )
            return
        job = finished_job(api, job_id, timeout, quiet=as_json)
        if job["state"] != "succeeded":
            raise CliError(f"job {job_id} {job['state']}: {job.get('last_error') or 'no error'}")
        result = job.get("result") or {}
        if as_json:
            typer.echo(json.dumps(result, indent=2))
            return
        if not result.get("tag"):
            typer.echo(f"{ref}: nothing to convert (no gzip layer)")
            return
        typer.echo(
            f"{result['tag']} -> {result['digest']}: {result['layers_converted']} layers, "
            f"{result['bytes_before']} bytes gzip -> {result['bytes_after']} bytes zstd"
        )

    return group
