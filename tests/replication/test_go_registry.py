"""Replication from Dockyard to the Debian Go registry (no referrers API, no token
service), skopeo reading the digests there: the event trigger with delete
propagation and a signature kept under the referrers tag schema; the target stopped
in the middle of an execution, then started again: the execution resumes and
completes; event executions whose target was down are re-driven, in order, once it
is back."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.replication.support import (
    add_endpoint,
    add_policy,
    api,
    execution,
    finished,
    items,
    push_cosign_tag,
    push_signature,
    run_policy,
    until,
)
from tests.support.go_registry import GoRegistry, go_registry, restart
from tests.support.oci_layout import build_image, build_index
from tests.support.server import RunningServer, run_server
from tests.support.tools import Skopeo, require_binary

ENV = {
    "DOCKYARD__REPLICATION__RETRY_SECONDS": "0.5",
    "DOCKYARD__REPLICATION__RETRY_MAX_SECONDS": "1",
    # one item at a time, so "the first image copied" is early in the run (the
    # two-Dockyard tests run with the default lanes)
    "DOCKYARD__REPLICATION__CONCURRENCY": "1",
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_server(tmp_path_factory.mktemp("site") / "data", workers=1, env=ENV) as a:
        yield a


@pytest.fixture
def target(tmp_path: Path) -> Iterator[GoRegistry]:
    require_binary("skopeo")
    with go_registry(tmp_path / "go") as registry:
        yield registry


def go_digest(registry: GoRegistry, repo: str, ref: str) -> str | None:
    """The digest of what the Go registry serves for repo:ref (None when absent)."""
    with httpx.Client(base_url=registry.url, timeout=30.0) as c:
        r = c.get(
            f"/v2/{repo}/manifests/{ref}",
            headers={
                "Accept": "application/vnd.oci.image.manifest.v1+json, "
                "application/vnd.oci.image.index.v1+json"
            },
        )
    if r.status_code == 404:
        return None
    assert r.status_code == 200, r.text
    return "sha256:" + hashlib.sha256(r.content).hexdigest()


def skopeo_digest(tmp_path: Path, registry: GoRegistry, repo: str, ref: str) -> str:
    tool = Skopeo(registry.hostport, workdir=tmp_path)
    return "sha256:" + hashlib.sha256(tool.inspect_raw(tool.ref(repo, ref))).hexdigest()


def test_event_trigger_with_deletes_and_referrers_tag(
    site: RunningServer, target: GoRegistry, tmp_path: Path
) -> None:
    add_endpoint(site, "go-events", target.url)
    add_policy(
        site,
        "events-to-go",
        direction="push",
        endpoint="go-events",
        trigger={"kind": "event", "delete_propagation": True},
        filters={"repositories": ["ev/*"]},
    )
    push = Skopeo(site.hostport, workdir=tmp_path, credentials=site.admin)
    img = build_image(tmp_path / "oci", "1", layers=[50_000], seed="events")
    push.push_oci(img.layout, "1", "ev/app", "1")
    until("the pushed image at the Go registry", lambda: go_digest(target, "ev/app", "1"))
    assert skopeo_digest(tmp_path, target, "ev/app", "1") == img.manifest_digest

    with site.client(site.admin) as c:
        signature = push_signature(c, "ev/app", img.manifest_digest, img.manifest_size)
    fallback = img.manifest_digest.replace(":", "-")

    def listed() -> bool:
        with httpx.Client(base_url=target.url) as c:
            r = c.get(
                f"/v2/ev/app/manifests/{fallback}",
                headers={"Accept": "application/vnd.oci.image.index.v1+json"},
            )
        return r.status_code == 200 and [m["digest"] for m in r.json()["manifests"]] == [signature]

    until("the signature under the referrers tag schema", listed)
    assert go_digest(target, "ev/app", signature) == signature

    with site.client(site.admin) as c:
        deleted = c.delete(f"/v2/ev/app/manifests/{img.manifest_digest}")
        assert deleted.status_code == 202, deleted.text
    until(
        "the delete at the Go registry",
        lambda: go_digest(target, "ev/app", img.manifest_digest) is None,
    )
    with api(site) as c:
        runs = c.get("/replication/executions", params={"policy": "events-to-go"}).json()
    assert {r["trigger"] for r in runs} == {"event"}
    assert all(r["state"] == "succeeded" for r in runs), runs
    actions = [i["action"] for r in reversed(runs) for i in items(site, r["id"])]
    assert actions == ["copy", "referrer", "delete"]


def test_target_stopped_mid_run_resumes_and_completes(
    site: RunningServer, target: GoRegistry, tmp_path: Path
) -> None:
    add_endpoint(site, "go-resume", target.url)
    push = Skopeo(site.hostport, workdir=tmp_path, credentials=site.admin)
    images = [
        build_image(tmp_path / "oci", f"t{n}", layers=[1_000_000], seed=f"resume-{n}")
        for n in range(4)
    ]
    for n, img in enumerate(images):
        push.push_oci(img.layout, f"t{n}", "resume/app", f"t{n}")
    add_policy(
        site,
        "resume-to-go",
        direction="push",
        endpoint="go-resume",
        filters={"repositories": ["resume/app"]},
        bandwidth_bytes=700_000,  # about 1.5 s an image: the stop lands mid-run
    )
    execution_id = run_policy(site, "resume-to-go")
    until(
        "the first image copied",
        lambda: any(i["state"] == "succeeded" for i in items(site, execution_id)),
    )
    target.stop()
    until(
        "the execution to wait for the target",
        lambda: execution(site, execution_id)["state"] == "retrying",
    )
    assert any(i["state"] == "pending" for i in items(site, execution_id))
    restart(target, tmp_path / "go")
    done = finished(site, execution_id)
    assert done["state"] == "succeeded", done
    assert done["retries"] >= 1
    assert done["counts"] == {"succeeded": 4}
    for n, img in enumerate(images):
        assert skopeo_digest(tmp_path, target, "resume/app", f"t{n}") == img.manifest_digest


def test_event_executions_are_redriven_in_order_once_the_target_is_back(
    site: RunningServer, target: GoRegistry, tmp_path: Path
) -> None:
    add_endpoint(site, "go-redrive", target.url)
    add_policy(
        site,
        "redrive-to-go",
        direction="push",
        endpoint="go-redrive",
        trigger={"kind": "event", "delete_propagation": True},
        filters={"repositories": ["rd/*"]},
    )
    target.stop()
    push = Skopeo(site.hostport, workdir=tmp_path, credentials=site.admin)
    first = build_image(tmp_path / "oci", "1", layers=[20_000], seed="redrive-1")
    second = build_image(tmp_path / "oci", "2", layers=[20_000], seed="redrive-2")
    push.push_oci(first.layout, "1", "rd/app", "1")

    def runs() -> list[dict[str, object]]:
        with api(site) as c:
            return list(c.get("/replication/executions", params={"policy": "redrive-to-go"}).json())

    until(
        "the first event execution to wait for the target",
        lambda: [r for r in runs() if r["state"] == "retrying"],
    )
    push.push_oci(second.layout, "2", "rd/app", "2")
    until(
        "both executions waiting",
        lambda: len(runs()) == 2 and all(r["state"] == "retrying" for r in runs()),
    )
    restart(target, tmp_path / "go")
    for run in runs():
        assert finished(site, int(str(run["id"])))["state"] == "succeeded"
    assert skopeo_digest(tmp_path, target, "rd/app", "1") == first.manifest_digest
    assert skopeo_digest(tmp_path, target, "rd/app", "2") == second.manifest_digest
    ordered = sorted(runs(), key=lambda r: int(str(r["id"])))
    assert [str(o["finished_at"]) for o in ordered] == sorted(
        str(o["finished_at"]) for o in ordered
    )


def test_pull_from_the_go_registry_with_an_index_and_a_cosign_tag(
    site: RunningServer, target: GoRegistry, tmp_path: Path
) -> None:
    add_endpoint(site, "go-pull", target.url)
    upstream = Skopeo(target.hostport, workdir=tmp_path)
    multi = build_index(tmp_path / "oci", "m", seed="go-pull-index")
    plain = build_image(tmp_path / "oci", "p", layers=[30_000], seed="go-pull-plain")
    upstream.push_oci(multi.layout, "m", "vendor/multi", "1.0", all_=True)
    upstream.push_oci(plain.layout, "p", "vendor/plain", "1.0")
    upstream.push_oci(plain.layout, "p", "unrelated/plain", "1.0")
    with httpx.Client(base_url=target.url) as c:  # a cosign signature, as cosign tags it
        signature = push_cosign_tag(c, "vendor/plain", plain.manifest_digest)
    add_policy(
        site,
        "from-go",
        direction="pull",
        endpoint="go-pull",
        filters={"repositories": ["vendor/*"]},
        rewrite={"mode": "prefix", "namespace": "go"},
    )
    done = finished(site, run_policy(site, "from-go"))
    assert done["state"] == "succeeded", done
    assert sorted((i["source_repository"], i["reference"]) for i in items(site, done["id"])) == [
        ("vendor/multi", "1.0"),
        ("vendor/plain", "1.0"),
    ]  # the catalog listed unrelated/plain and the .sig tag: neither is an item
    local = Skopeo(site.hostport, workdir=tmp_path, credentials=site.admin)

    def digest(repo: str, ref: str) -> str:
        return "sha256:" + hashlib.sha256(local.inspect_raw(local.ref(repo, ref))).hexdigest()

    assert digest("go/vendor/multi", "1.0") == multi.index_digest
    for child in multi.children:
        assert digest("go/vendor/multi", child.manifest_digest) == child.manifest_digest
    assert digest("go/vendor/plain", "1.0") == plain.manifest_digest
    assert digest("go/vendor/plain", plain.manifest_digest.replace(":", "-") + ".sig") == signature
