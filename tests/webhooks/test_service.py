"""Webhooks in process, before the job system runs them: the real app (SQLite, its
migrations with the webhooks branch), the management API, and the two halves of
delivery (recording deliveries for events, sending a lane) called directly, posting
to a real HTTP receiver on loopback that fails the first attempts."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from dockyard import events as ev
from dockyard.capabilities import REGISTERED
from dockyard.webhooks.payloads import verify
from dockyard.webhooks.service import WebhookService
from tests.inprocess.conftest import ADMIN, InProcess, running
from tests.webhooks.receiver import receiving

# the receivers listen on loopback, which webhooks may not reach by default
FAST = {
    "webhooks": {
        "backoff_seconds": 0.05,
        "max_backoff_seconds": 0.2,
        "max_attempts": 5,
        "blocked_networks": ["169.254.0.0/16"],
    }
}


@contextlib.asynccontextmanager
async def _database(backend: str) -> AsyncIterator[dict[str, Any]]:
    if backend == "sqlite":
        yield {}
        return
    from tests.support.postgres import temporary_database

    async with temporary_database() as url:
        yield {"database": {"url": url}}


@pytest.fixture(params=["sqlite", "postgresql"])
async def registry(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[InProcess]:
    """The app on SQLite and on PostgreSQL, with the project `team`."""
    async with (
        _database(request.param) as database,
        running(tmp_path, REGISTERED, {**FAST, **database}) as r,
    ):
        async with r.client(auth=ADMIN) as c:
            assert (await c.post("/api/v1/projects", json={"name": "team"})).status_code == 201
        yield r


def _digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _events(specs: Sequence[tuple[str, str, str]], start: int = 1) -> list[ev.Event]:
    """Events (kind, repository, tag) in commit order, ids and seqs from `start`."""
    now = dt.datetime.now(dt.UTC)
    return [
        ev.Event(
            id=start + i,
            seq=start + i,
            kind=kind,
            at=now,
            repository=repo,
            project=repo.split("/")[0],
            digest=_digest(f"{repo}:{tag}"),
            tag=tag,
            media_type="application/vnd.oci.image.manifest.v1+json",
            actor="admin",
            detail={"count": 3} if kind == ev.PULLED else {},
        )
        for i, (kind, repo, tag) in enumerate(specs)
    ]


async def _create(c: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    body.setdefault("name", "hook")
    body.setdefault("event_kinds", ["artifact.pushed"])
    r = await c.post("/api/v1/projects/team/webhooks", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _drain(service: WebhookService, lanes: set[tuple[int, str]]) -> None:
    """Send every lane until none waits for a retry (waiting for the scheduled retry
    time itself, the backoff under test)."""
    deadline = asyncio.get_running_loop().time() + 60
    waiting = set(lanes)
    while waiting:
        assert asyncio.get_running_loop().time() < deadline, f"lanes still waiting: {waiting}"
        next_due: dt.datetime | None = None
        for lane in sorted(waiting):
            result = await service.deliver_lane(*lane)
            if result.retry_at is None:
                waiting.discard(lane)
            else:
                next_due = min(next_due or result.retry_at, result.retry_at)
        if next_due is not None:
            await asyncio.sleep(max(0.0, (next_due - dt.datetime.now(dt.UTC)).total_seconds()))


async def test_deliveries_are_retried_in_order_per_repository_and_signed(
    registry: InProcess,
) -> None:
    with receiving(fail_first=2) as receiver:
        async with registry.client(auth=ADMIN) as c:
            created = await _create(c, url=receiver.url, secret="a-secret-of-16-chars")
            assert created["secret"] == "a-secret-of-16-chars"
        service = WebhookService(registry.app.services)
        specs = [(ev.PUSHED, f"team/{repo}", f"v{n}") for n in range(3) for repo in ("a", "b")]
        specs.append((ev.DELETED, "team/a", "v0"))  # a kind the policy does not want
        events = _events(specs)
        lanes = await service.record(events)
        assert lanes == {(created["id"], "team/a"), (created["id"], "team/b")}
        assert await service.record(events) == lanes  # a replayed batch records nothing new
        await _drain(service, lanes)

        delivered = receiver.delivered()
        assert len(delivered) == 6  # each event once, after two refusals each
        assert sorted(receiver.attempts.values()) == [3] * 6
        for post in delivered:
            body = post.json
            assert body["type"] == "PUSH_ARTIFACT"
            assert verify(
                "a-secret-of-16-chars",
                post.headers["x-dockyard-timestamp"],
                post.body,
                post.headers["x-dockyard-signature"],
            )
            assert not verify(
                "another-secret",
                post.headers["x-dockyard-timestamp"],
                post.body,
                post.headers["x-dockyard-signature"],
            )
        for repo in ("team/a", "team/b"):
            tags = [
                p.json["event_data"]["resources"][0]["tag"]
                for p in delivered
                if p.json["event_data"]["repository"]["repo_full_name"] == repo
            ]
            assert tags == ["v0", "v1", "v2"], repo  # commit order, across retries
        # within a lane, nothing is posted before the head is delivered
        order = [
            (p.json["event_data"]["repository"]["repo_full_name"], p.answered)
            for p in receiver.posts
        ]
        for repo in ("team/a", "team/b"):
            lane = [status for name, status in order if name == repo]
            assert lane == [500, 500, 200] * 3

        async with registry.client(auth=ADMIN) as c:
            r = await c.get(f"/api/v1/projects/team/webhooks/{created['id']}/deliveries")
        assert r.status_code == 200 and r.headers["x-total-count"] == "6"
        log = r.json()
        assert {d["state"] for d in log} == {"delivered"}
        assert {d["attempts"] for d in log} == {3}
        assert {d["status_code"] for d in log} == {200}
        assert all(d["last_error"] is None and d["finished_at"] for d in log)


async def test_a_delivery_out_of_attempts_fails_and_the_lane_moves_on(
    tmp_path: Path,
) -> None:
    overrides = {"webhooks": {**FAST["webhooks"], "max_attempts": 2}}
    with receiving(fail_first=2) as receiver:
        async with running(tmp_path, REGISTERED, overrides) as registry:
            async with registry.client(auth=ADMIN) as c:
                await c.post("/api/v1/projects", json={"name": "team"})
                created = await _create(c, url=receiver.url)
            service = WebhookService(registry.app.services)
            lanes = await service.record(_events([(ev.PUSHED, "team/a", "v1")] * 2))
            await _drain(service, lanes)
            async with registry.client(auth=ADMIN) as c:
                r = await c.get(f"/api/v1/projects/team/webhooks/{created['id']}/deliveries")
    log = r.json()
    assert [d["state"] for d in log] == ["failed", "failed"]
    assert [d["attempts"] for d in log] == [2, 2]
    assert log[0]["status_code"] == 500 and log[0]["last_error"] == "HTTP 500: receiver says no"
    assert len(receiver.posts) == 4 and receiver.delivered() == []


async def test_pulls_waiting_for_one_repository_go_out_in_one_harbor_post(
    registry: InProcess,
) -> None:
    with receiving() as harbor, receiving() as cloud:
        async with registry.client(auth=ADMIN) as c:
            kinds = ["artifact.pulled"]
            h = await _create(c, name="harbor", url=harbor.url, event_kinds=kinds)
            ce = await _create(c, name="ce", url=cloud.url, event_kinds=kinds, format="cloudevents")
        service = WebhookService(registry.app.services)
        pulls = [(ev.PULLED, "team/a", f"v{n}") for n in range(5)]
        lanes = await service.record(_events(pulls))
        await _drain(service, lanes)

    (post,) = harbor.delivered()
    body = post.json
    assert body["type"] == "PULL_ARTIFACT"
    resources = body["event_data"]["resources"]
    assert [r["tag"] for r in resources] == [f"v{n}" for n in range(5)]
    assert {r["pull_count"] for r in resources} == {3}
    assert len(cloud.delivered()) == 5  # CloudEvents posts carry one event each
    first = cloud.delivered()[0]
    assert first.headers["content-type"] == "application/cloudevents+json"
    event = first.json
    assert event["specversion"] == "1.0" and event["type"] == "io.dockyard.artifact.pulled"
    assert event["id"] == "1" and event["source"] == "/projects/team"
    assert event["datacontenttype"] == "application/json" and event["time"].endswith("Z")
    assert event["data"]["tag"] == "v0" and event["subject"] == "team/a"
    async with registry.client(auth=ADMIN) as c:
        r = await c.get(f"/api/v1/projects/team/webhooks/{h['id']}/deliveries")
        log = r.json()
        assert {d["state"] for d in log} == {"delivered"}
        head = min(d["id"] for d in log)
        assert sorted(d["sent_with"] for d in log if d["id"] != head) == [head] * 4
        r = await c.get(f"/api/v1/projects/team/webhooks/{ce['id']}/deliveries")
        assert r.headers["x-total-count"] == "5"


async def test_credentials_are_redacted_everywhere(registry: InProcess) -> None:
    with receiving(fail_first=1) as receiver:
        secret_url = receiver.url.replace("http://", "http://hookuser:hookpass@")
        secret_url += "?token=tok-123&sig=sig-456&team=x"
        async with registry.client(auth=ADMIN) as c:
            created = await _create(c, url=secret_url, auth_header="Bearer header-secret-789")
            shown = json.dumps(created)
            r = await c.get(f"/api/v1/projects/team/webhooks/{created['id']}")
            shown += r.text + (await c.get("/api/v1/projects/team/webhooks")).text
            r = await c.post(f"/api/v1/projects/team/webhooks/{created['id']}/test")
            assert r.status_code == 200, r.text
            test = r.json()
            shown += r.text
        assert test["delivered"] is False and test["status_code"] == 500
        assert created["url"].startswith("http://***@127.0.0.1:")
        assert "token=%2A%2A%2A" in created["url"] or "token=***" in created["url"]
        assert "team=x" in created["url"] and created["auth_header_set"] is True
        for secret in ("hookuser", "hookpass", "tok-123", "sig-456", "header-secret-789"):
            assert secret not in shown, secret
        (post,) = receiver.posts  # the receiver got the real credentials
        assert post.headers["authorization"] == "Bearer header-secret-789"
        assert "token=tok-123" in post.path and post.json["event_data"]["resources"][0]["tag"]

    # a receiver that is gone: the connection error names the URL, redacted
    async with registry.client(auth=ADMIN) as c:
        r = await c.post(f"/api/v1/projects/team/webhooks/{created['id']}/test")
        test = r.json()
        assert test["delivered"] is False and test["status_code"] is None
        assert test["error"] and "ConnectError" in test["error"]
        for secret in ("hookuser", "hookpass", "tok-123", "sig-456"):
            assert secret not in r.text
        r = await c.get(f"/api/v1/projects/team/webhooks/{created['id']}/deliveries")
        assert [d["test"] for d in r.json()] == [True, True]
        for secret in ("hookuser", "hookpass", "tok-123", "sig-456", "header-secret-789"):
            assert secret not in r.text


async def test_the_test_event_posts_now_and_says_what_happened(registry: InProcess) -> None:
    with receiving() as receiver:
        async with registry.client(auth=ADMIN) as c:
            created = await _create(c, url=receiver.url, format="cloudevents")
            r = await c.post(f"/api/v1/projects/team/webhooks/{created['id']}/test")
        assert r.status_code == 200, r.text
        test = r.json()
        assert test["delivered"] is True and test["status_code"] == 200 and test["error"] is None
        assert test["delivery"]["test"] is True and test["delivery"]["event_id"] is None
        (post,) = receiver.posts
        assert post.json["type"] == "io.dockyard.artifact.pushed"
        assert post.json["data"]["repository"] == "team/webhook-test"
        assert verify(
            created["secret"],
            post.headers["x-dockyard-timestamp"],
            post.body,
            post.headers["x-dockyard-signature"],
        )


async def test_policies_are_validated_and_managed_by_project_admins(
    registry: InProcess,
) -> None:
    base = "/api/v1/projects/team/webhooks"
    async with registry.client(auth=ADMIN) as c:
        for bad, field in (
            ({"url": "ftp://example.org/x"}, "url"),
            ({"url": "file:///etc/passwd"}, "url"),
            ({"url": "http:///nohost"}, "url"),
            ({"url": "https://example.org/x", "event_kinds": ["artifact.exploded"]}, "event_kinds"),
            ({"url": "https://example.org/x", "event_kinds": []}, "event_kinds"),
            ({"url": "https://example.org/x", "format": "slack"}, "format"),
            ({"url": "https://example.org/x", "secret": "short"}, "secret"),
        ):
            body = {"name": "bad", "event_kinds": ["artifact.pushed"], **bad}
            r = await c.post(base, json=body)
            assert r.status_code == 422, (bad, r.text)
            error = r.json()["errors"][0]
            assert error["code"] == "INVALID_REQUEST" and field in error["message"], error
        assert (await c.get(base)).json() == []  # nothing half-made
        created = await _create(c, url="https://example.org/hook")
        r = await c.post(
            base,
            json={
                "name": "hook",
                "url": "https://example.org/2",
                "event_kinds": ["artifact.pushed"],
            },
        )
        assert r.status_code == 409 and r.json()["errors"][0]["code"] == "CONFLICT"
        path = f"{base}/{created['id']}"
        r = await c.patch(path, json={"enabled": False, "event_kinds": ["artifact.deleted"]})
        assert r.status_code == 200
        assert r.json()["enabled"] is False and r.json()["event_kinds"] == ["artifact.deleted"]
        r = await c.patch(path, json={"url": "gopher://example.org/"})
        assert r.status_code == 422
        assert (await c.get(path)).json()["url"] == "https://example.org/hook"
        # a developer of the project may not see or change its webhooks
        r = await c.post("/api/v1/users", json={"username": "dev", "password": "dev-password"})
        assert r.status_code == 201, r.text
        r = await c.post(
            "/api/v1/projects/team/members",
            json={"kind": "user", "name": "dev", "role": "developer"},
        )
        assert r.status_code == 201, r.text
    async with registry.client(auth=("dev", "dev-password")) as dev:
        assert (await dev.get(base)).status_code == 403
        assert (await dev.delete(path)).status_code == 403
        assert (await dev.post(f"{path}/test")).status_code == 403
    async with registry.client() as anonymous:
        assert (await anonymous.get(base)).status_code == 401
    async with registry.client(auth=ADMIN) as c:
        assert (await c.delete(path)).status_code == 204
        assert (await c.get(path)).status_code == 404
        assert (await c.get("/api/v1/projects/nope/webhooks")).status_code == 404


async def test_disabled_policies_record_nothing(registry: InProcess) -> None:
    async with registry.client(auth=ADMIN) as c:
        await _create(c, url="https://example.org/hook", enabled=False)
    service = WebhookService(registry.app.services)
    assert await service.record(_events([(ev.PUSHED, "team/a", "v1")])) == set()


async def test_racing_senders_post_each_delivery_once_in_order(registry: InProcess) -> None:
    with receiving() as receiver:
        async with registry.client(auth=ADMIN) as c:
            created = await _create(c, url=receiver.url)
        services = registry.app.services
        lanes = await WebhookService(services).record(
            _events([(ev.PUSHED, "team/a", f"v{n}") for n in range(8)])
        )
        ((_, lane),) = lanes
        # four senders (as four workers would be) race for one lane
        await asyncio.gather(
            *(WebhookService(services).deliver_lane(created["id"], lane) for _ in range(4))
        )
        # a sender that found the lane held returns; the holder empties it
        await _drain(WebhookService(services), lanes)
    tags = [p.json["event_data"]["resources"][0]["tag"] for p in receiver.posts]
    assert tags == [f"v{n}" for n in range(8)]


async def test_a_sender_that_died_loses_its_lane_when_the_lease_ends(
    registry: InProcess,
) -> None:
    with receiving() as receiver:
        async with registry.client(auth=ADMIN) as c:
            created = await _create(c, url=receiver.url)
        service = WebhookService(registry.app.services)
        lanes = await service.record(_events([(ev.PUSHED, "team/a", "v1")]))
        ((_, lane),) = lanes
        # a sender claims the head, then dies before posting (no finish); the lease is
        # long enough that a loaded machine cannot outlast it, and its end is stepped
        # to by the clock the store is given, not waited for
        claim = await service.store.claim(created["id"], lane, lease_seconds=30)
        assert len(claim.rows) == 1
        held = await service.deliver_lane(created["id"], lane)
        assert held.sent == 0 and receiver.posts == []  # its lease still holds,
        assert held.retry_at is not None  # and the lane is looked at again when it ends
        later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=31)
        taken = await service.store.claim(created["id"], lane, lease_seconds=30, now=later)
        assert [r.id for r in taken.rows] == [r.id for r in claim.rows]
        again = later + dt.timedelta(seconds=1)
        assert (await service.store.claim(created["id"], lane, lease_seconds=30, now=again)).busy


def test_the_documented_signature_check_accepts_ours_and_refuses_others() -> None:
    """The receiver's check shown in docs/operations.md, run as written."""
    import re
    import time

    from dockyard.webhooks.payloads import signature

    text = (Path(__file__).parents[2] / "docs" / "operations.md").read_text()
    section = text.split("## Webhooks", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.S)
    scope: dict[str, Any] = {}
    exec(code, scope)
    body = b'{"type":"PUSH_ARTIFACT"}'
    stamp = int(time.time())
    headers = {
        "X-Dockyard-Timestamp": str(stamp),
        "X-Dockyard-Signature": signature("k" * 20, stamp, body),
    }
    assert scope["verified"](b"k" * 20, headers, body)
    assert not scope["verified"](b"x" * 20, headers, body)
    assert not scope["verified"](b"k" * 20, headers, body + b" ")
    old = {
        **headers,
        "X-Dockyard-Timestamp": str(stamp - 3600),
        "X-Dockyard-Signature": signature("k" * 20, stamp - 3600, body),
    }
    assert not scope["verified"](b"k" * 20, old, body)  # a replay, refused by its age


