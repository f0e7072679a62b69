"""The `convert.zstd` job against a real server: an image skopeo pushed (gzip) becomes a
zstd image under a new tag that skopeo pulls and verifies, with the same config and
the same packages in its SBOM; the add-to-index form keeps the gzip image and puts the
zstd variant next to it (for an index: one per platform); the refusals: a missing
image, a caller without push, a layer that is not gzip (the job fails and no tag moves)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.convert.conftest import (
    GZIP_LAYER,
    ZSTD_ANNOTATION,
    ZSTD_LAYER,
    artifact,
    check_zstd_layers,
    convert,
    dockyard,
    manifest,
    ok,
    sbom_purls,
    unique,
)
from tests.supplychain.helpers import denied_message, pull, push_artifact
from tests.supplychain.images_fixture import debian_image
from tests.supplychain.test_scanning import DEBIAN_PURLS
from tests.support import images, signing
from tests.support.oci_layout import build_image, build_index, read_blob, resolve_ref, verify_layout
from tests.support.server import RunningServer
from tests.support.tools import Skopeo

KiB = 1024
TEXT = b"".join(b"%d: the quick brown fox jumps over the lazy dog\n" % i for i in range(40000))


def test_convert_to_a_new_tag_pulls_and_verifies(
    api: httpx.Client, skopeo: Skopeo, registry: httpx.Client, project: str, tmp_path: Path
) -> None:
    img = build_image(
        tmp_path / "src",
        "v1",
        layers=[TEXT, 256 * KiB, b"#!/bin/sh\necho hi\n"],
        seed="convert-new-tag",
        annotations={"org.opencontainers.image.source": "https://example.com/app"},
    )
    repo = f"{project}/app"
    pushed = skopeo.push_oci(img.layout, "v1", repo, "v1")
    before = manifest(registry, repo, "v1")
    assert {x["mediaType"] for x in before["layers"]} == {GZIP_LAYER}

    job = convert(api, repo, "v1", target_tag="v1-zstd")
    assert job["state"] == "succeeded", job
    result = job["result"]
    assert result["layers_converted"] == 3 and result["changed"] is True
    assert result["bytes_before"] == sum(x.size for x in img.layers)

    after = manifest(registry, repo, "v1-zstd")
    assert after["_digest"] == result["digest"] != pushed
    assert [x["mediaType"] for x in after["layers"]] == [ZSTD_LAYER] * 3
    assert after["config"] == before["config"]  # the same config: diff_ids unchanged
    assert after["annotations"] == before["annotations"]
    assert ZSTD_ANNOTATION not in after.get("annotations", {})
    assert manifest(registry, repo, "v1")["_digest"] == pushed  # the original stays

    out = tmp_path / "out"
    skopeo.pull_oci(repo, "v1-zstd", out, "v1")
    verify_layout(out)
    assert check_zstd_layers(out) == 3  # each layer uncompresses to the config's diff_id
    assert resolve_ref(out, "v1")["digest"] == result["digest"]
    config = json.loads(read_blob(out, img.config_digest))
    assert config["rootfs"]["diff_ids"] == [x.diff_id for x in img.layers]

    # converting again gives the same digest (zstd at one level is deterministic)
    again = convert(api, repo, "v1", target_tag="v1-zstd-again")
    assert again["result"]["digest"] == result["digest"]
    # an image already zstd: nothing to recompress, the tag names it as it is
    same = convert(api, repo, "v1-zstd", target_tag="v1-zstd-copy")
    assert same["state"] == "succeeded" and same["result"]["layers_converted"] == 0
    assert manifest(registry, repo, "v1-zstd-copy")["_digest"] == result["digest"]


def test_converted_image_has_the_same_packages(
    api: httpx.Client, registry: httpx.Client, project: str
) -> None:
    image = debian_image()
    repo = f"{project}/deb"
    push_artifact(registry, repo, "12", image.manifest, image.blobs)
    job = convert(api, repo, "12", target_tag="12-zstd", level=9)
    assert job["state"] == "succeeded", job
    assert sbom_purls(api, repo, "12") == DEBIAN_PURLS
    assert sbom_purls(api, repo, "12-zstd") == DEBIAN_PURLS
    # the SBOM of the original is a referrer of the original only: nothing was copied
    converted = job["result"]["digest"]
    referrers = registry.get(f"/v2/{repo}/referrers/{converted}").json()["manifests"]
    assert [r["artifactType"] for r in referrers] == ["application/vnd.cyclonedx+json"]


def test_add_to_index_of_an_image(
    api: httpx.Client, skopeo: Skopeo, registry: httpx.Client, project: str, tmp_path: Path
) -> None:
    img = build_image(tmp_path / "src", "v1", layers=[TEXT, 64 * KiB], seed="add-to-index")
    repo = f"{project}/both"
    pushed = skopeo.push_oci(img.layout, "v1", repo, "v1")
    job = convert(api, repo, "v1", add_to_index=True)
    assert job["state"] == "succeeded", job

    index = manifest(registry, repo, "v1")  # the tag moved to the new index
    assert index["_digest"] == job["result"]["digest"]
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    gzip_entry, zstd_entry = index["manifests"]  # gzip first: clients unaware of zstd pick it
    platform = {"architecture": "amd64", "os": "linux"}
    assert gzip_entry["digest"] == pushed and gzip_entry["platform"] == platform
    assert "annotations" not in gzip_entry
    assert zstd_entry["platform"] == platform
    assert zstd_entry["annotations"] == {ZSTD_ANNOTATION: "true"}
    variant = manifest(registry, repo, zstd_entry["digest"])
    assert [x["mediaType"] for x in variant["layers"]] == [ZSTD_LAYER] * 2

    # both variants, copied with --all and verified
    out = tmp_path / "all"
    skopeo.copy(skopeo.ref(repo, "v1"), f"oci:{out}:v1", "--all")
    verify_layout(out)
    assert check_zstd_layers(out) == 2
    # a platform pick: skopeo chooses one instance for amd64 and it verifies
    picked = tmp_path / "picked"
    skopeo.copy(
        skopeo.ref(repo, "v1"),
        f"oci:{picked}:v1",
        "--override-os",
        "linux",
        "--override-arch",
        "amd64",
    )
    verify_layout(picked)
    check_zstd_layers(picked)
    assert resolve_ref(picked, "v1")["digest"] in (pushed, zstd_entry["digest"])

    # again: the index already holds the variant, nothing changes
    again = convert(api, repo, "v1", add_to_index=True)
    assert again["state"] == "succeeded" and again["result"]["changed"] is False
    assert manifest(registry, repo, "v1")["_digest"] == index["_digest"]


def test_add_to_index_of_an_index(
    api: httpx.Client, skopeo: Skopeo, registry: httpx.Client, project: str, tmp_path: Path
) -> None:
    built = build_index(
        tmp_path / "src",
        "multi",
        layers=[TEXT, 32 * KiB],
        seed="index-variants",
        annotations={"org.opencontainers.image.version": "1.0"},
    )
    repo = f"{project}/multi"
    pushed = skopeo.push_oci(built.layout, "multi", repo, "1", all_=True)
    job = convert(api, repo, "1", add_to_index=True)
    assert job["state"] == "succeeded", job
    assert job["result"]["layers_converted"] == 3  # the TEXT layer, shared, converted once

    index = manifest(registry, repo, "1")
    assert index["_digest"] != pushed
    assert index["annotations"] == {"org.opencontainers.image.version": "1.0"}
    entries = index["manifests"]
    assert [e["digest"] for e in entries[:2]] == [c.manifest_digest for c in built.children]
    assert [e["platform"]["architecture"] for e in entries] == ["amd64", "arm64"] * 2
    assert [(e.get("annotations") or {}).get(ZSTD_ANNOTATION) for e in entries] == [
        None,
        None,
        "true",
        "true",
    ]
    out = tmp_path / "all"
    skopeo.copy(skopeo.ref(repo, "1"), f"oci:{out}:1", "--all")
    verify_layout(out)
    assert check_zstd_layers(out) == 4
    arm = tmp_path / "arm"
    skopeo.copy(skopeo.ref(repo, "1"), f"oci:{arm}:1", "--override-arch", "arm64")
    verify_layout(arm)
    child = json.loads(read_blob(arm, resolve_ref(arm, "1")["digest"]))
    config = json.loads(read_blob(arm, child["config"]["digest"]))
    assert config["architecture"] == "arm64"

    # without add_to_index: an index of the zstd variants only, under a new tag
    only = convert(api, repo, pushed, target_tag="1-zstd")
    assert only["state"] == "succeeded", only
    zstd_index = manifest(registry, repo, "1-zstd")
    assert [e["digest"] for e in zstd_index["manifests"]] == [e["digest"] for e in entries[2:]]


def test_refusals(
    api: httpx.Client, registry: httpx.Client, cv_server: RunningServer, project: str
) -> None:
    repo = f"{project}/refused"
    image = images.image([images.layer({"etc/hostname": b"box\n"})])
    push_artifact(registry, repo, "v1", image.manifest, image.blobs)

    missing = api.post(artifact(repo, "nope") + "/convert", json={"target_tag": "x"})
    assert missing.status_code == 404, missing.text
    by_digest = api.post(artifact(repo, image.digest) + "/convert", json={})
    assert by_digest.status_code == 422, by_digest.text  # a digest names no tag to go to
    default = convert(api, repo, "v1")  # no target: `<tag>-zstd`
    assert default["state"] == "succeeded", default
    assert manifest(registry, repo, "v1-zstd")["_digest"] == default["result"]["digest"]

    user, password = unique("guest"), "guest-password-1"
    ok(api.post("/users", json={"username": user, "password": password}), 201)
    ok(api.post(f"/projects/{project}/members", json={"name": user, "role": "guest"}), 201)
    with httpx.Client(base_url=str(api.base_url), auth=(user, password), timeout=60) as guest:
        denied = guest.post(artifact(repo, "v1") + "/convert", json={"target_tag": "x"})
    assert denied.status_code == 403, denied.text
    assert denied.json()["errors"][0]["code"] == "DENIED"


def test_a_layer_that_is_not_gzip_fails_the_job_and_moves_no_tag(
    api: httpx.Client, registry: httpx.Client, project: str
) -> None:
    good = images.layer({"etc/good": b"good\n"})
    bad = b"\x1f\x8b\x08\x00" + b"this is not a deflate stream" * 100  # a gzip header, then junk
    image = images.image([good, bad], media_types=[GZIP_LAYER, GZIP_LAYER])
    repo = f"{project}/broken"
    push_artifact(registry, repo, "v1", image.manifest, image.blobs)
    before = manifest(registry, repo, "v1")["_digest"]

    job = convert(api, repo, "v1", target_tag="v1-zstd")
    assert job["state"] == "failed", job
    assert "layer 1" in job["last_error"] and "not valid gzip" in job["last_error"], job
    assert job["attempts"] == 1  # a permanent failure: no retry
    assert registry.get(f"/v2/{repo}/manifests/v1-zstd").status_code == 404
    failed = convert(api, repo, "v1", add_to_index=True)
    assert failed["state"] == "failed"
    assert manifest(registry, repo, "v1")["_digest"] == before
    tags = registry.get(f"/v2/{repo}/tags/list").json()["tags"]
    assert tags == ["v1"]


@pytest.mark.parametrize("form", ["--tag", "--add-to-index"])
def test_cli(cv_server: RunningServer, registry: httpx.Client, project: str, form: str) -> None:
    repo = f"{project}/cli"
    image = images.image([images.layer({"srv/data": TEXT})])
    push_artifact(registry, repo, "v1", image.manifest, image.blobs)
    args = ["--tag", "v1-zstd"] if form == "--tag" else ["--add-to-index"]
    done = dockyard(cv_server, "convert", "zstd", f"{repo}:v1", *args, "--wait", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["layers_converted"] == 1
    tag = "v1-zstd" if form == "--tag" else "v1"
    assert manifest(registry, repo, tag)["_digest"] == result["digest"]


def test_signatures_stay_with_the_original(
    api: httpx.Client, registry: httpx.Client, project: str
) -> None:
    key = signing.generate_key("p256")
    body = {
        "signatures": {
            "mode": "enforce",
            "keys": [{"name": "release", "pem": signing.public_pem(key)}],
        }
    }
    ok(api.put(f"/projects/{project}/supplychain", json=body))
    repo = f"{project}/signed"
    image = images.image([images.layer({"srv/app": TEXT})])
    push_artifact(registry, repo, "1.0", image.manifest, image.blobs)

    def sign(digest: str) -> None:
        manifest_, blobs = signing.cosign_tag_signature(digest, f"reg.test/{repo}", key)
        push_artifact(registry, repo, digest.replace(":", "-") + ".sig", manifest_, blobs)

    sign(image.digest)
    assert pull(registry, repo, "1.0").status_code == 200
    job = convert(api, repo, "1.0", target_tag="1.0-zstd")
    assert job["state"] == "succeeded", job
    converted = job["result"]["digest"]
    # a new digest the signer never signed: refused until it is signed itself
    assert "no signature" in denied_message(pull(registry, repo, "1.0-zstd"))
    sign(converted)
    r = pull(registry, repo, "1.0-zstd")
    assert r.status_code == 200 and r.headers["Docker-Content-Digest"] == converted
