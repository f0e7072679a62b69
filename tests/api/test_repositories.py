"""Repositories and artifacts through the management API: listings with counts, sizes,
tags and platforms (from an index, or an image's config blob), tag and repository
deletion, and who may see or delete what."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.api.conftest import Registry, error, ok
from tests.spec.helpers import OCI_INDEX, OCI_MANIFEST, push_image, put_manifest


def _config(os_: str, arch: str, variant: str | None = None, pad: int = 0) -> bytes:
    doc: dict[str, Any] = {"os": os_, "architecture": arch, "rootfs": {"type": "layers"}}
    if variant:
        doc["variant"] = variant
    if pad:
        doc["padding"] = "x" * pad
    return json.dumps(doc).encode()


def _seed(registry: Registry, project: str) -> dict[str, str]:
    """`api/server:v1` (linux/amd64 image) and `app:multi` (an index of linux/amd64 and
    linux/arm64/v8), `app:big` (a config over 1 MiB: no platform)."""
    with registry.registry() as reg:
        server, _ = push_image(reg, f"{project}/api/server", "v1", config=_config("linux", "amd64"))
        amd, amd_body = push_image(reg, f"{project}/app", "amd", config=_config("linux", "amd64"))
        arm, arm_body = push_image(
            reg, f"{project}/app", "arm", config=_config("linux", "arm64", "v8")
        )
        index = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": amd,
                    "size": len(amd_body),
                    "platform": {"os": "linux", "architecture": "amd64"},
                },
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": arm,
                    "size": len(arm_body),
                    "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"},
                },
            ],
        }
        r = put_manifest(reg, f"{project}/app", "multi", json.dumps(index).encode(), OCI_INDEX)
        assert r.status_code == 201, r.text
        big, _ = push_image(
            reg, f"{project}/app", "big", config=_config("linux", "s390x", pad=1 << 20)
        )
    return {
        "server": server,
        "amd": amd,
        "arm": arm,
        "index": r.headers["Docker-Content-Digest"],
        "big": big,
    }


def test_listings(registry: Registry) -> None:
    project = registry.project()
    digests = _seed(registry, project)
    with registry.admin() as admin:
        repos = admin.get(f"/projects/{project}/repositories")
        assert repos.headers["x-total-count"] == "2"
        summary = {r["name"]: (r["artifact_count"], r["tag_count"]) for r in ok(repos)}
        assert summary == {f"{project}/api/server": (1, 1), f"{project}/app": (4, 4)}
        assert [
            r["name"]
            for r in ok(admin.get(f"/projects/{project}/repositories", params={"q": "serv"}))
        ] == [f"{project}/api/server"]

        (server,) = ok(admin.get(f"/projects/{project}/repositories/api/server/-/artifacts"))
        assert server["digest"] == digests["server"] and server["tags"] == ["v1"]
        assert server["media_type"] == OCI_MANIFEST and server["size"] > 1024
        assert server["platforms"] == [{"os": "linux", "architecture": "amd64", "variant": None}]

        listed = admin.get(
            f"/projects/{project}/repositories/app/-/artifacts", params={"page_size": 10}
        )
        assert listed.headers["x-total-count"] == "4"
        by_digest = {a["digest"]: a for a in ok(listed)}
        index = by_digest[digests["index"]]
        assert index["media_type"] == OCI_INDEX and index["tags"] == ["multi"]
        assert index["platforms"] == [
            {"os": "linux", "architecture": "amd64", "variant": None},
            {"os": "linux", "architecture": "arm64", "variant": "v8"},
        ]
        assert by_digest[digests["arm"]]["platforms"] == [
            {"os": "linux", "architecture": "arm64", "variant": "v8"}
        ]
        assert by_digest[digests["big"]]["platforms"] == []  # a config over 1 MiB is not read
        page = admin.get(
            f"/projects/{project}/repositories/app/-/artifacts", params={"page_size": 3}
        )
        assert len(ok(page)) == 3 and 'rel="next"' in page.headers["link"]

        for missing in ("nothing", "api/nothing", "api"):
            error(
                admin.get(f"/projects/{project}/repositories/{missing}/-/artifacts"),
                404,
                "NOT_FOUND",
            )


def test_listing_survives_any_stored_config(registry: Registry) -> None:
    """A config blob is whatever was uploaded: one that cannot be read as an image
    config costs its artifact the platform, never the listing (it used to answer 500
    for every viewer until the artifact was deleted)."""
    project = registry.project()
    bad_configs = {
        "deep": b'{"os": "linux", "architecture": "amd64", "x": '
        + b"[" * 10_000
        + b"]" * 10_000
        + b"}",
        "surrogate": b'{"os": "\\ud800", "architecture": "amd64"}',
        "control": b'{"os": "linux\\u0000", "architecture": "amd64"}',
        "latin1": b'{"os": "l\xefnux", "architecture": "amd64"}',
        "nan": b'{"os": "linux", "architecture": "amd64", "x": NaN}',
        "array": b"[]",
        "long": json.dumps({"os": "x" * 10_000, "architecture": "amd64"}).encode(),
    }
    with registry.registry() as reg:
        for tag, config in bad_configs.items():
            push_image(reg, f"{project}/app", tag, config=config)
        push_image(reg, f"{project}/app", "good", config=_config("linux", "riscv64"))
    with registry.admin() as admin:
        listed = ok(
            admin.get(f"/projects/{project}/repositories/app/-/artifacts", params={"page_size": 20})
        )
    platforms = {a["tags"][0]: a["platforms"] for a in listed}
    # names that are not short printable text are left out, the rest still shown
    unnamed_os = [{"os": None, "architecture": "amd64", "variant": None}]
    assert platforms == {
        **{tag: [] for tag in bad_configs},
        "control": unnamed_os,
        "long": unnamed_os,
        "good": [{"os": "linux", "architecture": "riscv64", "variant": None}],
    }


@pytest.mark.parametrize("path", ["UPPER", "a//b", "a/../b", "-/x", "a/-", ".hidden", "a" * 300])
def test_odd_repository_paths_are_refused(registry: Registry, path: str) -> None:
    project = registry.project()
    with registry.admin() as admin:
        for method, suffix in (("GET", "/-/artifacts"), ("DELETE", ""), ("DELETE", "/-/tags/v1")):
            r = admin.request(method, f"/projects/{project}/repositories/{path}{suffix}")
            assert r.status_code in (404, 405, 422), (method, path, r.status_code, r.text)
            assert r.json()["errors"][0]["code"] in ("NOT_FOUND", "UNSUPPORTED", "INVALID_REQUEST")


def test_tag_and_repository_deletion(registry: Registry) -> None:
    project = registry.project()
    _seed(registry, project)
    users = {role: registry.user() for role in ("developer", "maintainer", "guest")}
    for role, (name, _) in users.items():
        registry.member(project, name, role)
    base = f"/projects/{project}/repositories"
    with registry.api(users["developer"]) as dev, registry.api(users["guest"]) as guest:
        error(dev.delete(f"{base}/app/-/tags/amd"), 403, "DENIED")
        error(dev.delete(f"{base}/app"), 403, "DENIED")
        error(guest.delete(f"{base}/api/server"), 403, "DENIED")
    with registry.admin() as admin:
        used = ok(admin.get(f"/projects/{project}"))["used_bytes"]
    with registry.api(users["maintainer"]) as maintainer:
        assert maintainer.delete(f"{base}/app/-/tags/amd").status_code == 204
        error(maintainer.delete(f"{base}/app/-/tags/amd"), 404, "NOT_FOUND")
        tags = {t for a in ok(maintainer.get(f"{base}/app/-/artifacts")) for t in a["tags"]}
        assert tags == {"arm", "multi", "big"}  # the artifact stays, untagged
        assert maintainer.delete(f"{base}/app").status_code == 204
        error(maintainer.get(f"{base}/app/-/artifacts"), 404, "NOT_FOUND")
        error(maintainer.delete(f"{base}/app"), 404, "NOT_FOUND")
        assert [r["name"] for r in ok(maintainer.get(base))] == [f"{project}/api/server"]
    with registry.admin() as admin:
        assert (
            ok(admin.get(f"/projects/{project}"))["used_bytes"] < used
        )  # its blobs are given back
        trail = ok(
            admin.get("/audit-logs", params={"project": project, "resource": f"{project}/app"})
        )
        assert {e["action"] for e in trail} >= {"tag.delete", "repository.delete"}
    with registry.registry() as reg:
        r = reg.get(f"/v2/{project}/app/manifests/arm", headers={"Accept": OCI_MANIFEST})
        assert r.status_code == 404


def test_who_sees_repositories(registry: Registry) -> None:
    public = registry.project("pub", public=True)
    private = registry.project("priv")
    _seed(registry, public)
    _seed(registry, private)
    scoped = registry.user()
    registry.member(private, scoped[0], "developer", [f"{private}/api/*"])
    anonymous = httpx.Client(base_url=registry.url + "/api/v1")
    with anonymous, registry.api(registry.user()) as outsider, registry.api(scoped) as dev:
        assert len(ok(anonymous.get(f"/projects/{public}/repositories"))) == 2
        assert ok(anonymous.get(f"/projects/{public}/repositories/app/-/artifacts"))
        error(anonymous.delete(f"/projects/{public}/repositories/app"), 401, "UNAUTHORIZED")
        error(anonymous.get(f"/projects/{private}/repositories"), 401, "UNAUTHORIZED")
        error(outsider.get(f"/projects/{private}/repositories"), 404, "NOT_FOUND")
        error(outsider.delete(f"/projects/{public}/repositories/app"), 403, "DENIED")
        assert ok(dev.get(f"/projects/{private}/repositories/api/server/-/artifacts"))
        error(dev.get(f"/projects/{private}/repositories/app/-/artifacts"), 403, "DENIED")
