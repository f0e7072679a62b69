"""SBOMs and scans against a real server in both topologies: images built with known
package versions (images_fixture.py), the OSV dataset of tests/support/osv imported with
`dockyard vulndb import`, scans on push and on demand by the server's own worker, the
reports, the SBOM documents, the vulnerability pull policy, and a rematch after an
import that shows a new advisory on an image already scanned."""

from __future__ import annotations

import datetime as dt
import json
import os
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.supplychain.conftest import dockyard, ok, unique, wait_for, wait_job
from tests.supplychain.helpers import denied_message, pull, push_artifact
from tests.supplychain.images_fixture import alpine_image, debian_image
from tests.support import images, signing
from tests.support.server import RunningServer

OSV = Path(__file__).resolve().parent.parent / "support" / "osv"

DEBIAN_FINDINGS = [
    (
        "CRITICAL",
        "GHSA-jfh8-c2jp-5v3q",
        "org.apache.logging.log4j:log4j-core",
        "2.14.1",
        ["2.15.0"],
    ),
    ("HIGH", "DSA-5532-1", "libssl3", "3.0.11-1~deb12u1", ["3.0.11-1~deb12u2"]),
    ("HIGH", "GHSA-35jh-r3h4-6jhm", "lodash", "4.17.20", ["4.17.21"]),
    ("MEDIUM", "DEBIAN-CVE-2022-0001", "tildepkg", "2.0~rc1-1", ["2.0~rc2-1"]),
    ("MEDIUM", "PYSEC-2023-74", "requests", "2.28.1", ["2.31.0"]),
    ("UNKNOWN", "GO-2023-2102", "golang.org/x/net", "v0.15.0", ["0.17.0"]),
    ("UNKNOWN", "GO-2023-2185", "stdlib", "1.21.3", ["1.21.4"]),
]
DEBIAN_PURLS = {
    "pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12",
    "pkg:deb/debian/libnghttp2-14@1.52.0-1%2Bdeb12u2?arch=amd64&distro=debian-12",
    "pkg:deb/debian/libssl3@3.0.11-1~deb12u1?arch=amd64&distro=debian-12",
    "pkg:deb/debian/tildepkg@2.0~rc1-1?arch=all&distro=debian-12",
    "pkg:golang/example.com/app@v1.0.0",
    "pkg:golang/golang.org/x/net@v0.15.0",
    "pkg:golang/stdlib@1.21.3",
    "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
    "pkg:npm/lodash@4.17.20",
    "pkg:pypi/pyyaml@5.4",
    "pkg:pypi/requests@2.28.1",
}