async def test_a_slow_receiver_is_cut_off_at_the_timeout(tmp_path: Path) -> None:
    overrides = {"webhooks": {**FAST["webhooks"], "timeout_seconds": 0.5, "max_attempts": 1}}
    with receiving(hold=5.0) as receiver:
        async with (
            running(tmp_path, REGISTERED, overrides) as registry,
            registry.client(auth=ADMIN) as c,
        ):
            await c.post("/api/v1/projects", json={"name": "team"})
            created = await _create(c, url=receiver.url)
            started = asyncio.get_running_loop().time()
            r = await c.post(f"/api/v1/projects/team/webhooks/{created['id']}/test")
            took = asyncio.get_running_loop().time() - started
    test = r.json()
    assert test["delivered"] is False and test["error"] == "no answer within 0.5s"
    assert took < 3.0  # cut off at the timeout, not when the receiver answered


async def test_old_finished_deliveries_are_purged_and_a_project_takes_its_webhooks(
    registry: InProcess,
) -> None:
    with receiving() as receiver:
        async with registry.client(auth=ADMIN) as c:
            created = await _create(c, url=receiver.url)
        service = WebhookService(registry.app.services)
        lanes = await service.record(_events([(ev.PUSHED, "team/a", "v1")]))
        await service.record(_events([(ev.PUSHED, "team/b", "v1")], start=10))
        await _drain(service, lanes)  # team/a delivered; team/b still pending
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    assert await service.store.purge(later) == 1  # the pending one stays
    rows, total = await service.store.list_deliveries(created["id"], 0, 10)
    assert total == 1 and rows[0].state == "pending"
    async with registry.client(auth=ADMIN) as c:
        assert (await c.delete("/api/v1/projects/team")).status_code == 204
        assert await service.store.get_policy(created["id"]) is None
        assert (await service.store.list_deliveries(created["id"], 0, 10))[1] == 0


