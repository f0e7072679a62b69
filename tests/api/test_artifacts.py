"""A repository's tags and one artifact in full, through the management API, after real
pushes and pulls through /v2/: every field, paging headers, search and sort, the
referrer tree (an SBOM of an image, a signature of the SBOM) with its caps, who may
read them, unknown references; a repository of thousands of tags answering page 1;
repositories sorted by their last push."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from tests.api.conftest import Registry, error, ok
from tests.spec.helpers import (
    OCI_CONFIG,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_MANIFEST,
    descriptor,
    image,
    push_blob,
    put_manifest,
    sha256,
)

T = TypeVar("T")
SBOM = "application/spdx+json"
SIGNATURE = "application/vnd.dev.cosign.artifact.sig.v1+json"


def _config(os_: str, arch: str, variant: str | None = None) -> bytes:
    doc: dict[str, Any] = {"os": os_, "architecture": arch, "rootfs": {"type": "layers"}}
    if variant:
        doc["variant"] = variant
    return json.dumps(doc).encode()


def _when(value: str | None) -> dt.datetime:
    assert value is not None
    parsed = dt.datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, value
    return parsed


def _wait(what: str, probe: Callable[[], T | None], timeout: float = 20.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


class Pushed:
    """What a push sent, to check the API's answers against."""

    def __init__(self, digest: str, body: bytes) -> None:
        self.digest = digest
        self.body = body
        self.doc: dict[str, Any] = json.loads(body)

    @property
    def size(self) -> int:
        """The manifest plus the blobs it references directly (config, layers)."""
        blobs = [self.doc["config"], *self.doc.get("layers", [])] if "config" in self.doc else []
        return len(self.body) + sum(d["size"] for d in blobs)


def _image(reg: httpx.Client, repo: str, tag: str, **kw: Any) -> Pushed:
    body, _ = image(reg, repo, **kw)
    r = put_manifest(reg, repo, tag, body)
    assert r.status_code == 201, r.text
    return Pushed(r.headers["Docker-Content-Digest"], body)


def _retag(reg: httpx.Client, repo: str, tag: str, pushed: Pushed, media_type: str) -> None:
    r = put_manifest(reg, repo, tag, pushed.body, media_type)
    assert r.status_code == 201, r.text


def _referrer(
    reg: httpx.Client,
    repo: str,
    subject: Pushed,
    artifact_type: str,
    payload: bytes,
    annotations: dict[str, str] | None = None,
) -> Pushed:
    """An OCI 1.1 artifact (empty config, one blob) whose subject is `subject`, pushed
    by digest as oras and cosign do."""
    push_blob(reg, repo, b"{}")
    push_blob(reg, repo, payload)
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": descriptor(OCI_EMPTY, b"{}"),
        "layers": [
            descriptor(artifact_type, payload, annotations={"org.opencontainers.image.title": "x"})
        ],
        "subject": {
            "mediaType": subject.doc["mediaType"],
            "digest": subject.digest,
            "size": len(subject.body),
        },
    }
    if annotations:
        doc["annotations"] = annotations
    body = json.dumps(doc).encode()
    r = put_manifest(reg, repo, sha256(body), body)
    assert r.status_code == 201, r.text
    return Pushed(sha256(body), body)


def _tags(api: httpx.Client, base: str, **params: Any) -> list[dict[str, Any]]:
    return ok(api.get(f"{base}/-/tags", params=params))  # type: ignore[no-any-return]


