"""Rematch of stored SBOMs after a vulnerability-database update (bench/supplychain.py
rematch), in process against the embedded store: `--sboms` SBOMs of `--packages`
packages each (Debian packages drawn from a pool of 5,000, some Python and npm ones) are
stored, a synthetic OSV dataset of 2,000 advisories over that pool is imported and
every SBOM matched once; then 200 more advisories are imported and the
`supplychain.rematch` job runs: its wall time is the figure (no layer is read)."""

from __future__ import annotations

import asyncio
import json
import random
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

POOL = 5_000
VECTOR = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"


def _advisories(path: Path, start: int, count: int, rng: random.Random) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(start, start + count):
            pkg = rng.randrange(POOL)
            record = {
                "schema_version": "1.6.0",
                "id": f"DEBIAN-CVE-2099-{i:05d}",
                "modified": "2026-12-01T00:00:00Z",
                "upstream": [f"CVE-2099-{i:05d}"],
                "affected": [
                    {
                        "package": {"ecosystem": "Debian:12", "name": f"src{pkg:04d}"},
                        "ranges": [
                            {
                                "type": "ECOSYSTEM",
                                "events": [
                                    {"introduced": "0"},
                                    {"fixed": f"1.{rng.randrange(1, 40)}-1"},
                                ],
                            }
                        ],
                    }
                ],
                "severity": [
                    {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}
                ],
            }
            z.writestr(f"Debian/{record['id']}.json", json.dumps(record))


class _Ctx:
    def __init__(self, services: Any) -> None:
        self.services = services
        self.job_id = 0
        self.attempt = 1
        self.payload: dict[str, Any] = {}

    async def log(self, message: str) -> None:
        return None

    async def checkpoint(self) -> None:
        return None


async def _run(args: Any, workdir: Path, log: Callable[[str], None]) -> dict[str, Any]:
    from dockyard.config import load_settings
    from dockyard.lifecycle.cli_support import open_services
    from dockyard.metadata.migrate import upgrade
    from dockyard.supplychain.jobs import rematch
    from dockyard.supplychain.model import Distro, ImageContents, Package
    from dockyard.supplychain.service import SupplyChainService

    rng = random.Random(11)
    (workdir / "data").mkdir(parents=True, exist_ok=True)
    settings = load_settings(None, {"data_dir": workdir / "data"})
    from dockyard.capabilities import REGISTERED, migration_branches

    await upgrade(settings.database_url, branches=migration_branches(REGISTERED))
    async with open_services("bench", settings) as services:
        service = SupplyChainService(services)
        log(f"storing {args.sboms} SBOMs of {args.packages} packages")
        t0 = time.monotonic()
        distro = Distro("debian", "12", "bookworm")
        for n in range(args.sboms):
            picks = rng.sample(range(POOL), args.packages - 20)
            packages = [
                Package("deb", f"lib{p:04d}", f"1.{rng.randrange(1, 40)}-1",
                        f"pkg:deb/debian/lib{p:04d}", source_name=f"src{p:04d}",
                        source_version=f"1.{rng.randrange(1, 40)}-1")
                for p in picks
            ] + [
                Package("pypi", f"py{rng.randrange(2000)}", "1.0", "pkg:pypi/x@1.0")
                for _ in range(10)
            ] + [
                Package("npm", f"js{rng.randrange(2000)}", "1.0.0", "pkg:npm/x@1.0.0")
                for _ in range(10)
            ]  # fmt: skip
            await service.store.put_sbom(
                f"sha256:{n:064x}", "bench/app", "generated", None, "cyclonedx",
                ImageContents(distro, tuple(packages)),
            )  # fmt: skip
        stored_s = time.monotonic() - t0
        first = workdir / "osv-1.zip"
        _advisories(first, 0, 2_000, rng)
        await service.import_vulndb(first)
        log("first match of every SBOM")
        t0 = time.monotonic()
        await rematch(_Ctx(services), {})
        first_s = time.monotonic() - t0
        update = workdir / "osv-2.zip"
        _advisories(update, 2_000, 200, rng)
        t0 = time.monotonic()
        imported = await service.import_vulndb(update)
        import_s = time.monotonic() - t0
        log("rematch after the update")
        t0 = time.monotonic()
        result = await rematch(_Ctx(services), {})
        rematch_s = time.monotonic() - t0
    out = {
        "sboms": args.sboms,
        "packages_per_sbom": args.packages,
        "store_seconds": stored_s,
        "first_match_seconds": first_s,
        "update_import_seconds": import_s,
        "update_added": imported["added"],
        "rematch_seconds": rematch_s,
        "rematch_changed": (result or {}).get("changed"),
        "ms_per_sbom": rematch_s / args.sboms * 1000,
    }
    per, changed = out["ms_per_sbom"], out["rematch_changed"]
    log(f"  rematch: {rematch_s:.1f} s ({per:.2f} ms per SBOM), {changed} changed")
    return out


def run_rematch(args: Any, workdir: Path, log: Callable[[str], None]) -> dict[str, Any]:
    return asyncio.run(_run(args, workdir, log))
