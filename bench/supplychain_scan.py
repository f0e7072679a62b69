"""SBOM + scan time of a large image (bench/supplychain.py scan): a Debian-like image of
`--size-mib` (random, incompressible file contents in the last layers, so every byte is
read and inflated) holding `--packages` packages (dpkg entries, Python dist-info, npm
packages), pushed to a real Dockyard with the shipped OSV dataset imported, scanned by
its own worker. Reported: the job's wall time (started → finished), the layer bytes it
read per second, the packages found and the findings."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from credentials import Credentials
from servers import dockyard_server

ROOT = Path(__file__).resolve().parent.parent
OSV = ROOT / "tests" / "support" / "osv"
GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


def _packages_layer(packages: int) -> bytes:
    sys.path.insert(0, str(ROOT))
    from tests.support import images

    debs = max(packages - packages // 5, 1)
    entries = [
        {"Package": f"lib{i:04d}", "Version": f"1.{i}-1+deb12u1", "Architecture": "amd64"}
        for i in range(debs - 1)
    ]
    entries.append({"Package": "libssl3", "Version": "3.0.11-1~deb12u1", "Source": "openssl"})
    files: dict[str, Any] = {**images.os_release("debian", "12", "bookworm")}
    files.update(images.dpkg_status(entries))
    for i in range(packages - debs):
        if i % 2:
            files.update(images.python_dist_info(f"pkg-{i}", f"0.{i}.0"))
        else:
            files.update(images.npm_package(f"mod-{i}", f"1.0.{i}"))
    return images.layer(files)


def _big_layer(path: Path, size: int) -> tuple[str, int]:
    """A gzip tar of random files totalling `size`, written to `path` as it is made."""
    hasher = hashlib.sha256()
    written = 0
    deflate = zlib.compressobj(1, zlib.DEFLATED, 31)
    with open(path, "wb") as out:

        def emit(data: bytes) -> None:
            nonlocal written
            chunk = deflate.compress(data)
            hasher.update(chunk)
            out.write(chunk)
            written += len(chunk)

        member = 64 << 20
        left, n = size, 0
        while left > 0:
            this = min(member, left)
            info = tarfile.TarInfo(f"opt/data/blob-{n:04d}.bin")
            info.size = this
            emit(info.tobuf(format=tarfile.GNU_FORMAT))
            for _ in range(this // (1 << 20)):
                emit(os.urandom(1 << 20))
            emit(os.urandom(this % (1 << 20)))
            pad = (-this) % 512
            emit(b"\0" * pad)
            left -= this
            n += 1
        emit(b"\0" * 1024)
        tail = deflate.flush()
        hasher.update(tail)
        out.write(tail)
        written += len(tail)
    return "sha256:" + hasher.hexdigest(), written


def _file_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            yield chunk


def run_scan(args: Any, workdir: Path, log: Callable[[str], None]) -> dict[str, Any]:
    creds = Credentials.generate()
    server = dockyard_server(workdir, credentials=creds)
    size = args.size_mib << 20
    log(f"building a {args.size_mib} MiB image with {args.packages} packages")
    small = _packages_layer(args.packages)
    big_path = workdir / "big.tar.gz"
    big_digest, big_size = _big_layer(big_path, size - len(small))
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    digest_of = lambda b: "sha256:" + hashlib.sha256(b).hexdigest()  # noqa: E731
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest_of(config),
                "size": len(config),
            },
            "layers": [
                {"mediaType": GZIP, "digest": digest_of(small), "size": len(small)},
                {"mediaType": GZIP, "digest": big_digest, "size": big_size},
            ],
        }
    ).encode()
    try:
        server.start()
        env = {**os.environ, "DOCKYARD_ADMIN_PASSWORD": creds.password}
        subprocess.run(
            [sys.executable, "-m", "dockyard", "vulndb", "import", str(OSV),
             "--data-dir", str(server.data_dir)],
            check=True, capture_output=True, env=env, timeout=300,
        )  # fmt: skip
        auth = (creds.username, creds.password)
        with httpx.Client(base_url=server.url, auth=auth, timeout=600) as c:
            c.post("/api/v1/projects", json={"name": "scan", "public": False})
            for blob in (config, small):
                r = c.post(
                    "/v2/scan/big/blobs/uploads/", params={"digest": digest_of(blob)}, content=blob
                )
                r.raise_for_status()
            r = c.post(
                "/v2/scan/big/blobs/uploads/",
                params={"digest": big_digest},
                content=_file_chunks(big_path),
                headers={"Content-Length": str(big_size)},
            )
            r.raise_for_status()
            r = c.put(
                "/v2/scan/big/manifests/1",
                content=manifest,
                headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
            )
            r.raise_for_status()
            log("scanning")
            t0 = time.monotonic()
            job_id = c.post("/api/v1/projects/scan/repositories/big/-/artifacts/1/scan").json()[
                "job_id"
            ]
            while True:
                job = c.get(f"/api/v1/jobs/{job_id}").json()
                if job["state"] not in ("queued", "running"):
                    break
                if time.monotonic() - t0 > 1800:
                    raise RuntimeError("the scan took more than 30 minutes")
                time.sleep(0.2)  # polling a job the server's worker runs
            if job["state"] != "succeeded":
                raise RuntimeError(f"scan job {job['state']}: {job.get('last_error')}")
            started = dt.datetime.fromisoformat(job["started_at"])
            finished = dt.datetime.fromisoformat(job["finished_at"])
            seconds = (finished - started).total_seconds()
            result = job["result"]
        log(f"  {seconds:.1f} s, {result}")
        return {
            "image_bytes": len(small) + big_size + len(config),
            "uncompressed_bytes": size,
            "scan_seconds": seconds,
            "read_mb_per_s": (len(small) + big_size) / seconds / 1e6,
            "packages": result.get("packages"),
            "findings": result.get("findings"),
        }
    finally:
        server.stop()
