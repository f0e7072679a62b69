"""`dockyard supplychain …` (policies, an artifact's status, its report and SBOM),
`dockyard scan REF` (through the management API of a running server, with the
connection options of every admin command), and `dockyard vulndb …` (import an OSV
dataset straight into the configured database: the files are on this machine, not the
server's).

No `from __future__ import annotations` here: typer reads the annotations.
"""

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from dockyard.cli.client import Api, CliError, command, emit, finished_job, segment
from dockyard.lifecycle.cli_support import ConfigOpt, DataDirOpt, fail, load, open_services

Project = Annotated[str, typer.Argument(help="The project name.")]
Ref = Annotated[
    str, typer.Argument(help="An artifact: PROJECT/REPOSITORY:TAG or PROJECT/REPOSITORY@DIGEST.")
]
PolicyFile = Annotated[
    Path,
    typer.Option(
        "--file",
        "-f",
        help="The policy, JSON or YAML (`-`: standard input): "
        '{"signatures": {"mode": "enforce", "keys": [{"name": "release", "pem": "..."}]}, '
        '"vulnerabilities": {"mode": "enforce", "severity": "HIGH"}, '
        '"sbom": {"scan_on_push": true}}',
    ),
]
FINDING_COLUMNS = ["severity", "id", "package", "installed_version", "fixed_versions", "aliases"]


def _artifact_path(ref: str) -> str:
    """PROJECT/REPO:TAG → /projects/PROJECT/repositories/REPO/-/artifacts/TAG"""
    name, sep, digest = ref.partition("@")
    if not sep:
        head, colon, tag = ref.rpartition(":")
        if not colon or "/" in tag:
            name, reference = ref, "latest"
        else:
            name, reference = head, tag
    else:
        reference = digest
    project, slash, repository = name.partition("/")
    if not slash or not project or not repository or not reference:
        raise CliError(f"{ref!r} is not PROJECT/REPOSITORY:TAG or PROJECT/REPOSITORY@DIGEST")
    return (
        f"/projects/{segment(project)}/repositories/"
        + "/".join(segment(p) for p in repository.split("/"))
        + f"/-/artifacts/{segment(reference)}"
    )


def _read(path: Path) -> Any:
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from None
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CliError(f"{path} is neither JSON nor YAML: {exc}") from None
    if not isinstance(data, dict):
        raise CliError(f"{path} must hold an object (signatures, vulnerabilities, sbom)")
    return data