@pytest.mark.parametrize("kind", sorted(ev.ALL_KINDS))
def test_every_event_kind_renders_in_both_formats(kind: str) -> None:
    from dockyard.webhooks.payloads import HARBOR_TYPES, event_json, render

    (event,) = _events([(kind, "team/app", "v1")])
    data = event_json(event, project_public=True)
    body, content_type = render("harbor", "reg.example.org", [data], "1")
    harbor = json.loads(body)
    assert content_type == "application/json" and harbor["type"] == HARBOR_TYPES[kind]
    repository = harbor["event_data"]["repository"]
    assert repository == {
        "name": "app",
        "namespace": "team",
        "repo_full_name": "team/app",
        "repo_type": "public",
    }
    (resource,) = harbor["event_data"]["resources"]
    assert resource["resource_url"] == "reg.example.org/team/app:v1"
    assert resource["digest"] == event.digest and harbor["occur_at"] == int(event.at.timestamp())
    body, content_type = render("cloudevents", "reg.example.org", [data], "1")
    cloud = json.loads(body)
    assert content_type == "application/cloudevents+json"
    assert (
        cloud["type"] == f"io.dockyard.{kind}"
        and cloud["source"] == "//reg.example.org/projects/team"
    )
    assert {"specversion", "id", "source", "type", "time", "datacontenttype", "data"} <= set(cloud)