@pytest.fixture(scope="module")
def imported(sc_server: RunningServer) -> RunningServer:
    done = dockyard(sc_server, "vulndb", "import", str(OSV), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["added"] == 23 and result["skipped"] == 0, result
    return sc_server


def push(registry: httpx.Client, repository: str, tag: str, image: images.Image) -> str:
    return push_artifact(registry, repository, tag, image.manifest, image.blobs)


def artifact(project: str, repo: str, ref: str) -> str:
    return f"/projects/{project}/repositories/{repo}/-/artifacts/{ref}"


def report(api: httpx.Client, project: str, repo: str, ref: str) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        r = api.get(artifact(project, repo, ref) + "/vulnerabilities")
        return r.json() if r.status_code == 200 else None

    return wait_for(f"the report of {repo}:{ref}", ready, timeout=60)


def rows(found: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (v["severity"], v["id"], v["package"], v["installed_version"], v["fixed_versions"])
        for v in found["vulnerabilities"]
    ]


def set_policy(api: httpx.Client, project: str, policy: dict[str, Any]) -> None:
    ok(api.put(f"/projects/{project}/supplychain", json=policy))


def test_scan_on_push_sbom_and_findings_exact(
    imported: RunningServer, api: httpx.Client, registry: httpx.Client, project: str
) -> None:
    set_policy(api, project, {"sbom": {"scan_on_push": True}})
    image = debian_image()
    digest = push(registry, f"{project}/deb", "12", image)
    found = report(api, project, "deb", "12")
    assert found["digest"] == digest and found["status"] == "succeeded"
    assert rows(found) == DEBIAN_FINDINGS
    assert found["summary"] == {"UNKNOWN": 2, "LOW": 0, "MEDIUM": 2, "HIGH": 2, "CRITICAL": 1}
    dsa = next(v for v in found["vulnerabilities"] if v["id"] == "DSA-5532-1")
    assert {"CVE-2023-5363", "CVE-2023-5678"} <= set(dsa["aliases"])
    assert dsa["cvss_score"] == 7.5 and dsa["cvss_vector"].startswith("CVSS:3.1/")
    high = ok(
        api.get(artifact(project, "deb", "12") + "/vulnerabilities", params={"severity": "HIGH"})
    )
    assert [v["id"] for v in high["vulnerabilities"]] == [r[1] for r in DEBIAN_FINDINGS[:3]]
    # the SBOM: stored as a CycloneDX referrer of the image, downloadable in both formats
    referrers = registry.get(f"/v2/{project}/deb/referrers/{digest}").json()["manifests"]
    assert [m["artifactType"] for m in referrers] == ["application/vnd.cyclonedx+json"]
    cdx = api.get(artifact(project, "deb", "12") + "/sbom")
    assert cdx.headers["content-type"].startswith("application/vnd.cyclonedx+json")
    components = cdx.json()["components"]
    assert {c["purl"] for c in components if "purl" in c} == DEBIAN_PURLS
    spdx = ok(api.get(artifact(project, "deb", "12") + "/sbom", params={"format": "spdx"}))
    assert spdx["spdxVersion"] == "SPDX-2.3"
    spdx_purls = {
        ref["referenceLocator"]
        for p in spdx["packages"]
        for ref in p.get("externalRefs", [])
        if ref["referenceType"] == "purl"
    }
    assert spdx_purls >= DEBIAN_PURLS
    status = ok(api.get(artifact(project, "deb", "12") + "/supplychain"))
    assert status["sbom"]["packages"] == 11 and status["sbom"]["distro"] == "debian 12"
    assert status["sbom"]["source"] == "generated"


def test_vulnerability_policy_counts_allowlist_and_exempt_robot(
    imported: RunningServer, api: httpx.Client, registry: httpx.Client, project: str
) -> None:
    robot = unique("scanbot")
    made = ok(
        api.post(
            "/robots",
            json={"name": robot, "permissions": [{"project": project, "actions": ["pull"]}]},
        ),
        201,
    )
    policy: dict[str, Any] = {
        "sbom": {"scan_on_push": True},
        "vulnerabilities": {
            "mode": "enforce",
            "severity": "HIGH",
            "block_unscanned": True,
            "exempt_robots": [made["name"]],
        },
    }
    set_policy(api, project, policy)
    digest = push(registry, f"{project}/deb", "v", debian_image())
    report(api, project, "deb", "v")
    message = denied_message(pull(registry, f"{project}/deb", "v"))
    assert f"vulnerability policy of project {project}" in message
    assert "1 CRITICAL, 2 HIGH at or above HIGH" in message, message
    assert "GHSA-jfh8-c2jp-5v3q" in message
    with imported.client((made["name"], made["secret"])) as as_robot:
        assert pull(as_robot, f"{project}/deb", digest).status_code == 200
    yesterday = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).isoformat()
    policy["vulnerabilities"]["allowlist"] = [
        {"id": "CVE-2021-44228", "reason": "not reachable"},  # log4j, by its CVE alias
        {"id": "CVE-2023-5363"},  # the DSA, by its upstream CVE
        {"id": "GHSA-35jh-r3h4-6jhm", "expires_at": yesterday},  # expired: no longer applies
    ]
    set_policy(api, project, policy)
    message = denied_message(pull(registry, f"{project}/deb", "v"))
    assert "1 HIGH at or above HIGH (GHSA-35jh-r3h4-6jhm)" in message, message
    policy["vulnerabilities"]["allowlist"][2]["expires_at"] = None
    set_policy(api, project, policy)
    assert pull(registry, f"{project}/deb", "v").status_code == 200
    # an unscanned image is refused while block_unscanned holds
    policy["sbom"]["scan_on_push"] = False
    set_policy(api, project, policy)
    other = push(registry, f"{project}/deb", "new", alpine_image())
    assert "not yet scanned" in denied_message(pull(registry, f"{project}/deb", other))


