"""Manifest GET under load with the supply-chain gate on vs off (bench/supplychain.py
manifest): the same small image in two projects of one Dockyard, one with no policy,
one enforcing signatures (the image signed in cosign's tag form with a trusted key)
and vulnerabilities (at or above CRITICAL; the image unscanned, which the policy
allows), and the Go registry serving the same image as the reference. wrk, bearer
tokens, interleaved repetitions; the figure is on/off (target ≥ 0.90)."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx
from credentials import Credentials
from loadgen import run_wrk
from servers import Server

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests/support is plain Python: the signature maker

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
ACCEPT = f"{OCI_MANIFEST}, application/vnd.oci.image.index.v1+json"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _push(c: httpx.Client, repo: str, tag: str, blobs: list[bytes], manifest: bytes) -> str:
    for blob in blobs:
        r = c.post(f"/v2/{repo}/blobs/uploads/")  # a session, then the whole blob
        if r.status_code == 202:
            location = r.headers["Location"]  # its own query (_state) is kept
            sep = "&" if "?" in location else "?"
            r = c.put(f"{location}{sep}digest={_digest(blob)}", content=blob)
        if r.status_code != 201:
            raise RuntimeError(f"push blob to {repo}: HTTP {r.status_code} {r.text[:200]}")
    media_type = json.loads(manifest).get("mediaType", OCI_MANIFEST)
    r = c.put(f"/v2/{repo}/manifests/{tag}", content=manifest, headers={"Content-Type": media_type})
    if r.status_code != 201:
        raise RuntimeError(f"push manifest to {repo}: HTTP {r.status_code} {r.text[:200]}")
    return _digest(manifest)


def small_image() -> tuple[list[bytes], bytes]:
    layer = os.urandom(4096)
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": _digest(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": _digest(layer),
                    "size": len(layer),
                }
            ],
        },
        separators=(",", ":"),
    ).encode()
    return [config, layer], manifest


def prepare_dockyard(s: Server, creds: Credentials, blobs: list[bytes], manifest: bytes) -> None:
    from tests.support import signing

    key = signing.generate_key("p256")
    auth = (creds.username, creds.password)
    with httpx.Client(base_url=s.url, auth=auth, timeout=60) as c:
        for project in ("gate-off", "gate-on"):
            r = c.post("/api/v1/projects", json={"name": project, "public": False})
            if r.status_code not in (201, 409):
                raise RuntimeError(f"create project {project}: HTTP {r.status_code} {r.text}")
            digest = _push(c, f"{project}/small", "latest", blobs, manifest)
        policy = {
            "signatures": {
                "mode": "enforce",
                "keys": [{"name": "bench", "pem": signing.public_pem(key)}],
            },
            "vulnerabilities": {"mode": "enforce", "severity": "CRITICAL"},
        }
        r = c.put("/api/v1/projects/gate-on/supplychain", json=policy)
        if r.status_code != 200:
            raise RuntimeError(f"set policy: HTTP {r.status_code} {r.text}")
        r = c.get("/v2/gate-on/small/manifests/latest", headers={"Accept": ACCEPT})
        if r.status_code != 403:
            raise RuntimeError(f"the unsigned image should be refused, got HTTP {r.status_code}")
        sig, sig_blobs = signing.cosign_tag_signature(digest, "bench/gate-on/small", key)
        _push(c, "gate-on/small", digest.replace(":", "-") + ".sig", list(sig_blobs.values()), sig)
        r = c.get("/v2/gate-on/small/manifests/latest", headers={"Accept": ACCEPT})
        if r.status_code != 200:
            raise RuntimeError(f"the signed image should pull, got HTTP {r.status_code} {r.text}")


def prepare_go(s: Server, blobs: list[bytes], manifest: bytes) -> None:
    with httpx.Client(base_url=s.url, timeout=60) as c:
        _push(c, "gate/small", "latest", blobs, manifest)


def measure(
    workdir: Path, servers: dict[str, Server], duration: int, reps: int, log: Any
) -> dict[str, Any]:
    """servers: {"go": …, "dockyard": …}; returns req/s per case (median of reps)."""
    dock = servers["dockyard"]
    cases = {
        "go": (servers["go"], "gate/small", {}),
        "dockyard-off": (dock, "gate-off/small", dock.auth_headers(["gate-off/small"])),
        "dockyard-on": (dock, "gate-on/small", dock.auth_headers(["gate-on/small"])),
    }
    runs: dict[str, list[float]] = {name: [] for name in cases}
    for rep in range(reps):
        for name, (s, repo, headers) in cases.items():
            url = f"{s.url}/v2/{repo}/manifests/latest"
            run_wrk(workdir, url, 1, headers)  # warm-up (verdict and manifest cached)
            res = run_wrk(workdir, url, duration, headers)
            if "failure" in res:
                raise RuntimeError(f"{name}: {res['failure']}")
            runs[name].append(res["rps"])
            log(f"  rep {rep + 1} {name}: {res['rps']:.0f} req/s")
    med = {name: sorted(v)[len(v) // 2] for name, v in runs.items()}
    return {
        "req_per_s": med,
        "runs": runs,
        "on_over_off": med["dockyard-on"] / med["dockyard-off"],
        "off_over_go": med["dockyard-off"] / med["go"],
        "target_on_over_off": 0.90,
    }
