"""Replication between two real Dockyard servers (token auth), skopeo reading the
digests on both sides: push with filters and a prefix rewrite carrying a multi-arch
index, a signature (referrers API) and a cosign tag; a second run that finds
everything in place; pull with a dry run first and a label filter; the cron trigger
through its schedule."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.replication.support import (
    add_endpoint,
    add_policy,
    api,
    by_reference,
    finished,
    items,
    push_cosign_tag,
    push_signature,
    run_policy,
    until,
)
from tests.support.oci_layout import build_image, build_index
from tests.support.server import RunningServer, run_server
from tests.support.tools import Skopeo, require_binary

ENV = {
    "DOCKYARD__REPLICATION__RETRY_SECONDS": "0.5",
    "DOCKYARD__REPLICATION__RETRY_MAX_SECONDS": "2",
}


@pytest.fixture(scope="module")
def sites(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningServer, RunningServer]]:
    base = tmp_path_factory.mktemp("sites")
    with run_server(base / "a", workers=1, env=ENV) as a, run_server(base / "b", workers=1) as b:
        add_endpoint(a, "b", b.url, kind="dockyard", username=b.admin[0], password=b.admin[1])
        yield a, b


def skopeo(server: RunningServer, tmp_path: Path) -> Skopeo:
    require_binary("skopeo")
    return Skopeo(server.hostport, workdir=tmp_path, credentials=server.admin)


def manifest_digest(tool: Skopeo, repo: str, ref: str) -> str:
    return "sha256:" + hashlib.sha256(tool.inspect_raw(tool.ref(repo, ref))).hexdigest()


def test_push_with_filters_rewrite_index_and_referrers(
    sites: tuple[RunningServer, RunningServer], tmp_path: Path
) -> None:
    a, b = sites
    sa, sb = skopeo(a, tmp_path), skopeo(b, tmp_path)
    app = build_image(tmp_path / "oci", "v1", layers=[300_000, 40_000], seed="repl-app")
    dev = build_image(tmp_path / "oci", "dev", layers=[10_000], seed="repl-dev")
    multi = build_index(tmp_path / "oci", "multi", seed="repl-multi")
    other = build_image(tmp_path / "oci", "other", layers=[5_000], seed="repl-other")
    assert sa.push_oci(app.layout, "v1", "team/app", "v1") == app.manifest_digest
    sa.push_oci(dev.layout, "dev", "team/app", "dev")
    sa.push_oci(multi.layout, "multi", "team/multi", "v2", all_=True)
    sa.push_oci(other.layout, "other", "elsewhere/x", "v1")
    with a.client(a.admin) as c:
        signature = push_signature(c, "team/app", app.manifest_digest, app.manifest_size)
        cosign = push_cosign_tag(c, "team/app", app.manifest_digest)

    add_policy(
        a,
        "to-b",
        direction="push",
        endpoint="b",
        filters={"repositories": ["team/*"], "tags": ["v*"]},
        rewrite={"mode": "prefix", "namespace": "dr"},
    )
    done = finished(a, run_policy(a, "to-b"))
    assert done["state"] == "succeeded", done
    found = by_reference(items(a, done["id"]))
    assert set(found) == {("team/app", "v1"), ("team/multi", "v2")}  # dev, x and .sig not items
    assert all(i["destination_repository"].startswith("dr/team/") for i in found.values())
    assert found[("team/app", "v1")]["referrers"] == 2  # the signature and the cosign tag

    # skopeo reads the same digests at the destination
    assert manifest_digest(sb, "dr/team/app", "v1") == app.manifest_digest
    assert manifest_digest(sb, "dr/team/multi", "v2") == multi.index_digest
    for child in multi.children:
        assert manifest_digest(sb, "dr/team/multi", child.manifest_digest) == child.manifest_digest
    out = tmp_path / "pulled"
    sb.pull_oci("dr/team/app", "v1", out, "v1")
    with b.client(b.admin) as c:
        referrers = c.get(f"/v2/dr/team/app/referrers/{app.manifest_digest}")
        assert referrers.status_code == 200
        assert [m["digest"] for m in referrers.json()["manifests"]] == [signature]
        sig = c.head(f"/v2/dr/team/app/manifests/{app.manifest_digest.replace(':', '-')}.sig")
        assert sig.status_code == 200 and sig.headers["docker-content-digest"] == cosign
        assert c.head("/v2/dr/team/app/manifests/dev").status_code == 404
        assert c.get("/v2/dr/elsewhere/x/tags/list").status_code == 404

    # a second run finds everything in place: HEADs only, no bytes sent
    again = finished(a, run_policy(a, "to-b"))
    assert again["state"] == "succeeded"
    assert again["bytes"] == 0
    assert {i["state"] for i in items(a, again["id"])} == {"skipped"}


def test_pull_dry_run_then_copy_with_label_filter(
    sites: tuple[RunningServer, RunningServer], tmp_path: Path
) -> None:
    a, b = sites
    sa, sb = skopeo(a, tmp_path), skopeo(b, tmp_path)
    keep = build_image(
        tmp_path / "oci", "keep", layers=[20_000], seed="pull-keep", labels={"tier": "prod-eu"}
    )
    drop = build_image(
        tmp_path / "oci", "drop", layers=[20_000], seed="pull-drop", labels={"tier": "dev"}
    )
    sb.push_oci(keep.layout, "keep", "src/svc/api", "1.0")
    sb.push_oci(drop.layout, "drop", "src/svc/api", "1.1")
    add_policy(
        a,
        "from-b",
        direction="pull",
        endpoint="b",
        filters={"repositories": ["src/svc/*"], "labels": {"tier": "prod-*"}},
        rewrite={"mode": "replace", "namespace": "mirror", "levels": 1},
    )
    dry = finished(a, run_policy(a, "from-b", dry_run=True))
    assert dry["state"] == "succeeded" and dry["dry_run"]
    planned = by_reference(items(a, dry["id"]))
    assert planned[("src/svc/api", "1.0")]["state"] == "planned"
    assert planned[("src/svc/api", "1.1")]["state"] == "skipped"
    assert "labels" in planned[("src/svc/api", "1.1")]["error"]
    with a.client(a.admin) as c:
        assert c.get("/v2/mirror/svc/api/tags/list").status_code == 404  # nothing copied

    done = finished(a, run_policy(a, "from-b"))
    assert done["state"] == "succeeded", done
    assert manifest_digest(sa, "mirror/svc/api", "1.0") == keep.manifest_digest
    with a.client(a.admin) as c:
        assert c.get("/v2/mirror/svc/api/tags/list").json()["tags"] == ["1.0"]


def test_cron_trigger_runs_through_its_schedule(
    sites: tuple[RunningServer, RunningServer], tmp_path: Path
) -> None:
    a, b = sites
    sa, sb = skopeo(a, tmp_path), skopeo(b, tmp_path)
    img = build_image(tmp_path / "oci", "c", layers=[8_000], seed="cron")
    sa.push_oci(img.layout, "c", "cron/app", "1")
    add_policy(
        a,
        "nightly",
        direction="push",
        endpoint="b",
        trigger={"kind": "cron", "cron": "17 3 * * *"},
        filters={"repositories": ["cron/app"]},
    )
    with api(a) as c:
        schedules = {s["name"]: s for s in c.get("/schedules").json()}
        assert schedules["replication.policy.nightly"]["cron"] == "17 3 * * *"
        started = c.post("/schedules/replication.policy.nightly/run")
        assert started.status_code == 202, started.text

    def cron_execution() -> dict[str, object] | None:
        with api(a) as c:
            found = c.get("/replication/executions", params={"policy": "nightly"}).json()
        return found[0] if found and found[0]["state"] in ("succeeded", "failed") else None

    ran = until("the cron execution", cron_execution)
    assert ran["trigger"] == "cron" and ran["state"] == "succeeded", ran
    assert manifest_digest(sb, "cron/app", "1") == img.manifest_digest
    with api(a) as c:  # switching the trigger off the cron removes the schedule
        assert (
            c.patch(
                "/replication/policies/nightly", json={"trigger": {"kind": "manual"}}
            ).status_code
            == 200
        )
        assert "replication.policy.nightly" not in {s["name"] for s in c.get("/schedules").json()}


def cli(server: RunningServer, *args: str) -> subprocess.CompletedProcess[str]:
    user, password = server.admin
    env = {
        **os.environ,
        "COLUMNS": "200",
        "DOCKYARD_URL": server.url,
        "DOCKYARD_USERNAME": user,
        "DOCKYARD_PASSWORD": password,
    }
    return subprocess.run(
        [sys.executable, "-m", "dockyard", "replication", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_cli_creates_runs_and_shows(
    sites: tuple[RunningServer, RunningServer], tmp_path: Path
) -> None:
    a, b = sites
    sa, sb = skopeo(a, tmp_path), skopeo(b, tmp_path)
    img = build_image(tmp_path / "oci", "x", layers=[30_000], seed="cli")
    sa.push_oci(img.layout, "x", "cli/deep/app", "2.0")
    made = cli(
        a, "create", "cli-flat", "--direction", "push", "--endpoint", "b",
        "--repository", "cli/*", "--rewrite", "replace:flat:-1", "--bandwidth", "10MiB", "--json",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    policy = json.loads(made.stdout)
    assert policy["rewrite"] == {"mode": "replace", "namespace": "flat", "levels": -1}
    assert policy["bandwidth_bytes"] == 10 * 1024 * 1024
    ran = cli(a, "run", "cli-flat", "--wait", "--json")
    assert ran.returncode == 0, ran.stderr
    execution_id = json.loads(ran.stdout)["id"]
    assert manifest_digest(sb, "flat/app", "2.0") == img.manifest_digest
    shown = cli(a, "execution", str(execution_id))
    assert shown.returncode == 0 and "cli/deep/app" in shown.stdout and "flat/app" in shown.stdout
    listed = cli(a, "executions", "--policy", "cli-flat", "--json")
    assert [e["id"] for e in json.loads(listed.stdout)] == [execution_id]

    # errors a person can act on, one line each
    for args, words in (
        (("create", "bad", "--direction", "pull", "--endpoint", "nowhere"), "nowhere"),
        (("create", "ev", "--direction", "pull", "--endpoint", "b", "--trigger", "event"), "event"),
        (("run", "missing"), "missing"),
        (("create", "c", "--direction", "push", "--endpoint", "b", "--trigger", "cron"), "--cron"),
    ):
        done = cli(a, *args)
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("dockyard: ") and words in lines[0], lines
        assert "Traceback" not in done.stderr


def test_only_administrators_and_only_consistent_changes(
    sites: tuple[RunningServer, RunningServer],
) -> None:
    a, _ = sites
    with api(a) as c:
        made = c.post("/users", json={"username": "repl-user", "password": "repl-user-pass-1"})
        assert made.status_code == 201, made.text
        assert (
            c.post(
                "/replication/policies", json={"name": "p1", "direction": "push", "endpoint": "b"}
            ).status_code
            == 201
        )
        # an event trigger on what is now a pull policy: the change conflicts
        to_pull = c.patch("/replication/policies/p1", json={"direction": "pull"})
        assert to_pull.status_code == 200
        conflict = c.patch("/replication/policies/p1", json={"trigger": {"kind": "event"}})
        assert conflict.status_code == 409 and "push" in conflict.json()["errors"][0]["message"]
        missing = c.post(
            "/replication/policies", json={"name": "p2", "direction": "push", "endpoint": "nope"}
        )
        assert missing.status_code == 404
        bad = c.post(
            "/replication/policies",
            json={"name": "p3", "direction": "pull", "endpoint": "b", "trigger": {"kind": "event"}},
        )
        assert bad.status_code == 422
    with httpx.Client(base_url=a.url + "/api/v1", auth=("repl-user", "repl-user-pass-1")) as c:
        for method, path in (
            ("GET", "/replication/policies"),
            ("POST", "/replication/policies/p1/run"),
            ("GET", "/replication/executions"),
            ("DELETE", "/replication/policies/p1"),
        ):
            assert c.request(method, path).status_code == 403, (method, path)
    with api(a) as c:
        assert c.delete("/replication/policies/p1").status_code == 204
        assert c.get("/replication/policies/p1").status_code == 404