def test_rematch_after_import_shows_a_new_advisory(
    imported: RunningServer, api: httpx.Client, registry: httpx.Client, project: str, tmp_path: Path
) -> None:
    set_policy(api, project, {"sbom": {"scan_on_push": True}})
    push(registry, f"{project}/alp", "3.18", alpine_image())
    first = report(api, project, "alp", "3.18")
    assert rows(first) == [("HIGH", "ALPINE-CVE-2023-5363", "libcrypto3", "3.1.3-r0", ["3.1.4-r0"])]
    advisory = {
        "schema_version": "1.6.0",
        "id": f"ALPINE-CVE-2099-{os.getpid() % 10000:04d}{unique('')}",
        "modified": "2026-12-01T00:00:00Z",
        "published": "2026-12-01T00:00:00Z",
        "upstream": ["CVE-2099-0001"],
        "details": "a new busybox hole",
        "affected": [
            {
                "package": {"ecosystem": "Alpine:v3.18", "name": "busybox"},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.36.1-r9"}]}
                ],
            }
        ],
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
    }
    folder = tmp_path / "osv-update" / "Alpine"
    folder.mkdir(parents=True)
    (folder / f"{advisory['id']}.json").write_text(json.dumps(advisory))
    done = dockyard(imported, "vulndb", "import", str(tmp_path / "osv-update"), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["added"] == 1 and result["job_id"], result
    job = wait_job(api, result["job_id"])
    assert job["state"] == "succeeded", job
    again = ok(api.get(artifact(project, "alp", "3.18") + "/vulnerabilities"))
    assert rows(again) == [
        ("CRITICAL", advisory["id"], "busybox", "1.36.1-r7", ["1.36.1-r9"]),
        ("HIGH", "ALPINE-CVE-2023-5363", "libcrypto3", "3.1.3-r0", ["3.1.4-r0"]),
    ]


def test_client_pushed_sbom_is_used(
    imported: RunningServer, api: httpx.Client, registry: httpx.Client, project: str
) -> None:
    image = images.image([images.layer({"app/README": b"no package databases here"})])
    digest = push(registry, f"{project}/app", "1", image)
    document = json.dumps(
        {
            "bomFormat": "CycloneDX",
            "specVersion": "1.5",
            "version": 1,
            "components": [
                {
                    "type": "library",
                    "name": "requests",
                    "version": "2.28.1",
                    "purl": "pkg:pypi/requests@2.28.1",
                },
            ],
        }
    ).encode()
    size = len(image.manifest)
    manifest, blobs = signing.sbom_referrer(
        digest, images.MT_MANIFEST, size, document, "application/vnd.cyclonedx+json"
    )
    push_artifact(registry, f"{project}/app", None, manifest, blobs)

    def indexed() -> dict[str, Any] | None:
        found = ok(api.get(artifact(project, "app", "1") + "/supplychain"))
        return found["sbom"] if found["sbom"] else None

    assert wait_for("the pushed SBOM", indexed)["source"] == "pushed"
    job = ok(api.post(artifact(project, "app", "1") + "/scan"), 202)
    assert wait_job(api, job["job_id"])["state"] == "succeeded"
    assert [r[1] for r in rows(report(api, project, "app", "1"))] == ["PYSEC-2023-74"]


def test_cosign_sbom_attestation_is_used(
    imported: RunningServer, api: httpx.Client, registry: httpx.Client, project: str
) -> None:
    """`cosign attest --type cyclonedx` (tag form): the statement's predicate is the SBOM."""
    image = images.image([images.layer({"app/README": b"nothing to read"})])
    digest = push(registry, f"{project}/att", "1", image)
    bom = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "components": [
            {
                "type": "library",
                "name": "lodash",
                "version": "4.17.20",
                "purl": "pkg:npm/lodash@4.17.20",
            },
        ],
    }
    key = signing.generate_key("p256")
    manifest, blobs = signing.cosign_attestation(
        digest, f"reg.test/{project}/att", key, "https://cyclonedx.org/bom", bom
    )
    push_artifact(registry, f"{project}/att", digest.replace(":", "-") + ".att", manifest, blobs)

    def indexed() -> dict[str, Any] | None:
        found = ok(api.get(artifact(project, "att", "1") + "/supplychain"))
        return found["sbom"] if found["sbom"] else None

    assert wait_for("the attested SBOM", indexed)["packages"] == 1
    job = ok(api.post(artifact(project, "att", "1") + "/scan"), 202)
    assert wait_job(api, job["job_id"])["state"] == "succeeded"
    assert [r[1] for r in rows(report(api, project, "att", "1"))] == ["GHSA-35jh-r3h4-6jhm"]