def test_tags_of_a_repository(registry: Registry) -> None:
    project = registry.project()
    repo = f"{project}/api/server"
    with registry.registry() as reg:
        one = _image(reg, repo, "v1", layers=2, config=_config("linux", "amd64"))
        two = _image(reg, repo, "v2", config=_config("linux", "arm64"))
        _retag(reg, repo, "latest", two, OCI_MANIFEST)  # a tag of a manifest already there
        _retag(reg, repo, "v1.1-RC", one, OCI_MANIFEST)
        for _ in range(2):
            r = reg.get(f"/v2/{repo}/manifests/latest", headers={"Accept": OCI_MANIFEST})
            assert r.status_code == 200
    base = f"/projects/{project}/repositories/api/server"
    with registry.admin() as admin:
        listed = _wait(
            "two pulls counted",
            lambda: (t := _tags(admin, base)) and t[2]["pull_count"] == 2 and t,
        )
        assert [t["name"] for t in listed] == ["v1.1-RC", "latest", "v2", "v1"]  # newest first
        by_name = {t["name"]: t for t in listed}
        for name, pushed in (("v1", one), ("v2", two), ("latest", two), ("v1.1-RC", one)):
            tag = by_name[name]
            assert set(tag) == {
                "name",
                "digest",
                "media_type",
                "size",
                "updated_at",
                "pushed_at",
                "pull_count",
                "last_pulled_at",
            }
            assert tag["digest"] == pushed.digest and tag["media_type"] == OCI_MANIFEST
            assert tag["size"] == pushed.size
            assert _when(tag["pushed_at"]) <= _when(tag["updated_at"])
        assert by_name["latest"]["pushed_at"] == by_name["v2"]["pushed_at"]
        assert _when(by_name["latest"]["updated_at"]) > _when(by_name["v2"]["updated_at"])
        # pulls are the manifest's: every tag of it shows them
        assert by_name["v2"]["pull_count"] == 2 and by_name["v2"]["last_pulled_at"]
        assert by_name["v1"]["pull_count"] == 0 and by_name["v1"]["last_pulled_at"] is None

        page = admin.get(f"{base}/-/tags", params={"page_size": 3})
        assert page.headers["x-total-count"] == "4" and len(ok(page)) == 3
        assert 'rel="next"' in page.headers["link"] and "page=2" in page.headers["link"]
        page2 = admin.get(f"{base}/-/tags", params={"page_size": 3, "page": 2})
        assert [t["name"] for t in ok(page2)] == ["v1"] and 'rel="prev"' in page2.headers["link"]

        assert [t["name"] for t in _tags(admin, base, sort="name")] == [
            "latest",
            "v1",
            "v1.1-RC",
            "v2",
        ]
        assert [t["name"] for t in _tags(admin, base, sort="-name")] == [
            "v2",
            "v1.1-RC",
            "v1",
            "latest",
        ]
        assert [t["name"] for t in _tags(admin, base, sort="updated")] == [
            "v1",
            "v2",
            "latest",
            "v1.1-RC",
        ]
        searched = admin.get(f"{base}/-/tags", params={"q": "V1", "sort": "name"})
        assert searched.headers["x-total-count"] == "2"
        assert [t["name"] for t in ok(searched)] == ["v1", "v1.1-RC"]  # case ignored
        assert [t["name"] for t in _tags(admin, base, q="rc")] == ["v1.1-RC"]
        assert _tags(admin, base, q="%") == []  # no wildcard
        error(admin.get(f"{base}/-/tags", params={"sort": "size"}), 422, "INVALID_REQUEST")
        error(admin.get(f"/projects/{project}/repositories/api/none/-/tags"), 404, "NOT_FOUND")


