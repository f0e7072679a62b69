"""`/api/v1/backups`: the snapshots at the configured destination (after a real backup
of the in-process registry), a backup queued as a job, and who may do either."""

from __future__ import annotations

from pathlib import Path

from dockyard.backup.destination import open_destination
from dockyard.backup.run import create
from dockyard.capabilities import REGISTERED
from tests.inprocess.conftest import ADMIN, running

BACKUP = [c for c in REGISTERED if c.name == "backup"]


async def test_snapshots_listed_and_a_backup_queued(tmp_path: Path) -> None:
    where = tmp_path / "backups"
    overrides = {"backup": {"destination": str(where), "keep": 3}}
    (tmp_path / "data").mkdir()
    async with running(tmp_path / "data", BACKUP, overrides) as r, r.client(ADMIN) as c:
        empty = await c.get("/api/v1/backups")
        assert empty.status_code == 200, empty.text
        assert empty.json()["snapshots"] == [] and empty.json()["destination"] == str(where)

        services = r.app.services
        section = services.settings.section("backup")
        done = await create(services, open_destination(str(where), section), concurrency=2)
        listed = (await c.get("/api/v1/backups")).json()
        assert [s["id"] for s in listed["snapshots"]] == [done["id"]]
        assert listed["keep"] == 3 and listed["snapshots"][0]["dialect"] == "sqlite"

        queued = await c.post("/api/v1/backups")
        assert queued.status_code == 202, queued.text
        job = await c.get(f"/api/v1/jobs/{queued.json()['job_id']}")
        assert job.status_code == 200 and job.json()["kind"] == "backup.run"

        made = await c.post("/api/v1/users", json={"username": "u1", "password": "u1-password-1"})
        assert made.status_code == 201
        async with r.client(("u1", "u1-password-1")) as u:
            assert (await u.get("/api/v1/backups")).status_code == 403
            assert (await u.post("/api/v1/backups")).status_code == 403


async def test_without_a_destination(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    async with running(tmp_path / "data", BACKUP) as r, r.client(ADMIN) as c:
        found = (await c.get("/api/v1/backups")).json()
        assert found["destination"] is None and found["snapshots"] == []
        refused = await c.post("/api/v1/backups")
        assert refused.status_code == 409 and "backup.destination" in refused.text
