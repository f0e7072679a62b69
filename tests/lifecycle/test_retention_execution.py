"""Carrying out retention, in process (the real app on SQLite and a folder): an
artifact whose tags changed between evaluation and deletion is left for the next
run; a tag made immutable in between is refused by the registry and skipped; with
deletion disabled the dry run still answers and a run fails without deleting."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
import pytest

from dockyard.capabilities import REGISTERED
from dockyard.errors import Denied
from dockyard.jobs import PermanentFailure
from dockyard.lifecycle.retention import jobs
from dockyard.lifecycle.retention.policy import RetentionPolicy
from dockyard.lifecycle.retention.service import Report, RetentionService
from tests.inprocess.conftest import ADMIN, InProcess, running

OCI = "application/vnd.oci.image.manifest.v1+json"
EMPTY = "sha256:" + hashlib.sha256(b"{}").hexdigest()
POLICY = {"rules": [{"repositories": ["*"], "keep": "most_recent", "count": 1}]}


def _manifest(which: str) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI,
            "config": {
                "mediaType": "application/vnd.oci.empty.v1+json",
                "digest": EMPTY,
                "size": 2,
            },
            "layers": [],
            "annotations": {"which": which},
        }
    ).encode()


async def _push(c: httpx.AsyncClient, repository: str, *tags: str) -> dict[str, str]:
    r = await c.post(f"/v2/{repository}/blobs/uploads/", params={"digest": EMPTY}, content=b"{}")
    assert r.status_code == 201, r.text
    out = {}
    for tag in tags:
        r = await c.put(
            f"/v2/{repository}/manifests/{tag}",
            content=_manifest(tag),
            headers={"Content-Type": OCI},
        )
        assert r.status_code == 201, r.text
        out[tag] = r.headers["docker-content-digest"]
    return out


class _Ctx:
    def __init__(self, registry: InProcess, payload: dict[str, object]) -> None:
        self.services = registry.app.services
        self.job_id = 1
        self.attempt = 1
        self.payload = payload
        self.lines: list[str] = []

    async def log(self, message: str) -> None:
        self.lines.append(message)

    async def checkpoint(self) -> None:
        return None


async def test_changes_between_evaluation_and_deletion_are_respected(tmp_path: Path) -> None:
    async with running(tmp_path, REGISTERED) as registry, registry.client(auth=ADMIN) as c:
        d = await _push(c, "team/app", "a", "b", "c", "d")
        r = await c.put("/api/v1/projects/team/retention", json=POLICY)
        assert r.status_code == 200, r.text
        service = RetentionService(registry.app.services)
        evaluate = service.evaluate

        async def evaluate_then_change(
            project: str, policy: RetentionPolicy | None = None
        ) -> Report:
            plan = await evaluate(project, policy)
            # after the evaluation: "a" gains a tag, "b" becomes immutable
            r = await c.put(
                "/v2/team/app/manifests/a-again",
                content=_manifest("a"),
                headers={"Content-Type": OCI},
            )
            assert r.status_code == 201
            r = await c.post(
                "/api/v1/projects/team/immutability", json={"repository": "team/app", "tag": "b"}
            )
            assert r.status_code == 201, r.text
            return plan

        service.evaluate = evaluate_then_change  # type: ignore[method-assign]
        report = await service.execute("team")
        assert [x.artifact.digest for x in report.removed] == [d["c"]]
        skipped = {x.artifact.digest: why for x, why in report.skipped}
        assert skipped[d["a"]] == "its tags changed since it was evaluated"
        assert "immutable" in skipped[d["b"]]
        left = (await c.get("/v2/team/app/tags/list")).json()["tags"]
        assert left == ["a", "a-again", "b", "d"]


async def test_with_deletion_disabled_a_run_fails_and_deletes_nothing(tmp_path: Path) -> None:
    overrides = {"registry": {"delete_enabled": False}}
    async with (
        running(tmp_path, REGISTERED, overrides) as registry,
        registry.client(auth=ADMIN) as c,
    ):
        d = await _push(c, "team/app", "a", "b")
        assert (await c.put("/api/v1/projects/team/retention", json=POLICY)).status_code == 200
        r = await c.post("/api/v1/projects/team/retention/dry-run")
        assert [x["digest"] for x in r.json()["removed"]] == [d["a"]]
        with pytest.raises(Denied, match="deletion is disabled"):
            await RetentionService(registry.app.services).execute("team")
        with pytest.raises(PermanentFailure, match="deletion is disabled"):
            await jobs.run(_Ctx(registry, {"project": "team"}), {"project": "team"})  # type: ignore[arg-type]
        assert (await c.get("/v2/team/app/tags/list")).json()["tags"] == ["a", "b"]
        with pytest.raises(PermanentFailure, match="project name"):
            await jobs.run(_Ctx(registry, {}), {"project": 7})  # type: ignore[arg-type]
        with pytest.raises(PermanentFailure, match="not found"):
            await jobs.run(_Ctx(registry, {}), {"project": "nope"})  # type: ignore[arg-type]