def test_one_artifact(registry: Registry) -> None:
    project = registry.project()
    repo = f"{project}/app"
    with registry.registry() as reg:
        img = _image(
            reg,
            repo,
            "v1",
            layers=2,
            config=_config("linux", "arm64", "v8"),
            extra={"annotations": {"org.opencontainers.image.source": "https://example.org/app"}},
        )
        _retag(reg, repo, "stable", img, OCI_MANIFEST)
        sbom = _referrer(reg, repo, img, SBOM, b'{"spdxVersion": "SPDX-2.3"}', {"kind": "sbom"})
        sbom_sig = _referrer(reg, repo, sbom, SIGNATURE, b"signature of the sbom")
        img_sig = _referrer(reg, repo, img, SIGNATURE, b"signature of the image")
        r = reg.get(f"/v2/{repo}/manifests/{img.digest}", headers={"Accept": OCI_MANIFEST})
        assert r.status_code == 200
    base = f"/projects/{project}/repositories/app/-/artifacts"
    with registry.admin() as admin:
        got = _wait(
            "a pull counted",
            lambda: (a := ok(admin.get(f"{base}/v1"))) and a["pull_count"] == 1 and a,
        )
        assert ok(admin.get(f"{base}/{img.digest}")) == ok(admin.get(f"{base}/stable")) == got
        assert set(got) == {
            "digest",
            "media_type",
            "artifact_type",
            "size",
            "tags",
            "created_at",
            "pull_count",
            "last_pulled_at",
            "annotations",
            "subject",
            "platforms",
            "config",
            "layers",
            "referrers",
            "referrers_truncated",
        }
        assert got["digest"] == img.digest and got["media_type"] == OCI_MANIFEST
        # as the referrers API has it: an image's artifact type is its config's media type
        assert got["artifact_type"] == OCI_CONFIG and got["subject"] is None
        assert got["size"] == img.size and got["tags"] == ["stable", "v1"]
        assert _when(got["created_at"]) <= _when(got["last_pulled_at"])
        assert got["annotations"] == {"org.opencontainers.image.source": "https://example.org/app"}
        assert got["platforms"] == [
            {
                "os": "linux",
                "architecture": "arm64",
                "variant": "v8",
                "digest": img.digest,
                "media_type": OCI_MANIFEST,
                "size": len(img.body),
            }
        ]
        config = img.doc["config"]
        assert got["config"] == {
            "media_type": config["mediaType"],
            "digest": config["digest"],
            "size": config["size"],
            "annotations": {},
        }
        assert got["layers"] == [
            {
                "media_type": d["mediaType"],
                "digest": d["digest"],
                "size": d["size"],
                "annotations": {},
            }
            for d in img.doc["layers"]
        ]

        def node(p: Pushed, artifact_type: str, children: list[Any]) -> dict[str, Any]:
            return {
                "digest": p.digest,
                "artifact_type": artifact_type,
                "media_type": OCI_MANIFEST,
                "size": p.size,
                "annotations": p.doc.get("annotations", {}),
                "referrers": children,
            }

        tree = got["referrers"]
        for n in tree:  # created_at, checked then set aside to compare the rest
            assert _when(n["created_at"]) >= _when(got["created_at"])
            for child in n["referrers"]:
                assert _when(child.pop("created_at")) >= _when(n["created_at"])
            del n["created_at"]
        assert tree == [  # oldest first
            node(sbom, SBOM, [node(sbom_sig, SIGNATURE, [])]),
            node(img_sig, SIGNATURE, []),
        ]
        assert got["referrers_truncated"] is False

        signed = ok(admin.get(f"{base}/{sbom_sig.digest}"))
        assert signed["subject"] == sbom.digest and signed["artifact_type"] == SIGNATURE
        assert signed["tags"] == [] and signed["referrers"] == [] and signed["platforms"] == []
        assert signed["config"]["media_type"] == OCI_EMPTY
        assert signed["layers"][0]["annotations"] == {"org.opencontainers.image.title": "x"}

        for missing in ("nope", "sha256:" + "0" * 64, "sha512:" + "0" * 128):
            err = error(admin.get(f"{base}/{missing}"), 404, "NOT_FOUND")
            assert missing in err["message"]
        for bad in ("sha256:abc", "md5:" + "0" * 32, ".hidden"):
            error(admin.get(f"{base}/{bad}"), 422, "INVALID_REQUEST")
        error(admin.get(f"/projects/{project}/repositories/none/-/artifacts/v1"), 404, "NOT_FOUND")


def test_an_index_and_a_deep_referrer_chain(registry: Registry) -> None:
    project = registry.project()
    repo = f"{project}/multi"
    with registry.registry() as reg:
        amd = _image(reg, repo, "amd", config=_config("linux", "amd64"))
        arm = _image(reg, repo, "arm", config=_config("linux", "arm64", "v8"))
        attestation = _image(reg, repo, "att", config=_config("unknown", "unknown"))
        index_doc = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": amd.digest,
                    "size": len(amd.body),
                    "platform": {"os": "linux", "architecture": "amd64"},
                },
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": arm.digest,
                    "size": len(arm.body),
                    "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"},
                },
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": attestation.digest,
                    "size": len(attestation.body),
                },
            ],
        }
        body = json.dumps(index_doc).encode()
        r = put_manifest(reg, repo, "multi", body, OCI_INDEX)
        assert r.status_code == 201, r.text
        index = Pushed(r.headers["Docker-Content-Digest"], body)
        chain = [index]
        for level in range(4):  # a signature of a signature ... four levels deep
            chain.append(_referrer(reg, repo, chain[-1], SIGNATURE, f"level {level}".encode()))
    base = f"/projects/{project}/repositories/multi/-/artifacts"
    with registry.admin() as admin:
        got = ok(admin.get(f"{base}/multi"))
        assert got["digest"] == index.digest and got["media_type"] == OCI_INDEX
        assert got["size"] == len(body) and got["config"] is None and got["layers"] == []
        assert got["platforms"] == [
            {
                "os": "linux",
                "architecture": "amd64",
                "variant": None,
                "digest": amd.digest,
                "media_type": OCI_MANIFEST,
                "size": len(amd.body),
            },
            {
                "os": "linux",
                "architecture": "arm64",
                "variant": "v8",
                "digest": arm.digest,
                "media_type": OCI_MANIFEST,
                "size": len(arm.body),
            },
            {  # a child that names no platform is still listed
                "os": None,
                "architecture": None,
                "variant": None,
                "digest": attestation.digest,
                "media_type": OCI_MANIFEST,
                "size": len(attestation.body),
            },
        ]
        levels, node = [], got["referrers"]
        while node:
            (only,) = node
            levels.append(only["digest"])
            node = only["referrers"]
        assert levels == [p.digest for p in chain[1:4]]  # three levels shown
        assert got["referrers_truncated"] is True  # the fourth is not
        deeper = ok(admin.get(f"{base}/{chain[1].digest}"))
        assert deeper["referrers_truncated"] is False
        assert deeper["referrers"][0]["referrers"][0]["referrers"][0]["digest"] == chain[4].digest


