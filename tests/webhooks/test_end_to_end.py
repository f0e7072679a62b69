"""Webhooks end to end, on the real path: a real `dockyard serve` (embedded SQLite +
folder, and PostgreSQL + S3 + Redis), images pushed with skopeo and the suite's push
helper to two repositories, the outbox relayed to the webhooks consumer, delivery
jobs posting to a real HTTP receiver on loopback that refuses the first two attempts
of every delivery. Each event arrives once, signed, in order per repository; the
delivery log shows the attempts with the endpoint's credentials masked; the test
event goes out from the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dockyard.webhooks.payloads import verify
from tests.spec.helpers import push_image
from tests.support.oci_layout import build_image
from tests.support.server import RunningServer, run_server
from tests.support.tools import Skopeo, require_binary
from tests.webhooks.receiver import Receiver, receiving

FAST = {
    "DOCKYARD__WEBHOOKS__BACKOFF_SECONDS": "0.2",
    "DOCKYARD__WEBHOOKS__MAX_BACKOFF_SECONDS": "0.5",
    "DOCKYARD__JOBS__POLL_SECONDS": "0.2",
    # the receiver listens on loopback, which webhooks may not reach by default
    "DOCKYARD__WEBHOOKS__BLOCKED_NETWORKS": '["169.254.0.0/16"]',
}
SECRET = "end-to-end-signing-secret"
CREDENTIALS = ("hookuser", "hookpass-e2e", "tok-e2e-123", "Bearer e2e-header-secret")


@pytest.fixture(params=["embedded", "production"])
def hooked(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningServer]:
    if request.param == "embedded":
        with run_server(tmp_path / "data", env=FAST) as srv:
            yield srv
        return
    from tests.support.postgres import temporary_database_sync
    from tests.support.production import migrate, production_env

    s3 = request.getfixturevalue("s3_server")
    with temporary_database_sync() as database_url:
        env = {**production_env(s3, s3.create_bucket(), database_url), **FAST}
        migrate(env, tmp_path / "data")
        with run_server(tmp_path / "data", env=env) as srv:
            yield srv


def _api(server: RunningServer) -> httpx.Client:
    return httpx.Client(base_url=server.url + "/api/v1", auth=server.admin, timeout=30)


def _wait(what: str, check: Any, timeout: float = 90.0) -> Any:
    """Poll `check()` (an API read) until it returns something truthy, or fail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)  # polling interval against the API, not a race cover-up
    raise TimeoutError(f"{what}: not after {timeout}s")


def _cli(server: RunningServer, *args: str) -> subprocess.CompletedProcess[str]:
    user, password = server.admin
    return subprocess.run(
        [sys.executable, "-m", "dockyard", "webhooks", *args, "--url", server.url],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DOCKYARD_USERNAME": user, "DOCKYARD_PASSWORD": password},
    )