def _show_policy(found: Any, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    policy = found["policy"]
    typer.echo(f"applies: {found['applies']}")
    sig, vul, sb = policy["signatures"], policy["vulnerabilities"], policy["sbom"]
    keys = ", ".join(k["name"] for k in sig["keys"]) or "none"
    typer.echo(f"signatures: {sig['mode']} (keys: {keys})")
    typer.echo(
        f"vulnerabilities: {vul['mode']} (at or above {vul['severity']}; "
        f"unscanned {'refused' if vul['block_unscanned'] else 'allowed'}; "
        f"allowlist: {len(vul['allowlist'])})"
    )
    typer.echo(
        f"sbom: generate on push {sb['generate_on_push']}, scan on push {sb['scan_on_push']}"
    )


def _wait(api: Api, job_id: int, timeout: float, as_json: bool) -> Any:
    job = finished_job(api, job_id, timeout, quiet=as_json)
    if job["state"] != "succeeded":
        raise CliError(f"job {job_id} {job['state']}: {job.get('last_error') or 'no error'}")
    return job


def _findings(api: Api, ref: str, severity: str | None, as_json: bool) -> None:
    params = {"severity": severity} if severity else None
    report = api.call("GET", _artifact_path(ref) + "/vulnerabilities", params=params)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    counts = ", ".join(f"{n} {s}" for s, n in report["summary"].items() if n)
    typer.echo(f"{ref} ({report['digest']}): {counts or 'no vulnerabilities'}")
    if report["error"]:
        typer.echo(f"scan failed: {report['error']}")
    emit(report["vulnerabilities"], FINDING_COLUMNS, False)


def add_scan(app: typer.Typer) -> None:
    """`dockyard scan REF`, a top-level command."""

    @command(app, "scan")
    def scan(
        api: Api,
        as_json: bool,
        ref: Ref,
        wait: Annotated[
            bool, typer.Option("--wait/--no-wait", help="Wait for the scan and show the report.")
        ] = True,
        timeout: Annotated[float, typer.Option(help="Seconds --wait waits at most.")] = 1800,
    ) -> None:
        """Scan an artifact (PROJECT/REPOSITORY:TAG): its SBOM from its layers, then its
        vulnerabilities against the imported database."""
        job_id = api.call("POST", _artifact_path(ref) + "/scan")["job_id"]
        if not wait:
            typer.echo(json.dumps({"job_id": job_id}) if as_json else f"scan queued: job {job_id}")
            return
        job = _wait(api, job_id, timeout, as_json)
        children = (job.get("result") or {}).get("children")
        if children:
            for child in children:
                typer.echo(f"index: platform {child} is scanned as its own job", err=True)
            return
        _findings(api, ref, None, as_json)


def app() -> typer.Typer:
    group = typer.Typer(
        help="Signature and vulnerability policies, SBOMs, scan reports.", no_args_is_help=True
    )

    @command(group, "policy")
    def policy(api: Api, as_json: bool, project: Project) -> None:
        """Show the supply-chain policy that applies to a project."""
        _show_policy(api.call("GET", f"/projects/{segment(project)}/supplychain"), as_json)

    @command(group, "set-policy")
    def set_policy(api: Api, as_json: bool, project: Project, file: PolicyFile) -> None:
        """Set a project's own supply-chain policy from a file."""
        body = _read(file)
        _show_policy(
            api.call("PUT", f"/projects/{segment(project)}/supplychain", json=body), as_json
        )

    @command(group, "inherit")
    def inherit(api: Api, as_json: bool, project: Project) -> None:
        """Remove a project's own policy: the system default applies again."""
        api.call("DELETE", f"/projects/{segment(project)}/supplychain")
        typer.echo(f"{project} now follows the system default")

    @command(group, "default")
    def default(api: Api, as_json: bool) -> None:
        """Show the system default policy."""
        _show_policy(api.call("GET", "/supplychain/default"), as_json)

    @command(group, "set-default")
    def set_default(api: Api, as_json: bool, file: PolicyFile) -> None:
        """Set the system default policy from a file (system administrators)."""
        _show_policy(api.call("PUT", "/supplychain/default", json=_read(file)), as_json)

    @command(group, "status")
    def status(api: Api, as_json: bool, ref: Ref) -> None:
        """An artifact's signatures (verified or not, by whom), SBOM and scan reports."""
        found = api.call("GET", _artifact_path(ref) + "/supplychain")
        if as_json:
            typer.echo(json.dumps(found, indent=2))
            return
        typer.echo(f"{found['repository']}@{found['digest']} (policy: {found['policy']})")
        if found["kind"]:
            typer.echo(f"this is a {found['kind']} artifact")
        sig = found["signatures"]
        if sig is None:
            typer.echo("signatures: no trusted key or identity configured")
        else:
            typer.echo(
                f"signatures: {'signed' if sig['signed'] else 'NOT signed'} ({sig['reason']})"
            )
            for one in sig["signatures"]:
                state = "verified" if one["verified"] else one["reason"]
                typer.echo(f"  {one['kind']} {one['signature_digest']}: {state}")
        sb = found["sbom"]
        typer.echo(
            "sbom: none"
            if sb is None
            else f"sbom: {sb['packages']} packages ({sb['source']}, {sb['distro'] or 'no distro'})"
        )
        for report in found["reports"]:
            counts = ", ".join(f"{n} {s}" for s, n in report["summary"].items() if n)
            typer.echo(f"scan by {report['scanner']}: {report['status']} {counts}".rstrip())

    @command(group, "vulns")
    def vulns(
        api: Api,
        as_json: bool,
        ref: Ref,
        severity: Annotated[
            str | None, typer.Option(help="Only LOW, MEDIUM, HIGH or CRITICAL and above.")
        ] = None,
    ) -> None:
        """An artifact's vulnerability report."""
        _findings(api, ref, severity.upper() if severity else None, as_json)

    @command(group, "sbom")
    def sbom(
        api: Api,
        as_json: bool,
        ref: Ref,
        format: Annotated[str, typer.Option(help="cyclonedx or spdx.")] = "cyclonedx",
        output: Annotated[
            Path | None, typer.Option("--output", "-o", help="Write it here, not to stdout.")
        ] = None,
    ) -> None:
        """Download an artifact's SBOM."""
        document = api.call("GET", _artifact_path(ref) + "/sbom", params={"format": format})
        text = json.dumps(document, indent=2)
        if output is None:
            typer.echo(text)
        else:
            output.write_text(text + "\n")

    return group


def vulndb_app() -> typer.Typer:
    group = typer.Typer(help="The offline vulnerability database (OSV data).", no_args_is_help=True)

    @group.command("import")
    def import_(
        path: Annotated[
            Path,
            typer.Argument(
                help="OSV JSON: a folder, a zip (as OSV publishes per ecosystem), or a folder "
                "of those."
            ),
        ],
        config: ConfigOpt = None,
        data_dir: DataDirOpt = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Import OSV advisories into the configured database, then queue a rematch of
        every stored SBOM (new findings show on old images without re-reading layers)."""
        import asyncio

        if not path.exists():
            fail("vulndb import", f"{path} does not exist")
        settings = load("vulndb import", config, data_dir)
        result = asyncio.run(_import(settings, path, not as_json))
        if as_json:
            typer.echo(json.dumps(result, indent=2, default=str))
            return
        typer.echo(
            f"imported {path}: {result['added']} added, {result['updated']} updated, "
            f"{result['removed']} removed, {result['skipped']} skipped; generation "
            f"{result['generation']}"
            + (f"; rematch job {result['job_id']}" if result["job_id"] else "")
        )
        for warning in result.get("warnings", [])[:10]:
            typer.echo(f"  skipped: {warning}", err=True)

    @group.command("status")
    def status(
        config: ConfigOpt = None,
        data_dir: DataDirOpt = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Advisories per ecosystem, the last import, the generation."""
        import asyncio

        settings = load("vulndb status", config, data_dir)
        found = asyncio.run(_status(settings))
        if as_json:
            typer.echo(json.dumps(found, indent=2, default=str))
            return
        for key, value in found.items():
            typer.echo(f"{key}: {value}")

    return group


async def _import(settings: Any, path: Path, show_progress: bool) -> dict[str, Any]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from dockyard.supplychain.service import SupplyChainService

    console = Console(stderr=True)
    async with open_services("vulndb import", settings) as services:
        service = SupplyChainService(services)
        with Progress(
            "importing",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=not show_progress or not console.is_terminal,
        ) as bar:
            task = bar.add_task("import", total=None)

            def progress(done: int, total: int | None) -> None:
                bar.update(task, completed=done, total=total)

            return await service.import_vulndb(path, progress)


async def _status(settings: Any) -> dict[str, Any]:
    from dockyard.supplychain.service import SupplyChainService

    async with open_services("vulndb status", settings) as services:
        return await SupplyChainService(services).vulndb_status()
