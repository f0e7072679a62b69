"""Events reaching the audit trail through the worker of the running app: a push
refused by the project's quota is recorded as `quota.exceeded`, with what was asked
and what was left; changes a job made are recorded under the job's name."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import time
from pathlib import Path
from typing import Any

from dockyard import events as ev
from dockyard.events import Event
from dockyard.events.audit import audited, entry
from tests.inprocess.conftest import ADMIN, running


async def test_a_quota_refusal_reaches_the_audit_trail(tmp_path: Path) -> None:
    fast = {"jobs": {"poll_seconds": 0.05}}
    async with running(tmp_path, (), fast) as registry, registry.client(auth=ADMIN) as c:
        r = await c.post("/api/v1/projects", json={"name": "small", "quota_bytes": 10})
        assert r.status_code == 201, r.text
        body = b"more than ten bytes"
        r = await c.post(
            "/v2/small/app/blobs/uploads/",
            params={"digest": "sha256:" + hashlib.sha256(body).hexdigest()},
            content=body,
        )
        assert r.status_code == 403 and r.json()["errors"][0]["code"] == "DENIED"

        deadline = time.monotonic() + 20
        while True:
            r = await c.get("/api/v1/audit-logs", params={"action": ev.QUOTA_EXCEEDED})
            assert r.status_code == 200, r.text
            if r.json():
                break
            assert time.monotonic() < deadline, "no quota.exceeded entry"
            await asyncio.sleep(0.05)
        (found,) = r.json()
        assert found["project"] == "small" and found["resource"] == "small/app"
        assert found["outcome"] == "failed"
        detail: dict[str, Any] = found["detail"]
        assert detail["quota_bytes"] == 10 and detail["requested_bytes"] == len(body)


def _event(kind: str, actor: str | None, **kw: Any) -> Event:
    return Event(
        id=7,
        seq=7,
        kind=kind,
        at=dt.datetime.now(dt.UTC),
        repository="team/app",
        project="team",
        digest=kw.get("digest"),
        tag=kw.get("tag"),
        media_type=None,
        actor=actor,
        detail=kw.get("detail", {}),
    )


def test_only_what_no_request_audited_is_recorded() -> None:
    by_job = _event(ev.TAG_DELETED, "job:retention.run", tag="old", digest="sha256:" + "a" * 64)
    assert audited(by_job)
    assert not audited(_event(ev.TAG_DELETED, "alice", tag="old"))  # the API audited it
    assert not audited(_event(ev.PUSHED, None, tag="v1"))
    made = entry(by_job)
    assert (made.actor, made.actor_kind, made.action) == ("job:retention.run", "job", "tag.deleted")
    assert made.resource == "team/app:old" and made.detail == {"event": 7, "digest": by_job.digest}