def test_who_reads_tags_and_artifacts(registry: Registry) -> None:
    public = registry.project("pub", public=True)
    private = registry.project("priv")
    with registry.registry() as reg:
        for project in (public, private):
            for repo in ("api/server", "app"):
                _image(reg, f"{project}/{repo}", "v1")
    scoped = registry.user()
    registry.member(private, scoped[0], "guest", [f"{private}/api/*"])
    anonymous = httpx.Client(base_url=registry.url + "/api/v1")

    def paths(project: str, repo: str) -> list[str]:
        base = f"/projects/{project}/repositories/{repo}/-"
        return [f"{base}/tags", f"{base}/artifacts/v1"]

    with anonymous, registry.api(registry.user()) as outsider, registry.api(scoped) as guest:
        for path in paths(public, "app"):
            assert ok(anonymous.get(path)) and ok(outsider.get(path))
        for path in paths(private, "app"):
            error(anonymous.get(path), 401, "UNAUTHORIZED")
            error(outsider.get(path), 404, "NOT_FOUND")  # a private project does not show
            error(guest.get(path), 403, "DENIED")  # outside the member's repositories
        for path in paths(private, "api/server"):
            error(outsider.get(path), 404, "NOT_FOUND")
            assert ok(guest.get(path))


def test_thousands_of_tags(registry: Registry) -> None:
    """Tags written straight into the database (the API would take minutes to push
    them): the listing pages, sorts, searches and counts in the database."""
    project = registry.project()
    repo = f"{project}/ci"
    with registry.registry() as reg:
        pushed = [_image(reg, repo, f"seed{i}") for i in range(3)]
    count = 3000
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    names = [f"build-{i:05d}" for i in range(count)]
    registry.execute_many(
        "INSERT INTO tags (repository_id, name, manifest_digest, updated_at) "
        "SELECT id, ?, ?, ? FROM repositories WHERE name = ?",
        [
            (name, pushed[i % 3].digest, start + dt.timedelta(seconds=i), repo)
            for i, name in enumerate(names)
        ],
    )
    base = f"/projects/{project}/repositories/ci/-/tags"
    with registry.admin() as admin:
        began = time.monotonic()
        first = admin.get(base, params={"page_size": 50, "sort": "updated"})
        took = time.monotonic() - began
        assert first.headers["x-total-count"] == str(count + 3)
        assert [t["name"] for t in ok(first)] == names[:50]  # the oldest first
        assert 'rel="last"' in first.headers["link"]
        assert f"page={-(-(count + 3) // 50)}" in first.headers["link"]
        assert took < 5, took
        newest = ok(admin.get(base, params={"page_size": 5}))
        assert [t["name"] for t in newest] == [f"seed{i}" for i in (2, 1, 0)] + names[-1:-3:-1]
        assert newest[3]["digest"] == pushed[(count - 1) % 3].digest
        assert newest[3]["size"] == pushed[(count - 1) % 3].size
        assert _when(newest[3]["updated_at"]) == start + dt.timedelta(seconds=count - 1)
        by_name = ok(admin.get(base, params={"page_size": 100, "page": 2, "sort": "name"}))
        assert [t["name"] for t in by_name] == names[100:200]
        searched = admin.get(base, params={"q": "build-0299", "sort": "-name"})
        assert searched.headers["x-total-count"] == "10"
        assert [t["name"] for t in ok(searched)] == names[-1:-11:-1]
        last = admin.get(base, params={"page_size": 100, "page": 31, "sort": "name"})
        assert [t["name"] for t in ok(last)] == ["seed0", "seed1", "seed2"]
        assert ok(admin.get(base, params={"page_size": 100, "page": 32})) == []


