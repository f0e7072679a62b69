"""The capability seam, with a capability of the test's own: its API routes are
served beside the core's, and its pull policy refuses a pull by tag or digest (GET
and HEAD) with an OCI DENIED error while other pulls and the signature-style
artifacts it does not cover go through."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import typer
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict
from typer.testing import CliRunner

from dockyard.capabilities import Capability
from dockyard.config import load_settings
from dockyard.context import Services
from dockyard.errors import ConfigError, Denied
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
