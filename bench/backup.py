"""Backup throughput: a full backup of a running Dockyard, then an incremental one after
a few more pushes, then a restore into a fresh instance — wall time, bytes copied and
MiB/s of each, against a plain `cp -r` of the same storage folder as the floor (what
copying those bytes costs on this disk with no checks at all).

The registry holds `--images` images of `--layer-mib` MiB each (random, so nothing
deduplicates), pushed before the backup; `--more` images are pushed before the
incremental one. Everything runs on the embedded default with a folder destination.

    .venv/bin/python bench/backup.py                       # 20 images x 16 MiB
    .venv/bin/python bench/backup.py --images 40 --layer-mib 32 --more 4
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from credentials import Credentials
from servers import dockyard_server

MIB = 1 << 20
OCI = "application/vnd.oci.image.manifest.v1+json"


def log(message: str) -> None:
    print(f"[backup-bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def push_image(client: httpx.Client, repo: str, tag: str, size: int) -> None:
    layer = os.urandom(size)
    config = json.dumps({"architecture": "amd64", "os": "linux", "tag": tag}).encode()
    descriptors = []
    for data, media_type in ((config, "application/vnd.oci.image.config.v1+json"),
                             (layer, "application/vnd.oci.image.layer.v1.tar+gzip")):  # fmt: skip
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        client.post(
            f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data
        ).raise_for_status()
        descriptors.append({"mediaType": media_type, "digest": digest, "size": len(data)})
    manifest = {"schemaVersion": 2, "mediaType": OCI, "config": descriptors[0],
                "layers": descriptors[1:]}  # fmt: skip
    client.put(
        f"/v2/{repo}/manifests/{tag}",
        content=json.dumps(manifest).encode(),
        headers={"Content-Type": OCI},
    ).raise_for_status()


def dockyard(data_dir: Path, *args: str) -> tuple[float, dict[str, Any]]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "dockyard", *args, "--data-dir", str(data_dir), "--json"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"dockyard {' '.join(args)} failed: {done.stderr.strip()}")
    return seconds, json.loads(done.stdout)


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    creds = Credentials.generate()
    server = dockyard_server(work, credentials=creds)
    dest = work / "backups"
    rows: dict[str, dict[str, Any]] = {}
    try:
        server.start()
        with httpx.Client(
            base_url=server.url, auth=(creds.username, creds.password), timeout=600
        ) as c:
            log(f"pushing {args.images} images of {args.layer_mib} MiB")
            for n in range(args.images):
                push_image(c, "bench/app", f"v{n}", args.layer_mib * MIB)
            storage = server.data_dir / "storage"
            started = time.monotonic()
            shutil.copytree(storage, work / "cp-floor")
            floor = time.monotonic() - started
            floor_bytes = sum(
                p.stat().st_size for p in (work / "cp-floor").rglob("*") if p.is_file()
            )
            rows["cp -r (floor)"] = {"seconds": floor, "bytes": floor_bytes}
            seconds, full = dockyard(server.data_dir, "backup", "create", str(dest))
            rows["full backup"] = {"seconds": seconds, "bytes": full["copied"]["bytes"],
                                   "blobs": full["copied"]["count"]}  # fmt: skip
            log(f"full backup: {seconds:.2f} s")
            for n in range(args.more):
                push_image(c, "bench/app", f"more{n}", args.layer_mib * MIB)
            seconds, incremental = dockyard(server.data_dir, "backup", "create", str(dest))
            rows["incremental backup"] = {
                "seconds": seconds, "bytes": incremental["copied"]["bytes"],
                "blobs": incremental["copied"]["count"],
            }  # fmt: skip
            log(f"incremental backup: {seconds:.2f} s")
            seconds, _ = dockyard(server.data_dir, "backup", "verify", str(dest))
            rows["verify (re-hash)"] = {"seconds": seconds, "bytes": incremental["blobs"]["bytes"]}
    finally:
        server.stop()
    seconds, restored = dockyard(work / "restored", "restore", str(dest))
    rows["restore"] = {"seconds": seconds, "bytes": restored["blobs"]["bytes"],
                       "blobs": restored["blobs"]["copied"]}  # fmt: skip
    return {"images": args.images, "layer_mib": args.layer_mib, "more": args.more, "rows": rows}


def table(result: dict[str, Any]) -> str:
    lines = [
        f"{result['images']} images x {result['layer_mib']} MiB, then {result['more']} more",
        f"{'step':<22}{'seconds':>9}{'MiB':>10}{'MiB/s':>9}{'blobs':>7}",
    ]
    for name, row in result["rows"].items():
        mib = row["bytes"] / MIB
        rate = mib / row["seconds"] if row["seconds"] else 0.0
        lines.append(
            f"{name:<22}{row['seconds']:>9.2f}{mib:>10.1f}{rate:>9.1f}{row.get('blobs', ''):>7}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--layer-mib", type=int, default=16)
    parser.add_argument("--more", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dockyard-backup-bench-") as tmp:
        result = run(args, Path(tmp))
    print(json.dumps(result, indent=2) if args.json else table(result))


if __name__ == "__main__":
    main()