def _repo_tags(receiver: Receiver, fmt: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for post in receiver.delivered():
        body = post.json
        if fmt == "harbor":
            repo = body["event_data"]["repository"]["repo_full_name"]
            tags = [r["tag"] for r in body["event_data"]["resources"]]
        else:
            repo, tags = body["subject"], [body["data"]["tag"]]
        out.setdefault(repo, []).extend(tags)
    return out


def test_pushes_reach_a_failing_receiver_once_each_signed_in_order(
    hooked: RunningServer, tmp_path: Path
) -> None:
    require_binary("skopeo")
    user, password, token, header = CREDENTIALS
    with receiving(fail_first=2) as harbor, receiving(fail_first=1) as cloud, _api(hooked) as api:
        assert api.post("/projects", json={"name": "hooks"}).status_code == 201
        secret_url = harbor.url.replace("http://", f"http://{user}:{password}@")
        secret_url += f"?token={token}"
        r = api.post(
            "/projects/hooks/webhooks",
            json={
                "name": "ci",
                "url": secret_url,
                "event_kinds": ["artifact.pushed"],
                "secret": SECRET,
                "auth_header": header,
            },
        )
        assert r.status_code == 201, r.text
        policy = r.json()
        done = _cli(
            hooked,
            "create",
            "hooks",
            "events",
            "--endpoint",
            cloud.url,
            "--event",
            "artifact.pushed",
            "--format",
            "cloudevents",
            "--json",
        )
        assert done.returncode == 0, done.stderr
        cloud_policy = json.loads(done.stdout)
        assert cloud_policy["format"] == "cloudevents" and len(cloud_policy["secret"]) > 16

        # v1 of each repository with skopeo, v2 and v3 with the suite's helper
        skopeo = Skopeo(hooked.hostport, workdir=tmp_path, credentials=hooked.admin)
        for repo in ("alpha", "beta"):
            layout = tmp_path / f"layout-{repo}"
            build_image(layout, "v1", seed=f"hooks/{repo}")
            skopeo.push_oci(layout, "v1", f"hooks/{repo}", "v1")
        with hooked.client(hooked.admin) as reg:
            for tag in ("v2", "v3"):
                for repo in ("alpha", "beta"):
                    push_image(reg, f"hooks/{repo}", tag, config=f"{repo}-{tag}".encode())

        def all_delivered(policy_id: int, count: int) -> list[dict[str, Any]] | None:
            r = api.get(f"/projects/hooks/webhooks/{policy_id}/deliveries")
            log = r.json()
            ok = len(log) == count and all(d["state"] == "delivered" for d in log)
            return log if ok else None

        try:
            log = _wait("harbor deliveries", lambda: all_delivered(policy["id"], 6))
            cloud_log = _wait("cloud deliveries", lambda: all_delivered(cloud_policy["id"], 6))
        except TimeoutError as exc:
            state = [
                api.get(f"/projects/hooks/webhooks/{p}/deliveries").json()
                for p in (policy["id"], cloud_policy["id"])
            ]
            jobs = api.get("/jobs", params={"page_size": 100}).json()
            raise AssertionError(f"{exc}\ndeliveries: {state}\njobs: {jobs}") from None

        assert {d["attempts"] for d in log} == {3}  # two refusals, then delivered
        assert {d["attempts"] for d in cloud_log} == {2}
        assert len(harbor.delivered()) == 6 and len(harbor.posts) == 18
        assert len(cloud.delivered()) == 6 and len(cloud.posts) == 12
        expected = {"hooks/alpha": ["v1", "v2", "v3"], "hooks/beta": ["v1", "v2", "v3"]}
        assert _repo_tags(harbor, "harbor") == expected  # once each, in push order
        assert _repo_tags(cloud, "cloudevents") == expected
        for post in harbor.delivered():
            assert verify(
                SECRET,
                post.headers["x-dockyard-timestamp"],
                post.body,
                post.headers["x-dockyard-signature"],
            )
            assert post.headers["authorization"] == header
            assert post.path.endswith(f"?token={token}")
            assert post.json["type"] == "PUSH_ARTIFACT" and post.json["operator"] == "admin"
            resource = post.json["event_data"]["resources"][0]
            assert resource["digest"].startswith("sha256:")
        assert len({p.json["id"] for p in cloud.delivered()}) == 6

        # the CLI's test event, through the management API: the receiver refuses a
        # delivery's first two posts, and the test event is one
        done = _cli(hooked, "test", "hooks", str(policy["id"]))
        assert done.returncode == 1 and "HTTP 500" in done.stderr, done.stderr
        listed = _cli(hooked, "deliveries", "hooks", str(policy["id"]), "--limit", "3")
        assert listed.returncode == 0 and "delivered" in listed.stdout, listed.stderr
        shown = api.get(f"/projects/hooks/webhooks/{policy['id']}/deliveries").text
        shown += api.get(f"/projects/hooks/webhooks/{policy['id']}").text
        shown += _cli(hooked, "list", "hooks").stdout + listed.stdout
    for secret in (*CREDENTIALS, header.split()[1], SECRET):
        assert secret not in shown, secret
        assert secret not in hooked.log(), secret


def test_a_server_killed_mid_post_delivers_after_restart_in_order(tmp_path: Path) -> None:
    """SIGKILL the server while a receiver holds its post open; a new server on the
    same data takes the lane up once the delivery's lease ends, posts that delivery
    again (same X-Dockyard-Delivery, for the receiver to drop the repeat), then the
    rest of the repository's deliveries, in order."""
    env = {
        **FAST,
        "DOCKYARD__WEBHOOKS__TIMEOUT_SECONDS": "3",
        "DOCKYARD__JOBS__LEASE_SECONDS": "2",
    }
    data = tmp_path / "data"
    with receiving(hold=30.0) as receiver:
        with run_server(data, env=env) as first, _api(first) as api:
            assert api.post("/projects", json={"name": "hooks"}).status_code == 201
            r = api.post(
                "/projects/hooks/webhooks",
                json={"name": "ci", "url": receiver.url, "event_kinds": ["artifact.pushed"]},
            )
            assert r.status_code == 201, r.text
            policy = r.json()
            with first.client(first.admin) as reg:
                for tag in ("v1", "v2", "v3"):
                    push_image(reg, "hooks/app", tag, config=tag.encode())
            receiver.wait_for(lambda r: bool(r.arrivals))
            first.kill()  # SIGKILL, mid-post
        receiver.released.set()  # the held post is answered, to a dead server
        with run_server(data, env=env) as second, _api(second) as api:

            def delivered() -> list[dict[str, Any]] | None:
                log = api.get(f"/projects/hooks/webhooks/{policy['id']}/deliveries").json()
                return log if log and all(d["state"] == "delivered" for d in log) else None

            try:
                log = _wait("deliveries after the restart", delivered, timeout=40)
            except TimeoutError as exc:
                state = api.get(f"/projects/hooks/webhooks/{policy['id']}/deliveries").json()
                jobs = api.get("/jobs", params={"limit": 50}).json()
                seen = [(p.headers.get("x-dockyard-delivery"), p.answered) for p in receiver.posts]
                raise AssertionError(f"{exc}\n{state}\n{jobs}\n{seen}") from None
    assert len(log) == 3
    tags = [p.json["event_data"]["resources"][0]["tag"] for p in receiver.posts]
    ids = [p.headers["x-dockyard-delivery"] for p in receiver.posts]
    # the held post reached the receiver once before the kill and once after: the same id
    assert tags == ["v1", "v1", "v2", "v3"] and ids[0] == ids[1] and len(set(ids)) == 3