def _zeros_gzip(total: int) -> bytes:
    """A tar of one file of `total` zero bytes, gzipped without holding it in memory."""
    header = bytearray(512)
    name = b"big/zeros"
    header[0 : len(name)] = name
    header[100:108] = b"0000644\0"
    header[108:124] = b"0000000\x000000000\0"
    header[124:136] = f"{total:011o}\0".encode()
    header[136:148] = b"00000000000\0"
    header[156:157] = b"0"
    header[257:263] = b"ustar\0"
    header[263:265] = b"00"
    header[148:156] = b" " * 8
    header[148:156] = f"{sum(header):06o}\0 ".encode()
    out = zlib.compressobj(6, zlib.DEFLATED, 31)
    parts = [out.compress(bytes(header))]
    chunk = bytes(1 << 20)
    for _ in range(total // len(chunk)):
        parts.append(out.compress(chunk))
    parts.append(out.compress(bytes(1024)))
    parts.append(out.flush())
    return b"".join(parts)


def test_hostile_layer_is_refused_and_the_worker_lives(
    imported: RunningServer, api: httpx.Client, registry: httpx.Client, project: str
) -> None:
    bomb = _zeros_gzip(512 << 20)  # 512 MiB of zeros in about half a megabyte
    assert len(bomb) < 1 << 20
    image = images.image([bomb], media_types=["application/vnd.oci.image.layer.v1.tar+gzip"])
    push(registry, f"{project}/bomb", "1", image)
    job = ok(api.post(artifact(project, "bomb", "1") + "/scan"), 202)
    assert wait_job(api, job["job_id"])["state"] == "succeeded"
    found = report(api, project, "bomb", "1")
    assert found["status"] == "failed" and found["vulnerabilities"] == []
    assert "ratio" in found["error"] or "bomb" in found["error"], found["error"]
    # the worker still scans what comes next
    push(registry, f"{project}/bomb", "ok", alpine_image())
    job = ok(api.post(artifact(project, "bomb", "ok") + "/scan"), 202)
    assert wait_job(api, job["job_id"])["state"] == "succeeded"
    assert report(api, project, "bomb", "ok")["status"] == "succeeded"


def test_scan_command(imported: RunningServer, registry: httpx.Client, project: str) -> None:
    push(registry, f"{project}/cli", "1", alpine_image())
    env_cmd = [
        "--url",
        imported.url,
        "--username",
        imported.admin[0],
        "--password",
        imported.admin[1],
    ]
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "dockyard", "scan", f"{project}/cli:1", *env_cmd],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 0, done.stderr
    assert "ALPINE-CVE-2023-5363" in done.stdout and "1 HIGH" in done.stdout, done.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "dockyard", "scan", "nope", *env_cmd],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1, bad.stderr
