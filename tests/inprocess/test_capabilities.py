"""The capability seam, with a capability of the test's own: its API routes are
served beside the core's, and its pull policy refuses a pull by tag or digest (GET
and HEAD) with an OCI DENIED error while other pulls and the signature-style
artifacts it does not cover go through."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import typer
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict
from typer.testing import CliRunner

from dockyard.capabilities import Capability, migration_branches
from dockyard.config import load_settings
from dockyard.context import Services
from dockyard.errors import ConfigError, Denied, SchemaError
from dockyard.events import PUSHED, Event, EventConsumer
from dockyard.jobs import JobContext, JobKind, Schedule
from dockyard.metadata.sql import SqlMetadataStore
from dockyard.registry.policies import PullPolicy, PullRequest
from tests.inprocess.conftest import ADMIN, running

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


class BlocklistSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    digests: list[str] = []


class Blocklist:
    name = "blocklist"

    def __init__(self) -> None:
        self.blocked: set[str] = set()
        self.seen: list[PullRequest] = []

    async def check(self, pull: PullRequest) -> None:
        self.seen.append(pull)
        if pull.digest in self.blocked:
            raise Denied(f"policy {self.name}: {pull.digest} is blocked")


def _capability(policy: Blocklist) -> Capability:
    def router() -> APIRouter:
        r = APIRouter(prefix="/api/v1/blocklist", tags=["blocklist"])

        @r.get("")
        async def listed() -> list[str]:
            return sorted(policy.blocked)

        return r

    def policies(services: Services) -> list[PullPolicy]:
        # the capability's own settings section, validated with the rest
        policy.blocked.update(services.settings.section("blocklist").digests)
        return [policy]

    def cli() -> typer.Typer:
        group = typer.Typer(help="The test's blocklist.")

        @group.command()
        def show() -> None:
            typer.echo("blocklist: empty")

        return group

    return Capability(
        name="blocklist",
        settings=BlocklistSettings,
        router=router,
        pull_policies=policies,
        cli=cli,
    )


def _manifest(config: str) -> bytes:
    empty = "sha256:" + hashlib.sha256(b"{}").hexdigest()
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.empty.v1+json",
                "digest": empty,
                "size": 2,
            },
            "layers": [],
            "annotations": {"which": config},
        }
    ).encode()


async def test_a_capability_plugs_in_routes_and_a_pull_policy(tmp_path: Path) -> None:
    policy = Blocklist()
    async with (
        running(tmp_path, [_capability(policy)]) as registry,
        registry.client(auth=ADMIN) as c,
    ):
        r = await c.post(
            "/v2/team/app/blobs/uploads/",
            params={"digest": "sha256:" + hashlib.sha256(b"{}").hexdigest()},
            content=b"{}",
        )
        assert r.status_code == 201, r.text
        digests = {}
        for tag in ("good", "bad"):
            r = await c.put(
                f"/v2/team/app/manifests/{tag}",
                content=_manifest(tag),
                headers={"Content-Type": OCI_MANIFEST},
            )
            assert r.status_code == 201, r.text
            digests[tag] = r.headers["docker-content-digest"]
        policy.blocked.add(digests["bad"])
        for reference in ("bad", digests["bad"]):
            for method in ("GET", "HEAD"):
                r = await c.request(method, f"/v2/team/app/manifests/{reference}")
                assert r.status_code == 403, (method, reference)
                if method == "GET":
                    error = r.json()["errors"][0]
                    assert error["code"] == "DENIED" and "policy blocklist" in error["message"]
        assert (await c.get("/v2/team/app/manifests/good")).status_code == 200
        assert policy.seen[-1].reference == "good" and policy.seen[-1].repository == "team/app"
        r = await c.get("/api/v1/blocklist")
        assert r.status_code == 200 and r.json() == [digests["bad"]]
        r = await c.get("/api/v1/openapi.json")
        assert "/api/v1/blocklist" in r.json()["paths"]


async def test_a_capability_brings_its_settings_section(tmp_path: Path) -> None:
    policy = Blocklist()
    wanted = "sha256:" + "ab" * 32
    overrides = {"blocklist": {"digests": [wanted]}}
    async with running(tmp_path, [_capability(policy)], overrides):
        assert policy.blocked == {wanted}
    with pytest.raises(ConfigError, match="blocklist"):
        load_settings(None, {"blocklist": {"nonsense": 1}}, [_capability(Blocklist())])
    with pytest.raises(ConfigError):  # without the capability there is no such section
        load_settings(None, {"blocklist": {"digests": []}}, [])


def test_a_capability_brings_its_command_group(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    import dockyard.capabilities
    import dockyard.cli.commands

    monkeypatch.setattr(dockyard.capabilities, "REGISTERED", (_capability(Blocklist()),))
    cli = importlib.reload(dockyard.cli.commands)
    try:
        result = CliRunner().invoke(cli.app, ["blocklist", "show"])
        assert result.exit_code == 0 and "blocklist: empty" in result.output
        assert "blocklist" in CliRunner().invoke(cli.app, ["--help"]).output
    finally:
        monkeypatch.undo()
        importlib.reload(dockyard.cli.commands)


# -- migrations, jobs, schedules and event consumers ------------------------------

NOTES = sa.table("notes_seen", sa.column("id"), sa.column("what"))


def _notes_capability() -> Capability:
    """Consumes push events, hands each to a job of its own, which writes the event
    into the capability's own table (made by its own migration branch)."""

    async def consume(ctx: JobContext, batch: Sequence[Event]) -> None:
        for event in batch:
            await ctx.services.jobs.enqueue("notes.write", {"what": f"{event.kind} {event.tag}"})

    async def write(ctx: JobContext, payload: Mapping[str, Any]) -> Mapping[str, Any]:
        def insert(conn: Any) -> None:
            conn.execute(NOTES.insert().values(what=payload["what"]))

        await ctx.services.jobs.writer.run(insert)
        await ctx.log(f"noted {payload['what']}")
        return {"noted": payload["what"]}

    return Capability(
        name="notes",
        migrations=Path(__file__).with_name("capmig"),
        jobs=[JobKind("notes.write", write)],
        schedules=[Schedule("notes.nightly", "0 4 * * *", "notes.write", {"what": "nightly"})],
        consumers=[EventConsumer("notes", frozenset({PUSHED}), consume)],
    )