def test_repositories_sorted_by_last_push(registry: Registry) -> None:
    project = registry.project()
    with registry.registry() as reg:
        old = _image(reg, f"{project}/b-old", "v1")
        _image(reg, f"{project}/a-new", "v1")
        _image(reg, f"{project}/c-newer", "v1")
    base = f"/projects/{project}/repositories"
    with registry.admin() as admin:

        def names(**params: Any) -> list[str]:
            found = ok(admin.get(base, params=params))
            return [r["name"].removeprefix(f"{project}/") for r in found]

        assert names() == names(sort="name") == ["a-new", "b-old", "c-newer"]
        assert names(sort="-name") == ["c-newer", "b-old", "a-new"]
        assert names(sort="updated") == ["c-newer", "a-new", "b-old"]
        with registry.registry() as reg:
            _retag(reg, f"{project}/b-old", "v2", old, OCI_MANIFEST)  # a push moves a tag
        assert names(sort="updated") == ["b-old", "c-newer", "a-new"]
        assert names(sort="updated", page_size=2, page=2) == ["a-new"]
        assert names(sort="updated", q="new") == ["c-newer", "a-new"]
        listed = {r["name"]: r for r in ok(admin.get(base))}
        b_old = _when(listed[f"{project}/b-old"]["updated_at"])
        assert all(_when(r["updated_at"]) <= b_old for r in listed.values())
        assert all(_when(r["created_at"]) <= _when(r["updated_at"]) for r in listed.values())
        error(admin.get(base, params={"sort": "-updated"}), 422, "INVALID_REQUEST")


def test_deleting_an_artifact(registry: Registry) -> None:
    """DELETE …/-/artifacts/{digest}: maintainers and up; the manifest and all its tags
    go (as the registry's manifest DELETE), another artifact and the referrers of the
    deleted one stay; an immutable tag refuses; unknown and malformed digests; audited."""
    project = registry.project()
    repo = f"{project}/app"
    base = f"/projects/{project}/repositories/app/-/artifacts"
    with registry.registry() as reg:
        one = _image(reg, repo, "v1")
        _retag(reg, repo, "stable", one, OCI_MANIFEST)
        two = _image(reg, repo, "v2")
        sbom = _referrer(reg, repo, one, SBOM, b'{"spdxVersion": "SPDX-2.3"}')
    developer, maintainer = registry.user(), registry.user()
    registry.member(project, developer[0], "developer")
    registry.member(project, maintainer[0], "maintainer")

    with registry.api(developer) as dev:
        error(dev.delete(f"{base}/{one.digest}"), 403, "DENIED")  # developers push, not delete
    with registry.api(maintainer) as api:
        r = api.delete(f"{base}/{one.digest}")
        assert r.status_code == 204, r.text
        left = {a["digest"]: a for a in ok(api.get(base))}
        assert set(left) == {two.digest, sbom.digest}  # the SBOM of the deleted one stays
        assert {t["name"] for t in _tags(api, f"/projects/{project}/repositories/app")} == {"v2"}
        error(api.delete(f"{base}/{one.digest}"), 404, "NOT_FOUND")  # gone already
        error(api.delete(f"{base}/sha256:{'0' * 64}"), 404, "NOT_FOUND")
        for bad in ("v2", "sha256:xyz", f"md5:{'0' * 32}"):
            error(api.delete(f"{base}/{bad}"), 422, "INVALID_REQUEST")
    with registry.registry() as reg:
        for reference in (one.digest, "v1", "stable"):
            assert reg.get(f"/v2/{repo}/manifests/{reference}").status_code == 404
        assert reg.get(f"/v2/{repo}/manifests/v2").status_code == 200

    with registry.admin() as admin:
        rule = {"repository": repo, "tag": "v2"}
        ok(admin.post(f"/projects/{project}/immutability", json=rule), 201)
        err = error(admin.delete(f"{base}/{two.digest}"), 403, "DENIED")
        assert "immutable" in err["message"]
        assert two.digest in {a["digest"] for a in ok(admin.get(base))}
        audit = ok(admin.get("/audit-logs", params={"action": "artifact.delete"}))
        assert any(e["resource"] == f"{repo}@{one.digest}" for e in audit)