async def test_redirects_are_not_followed(registry: InProcess) -> None:
    with receiving() as elsewhere, receiving() as receiver:
        receiver.redirect_to = elsewhere.url + "?token=leaked-if-shown"
        async with registry.client(auth=ADMIN) as c:
            created = await _create(c, url=receiver.url)
            r = await c.post(f"/api/v1/projects/team/webhooks/{created['id']}/test")
    test = r.json()
    assert test["delivered"] is False and test["status_code"] == 302
    assert test["error"].startswith("HTTP 302: redirects are not followed")
    assert "leaked-if-shown" not in r.text
    assert elsewhere.posts == []  # nothing reached the other host


async def test_a_configured_seal_key_seals_the_secrets(tmp_path: Path) -> None:
    from cryptography.fernet import Fernet
    from sqlalchemy import select

    from dockyard.webhooks import schema as t
    from dockyard.webhooks.store import engines_of

    key = Fernet.generate_key().decode()
    overrides = {"webhooks": {**FAST["webhooks"], "seal_key": key}}
    async with (
        running(tmp_path, REGISTERED, overrides) as registry,
        registry.client(auth=ADMIN) as c,
    ):
        await c.post("/api/v1/projects", json={"name": "team"})
        created = await _create(c, url="https://example.org/h", secret="sealed-with-my-own-key")
        db = engines_of(registry.app.services.store)
        async with db.read.connect() as conn:
            sealed = await conn.scalar(select(t.policies.c.secret_sealed))
    assert "sealed-with-my-own-key" not in sealed
    assert Fernet(key.encode()).decrypt(sealed.encode()).decode() == "sealed-with-my-own-key"
    assert created["secret"] == "sealed-with-my-own-key"


def test_a_seal_key_that_is_not_one_is_refused_at_start() -> None:
    from dockyard.config import load_settings
    from dockyard.errors import ConfigError

    with pytest.raises(ConfigError, match="seal_key"):
        load_settings(None, {"webhooks": {"seal_key": "not-a-key"}}, REGISTERED)


async def test_loopback_and_metadata_addresses_are_refused_by_default(tmp_path: Path) -> None:
    """A project admin cannot aim the registry at itself, its host or a cloud metadata
    service: by default no post goes to loopback or link-local addresses."""
    with receiving() as receiver:
        async with running(tmp_path, REGISTERED) as registry, registry.client(auth=ADMIN) as c:
            assert (await c.post("/api/v1/projects", json={"name": "team"})).status_code == 201
            for url in (receiver.url, "http://169.254.169.254/latest/meta-data/"):
                created = await _create(c, name=f"h{len(receiver.posts)}{url[-3:-1]}", url=url)
                r = await c.post(f"/api/v1/projects/team/webhooks/{created['id']}/test")
                assert r.status_code == 200, r.text
                test = r.json()
                assert test["delivered"] is False and test["status_code"] is None
                assert "webhooks.blocked_networks" in test["error"], test
        assert receiver.posts == []
