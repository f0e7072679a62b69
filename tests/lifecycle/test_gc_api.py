"""`POST /api/v1/gc` enqueues a `gc.run` job that the worker inside the app runs;
`GET /api/v1/gc` shows its report. Administrators only; a bad body changes nothing.
The `gc` settings section gives the scheduled pass (its cron, or none)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from dockyard.capabilities import REGISTERED
from dockyard.config import load_settings
from dockyard.errors import ConfigError
from tests.inprocess.conftest import ADMIN, InProcess, running
from tests.lifecycle.helpers import push_blob


@pytest.fixture
async def registry(tmp_path: Path) -> AsyncIterator[InProcess]:
    async with running(tmp_path, REGISTERED, {"jobs": {"poll_seconds": 0.05}}) as r:
        yield r


async def wait_job(c: httpx.AsyncClient, job_id: int) -> dict[str, object]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job = (await c.get(f"/api/v1/jobs/{job_id}")).json()
        if job["state"] in ("succeeded", "failed", "cancelled"):
            return job  # type: ignore[no-any-return]
        await asyncio.sleep(0.05)  # polling for the job's end, with a deadline
    raise AssertionError(f"job {job_id} did not finish")


async def test_start_a_pass_and_read_its_report(registry: InProcess) -> None:
    async with registry.client(auth=ADMIN) as c:
        digest = await push_blob(c, "team/app", os.urandom(400))
        assert (await c.delete(f"/v2/team/app/blobs/{digest}")).status_code == 202

        r = await c.post("/api/v1/gc", json={"dry_run": True, "grace_seconds": 0})
        assert r.status_code == 202, r.text
        job = await wait_job(c, r.json()["job_id"])
        assert job["state"] == "succeeded" and job["kind"] == "gc.run"
        assert job["result"]["dry_run"] is True and job["result"]["blobs"] == 1  # type: ignore[index]
        assert (await c.head(f"/v2/team/app/blobs/{digest}")).status_code == 404  # unlinked

        r = await c.post("/api/v1/gc", json={"grace_seconds": 0})
        job = await wait_job(c, r.json()["job_id"])
        assert job["result"]["blobs"] == 1  # type: ignore[index]

        runs = (await c.get("/api/v1/gc")).json()
        assert [(x["trigger"], x["dry_run"], x["state"]) for x in runs] == [
            ("api", False, "succeeded"),
            ("api", True, "succeeded"),
        ]
        assert runs[0]["report"]["bytes_freed"] == 400
        assert runs[0]["options"] == {"grace_seconds": 0.0, "delete_untagged": False}
        schedules = {s["name"]: s for s in (await c.get("/api/v1/schedules")).json()}
        assert schedules["gc"]["kind"] == "gc.run" and schedules["gc"]["cron"] == "0 3 * * *"


async def test_only_administrators_and_valid_bodies(registry: InProcess) -> None:
    async with registry.client(auth=ADMIN) as c:
        r = await c.post("/api/v1/users", json={"username": "dev", "password": "dev-password-1"})
        assert r.status_code == 201, r.text
        for body in ({"grace_seconds": -1}, {"dry_run": "yes"}, {"extra": 1}):
            r = await c.post("/api/v1/gc", json=body)
            assert r.status_code == 422, body
        assert (await c.get("/api/v1/jobs", params={"kind": "gc.run"})).json() == []
    async with registry.client(auth=("dev", "dev-password-1")) as c:
        assert (await c.post("/api/v1/gc", json={})).status_code == 403
        assert (await c.get("/api/v1/gc")).status_code == 403
    async with registry.client() as c:
        assert (await c.post("/api/v1/gc", json={})).status_code == 401


def test_schedule_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from dockyard.capabilities import schedules_of
    from dockyard.lifecycle.gc import CAPABILITY

    settings = load_settings(None, {"gc": {"schedule": "15 1 * * 0", "grace_seconds": 60}})
    assert [(s.name, s.cron, s.kind) for s in schedules_of(CAPABILITY, settings)] == [
        ("gc", "15 1 * * 0", "gc.run")
    ]
    assert schedules_of(CAPABILITY, load_settings(None, {"gc": {"schedule": None}})) == []
    with pytest.raises(ConfigError, match="cron"):
        load_settings(None, {"gc": {"schedule": "every day"}})
    monkeypatch.setenv("DOCKYARD__GC__DELETE_UNTAGGED", "true")
    assert load_settings().section("gc").delete_untagged is True