async def _until(check: Any, within: float = 20.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_a_capability_brings_migrations_jobs_schedules_and_consumers(
    tmp_path: Path,
) -> None:
    fast = {"jobs": {"poll_seconds": 0.05}}
    async with (
        running(tmp_path, [_notes_capability()], fast) as registry,
        registry.client(auth=ADMIN) as c,
    ):
        r = await c.post(
            "/v2/team/app/blobs/uploads/",
            params={"digest": "sha256:" + hashlib.sha256(b"{}").hexdigest()},
            content=b"{}",
        )
        assert r.status_code == 201, r.text
        r = await c.put(
            "/v2/team/app/manifests/v1",
            content=_manifest("v1"),
            headers={"Content-Type": OCI_MANIFEST},
        )
        assert r.status_code == 201, r.text

        async def noted() -> Any:
            r = await c.get("/api/v1/jobs", params={"kind": "notes.write", "state": "succeeded"})
            assert r.status_code == 200, r.text
            return r.json()

        done = await _until(noted)
        assert done[0]["result"] == {"noted": "artifact.pushed v1"}
        r = await c.get(f"/api/v1/jobs/{done[0]['id']}")
        assert [line["message"] for line in r.json()["log"]] == ["noted artifact.pushed v1"]
        services = registry.app.services
        async with services.jobs.read_engine.connect() as conn:
            rows = (await conn.execute(sa.select(NOTES.c.what))).scalars().all()
        assert rows == ["artifact.pushed v1"]

        r = await c.get("/api/v1/schedules")
        names = {s["name"]: s for s in r.json()}
        assert names["notes.nightly"]["cron"] == "0 4 * * *"
        assert "jobs.housekeeping" in names
        r = await c.patch("/api/v1/schedules/notes.nightly", json={"cron": "bad cron"})
        assert r.status_code == 422 and r.json()["errors"][0]["code"] == "INVALID_REQUEST"
        r = await c.patch("/api/v1/schedules/notes.nightly", json={"enabled": False})
        assert r.status_code == 200 and r.json()["enabled"] is False
        r = await c.post("/api/v1/schedules/notes.nightly/run")
        assert r.status_code == 202
        run = r.json()["id"]

        async def ran() -> Any:
            r = await c.get(f"/api/v1/jobs/{run}")
            return r.json()["state"] == "succeeded" and r.json()

        assert (await _until(ran))["schedule"] == "notes.nightly"
        assert (await c.post("/api/v1/jobs/999999/cancel")).status_code == 404

        r = await c.post("/api/v1/users", json={"username": "dev", "password": "dev-password-1"})
        assert r.status_code == 201, r.text
        async with registry.client(auth=("dev", "dev-password-1")) as dev:
            r = await dev.get("/api/v1/jobs")
            assert r.status_code == 403 and "administrator" in r.json()["errors"][0]["message"]
            assert (await dev.post(f"/api/v1/jobs/{run}/retry")).status_code == 403
    # a database migrated with the capability is refused by a build without it
    store = SqlMetadataStore(f"sqlite:///{tmp_path / 'dockyard.db'}")
    try:
        with pytest.raises(SchemaError, match="notes_0001"):
            await store.check_schema()
        await store.check_schema(migration_branches([_notes_capability()]))
    finally:
        await store.close()
