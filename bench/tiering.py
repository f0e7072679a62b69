"""Tiering's cost: a synthetic registry history pushed to a real Dockyard (embedded
default, cold tier a second folder) and, side by side, to the Go registry (one tier);
bytes on the hot tier before and after a tiering pass, and the monthly storage bill at
per-GB prices for each tier.

The history: `--services` images, each released `--versions` times over `--days` days.
Every image shares the same base layers (an OS and a language runtime), each service
has a dependency layer that changes every `--deps-every` releases, and each release
has its own application layer. Every version is pulled in the week after its release
(deployments, rollbacks); only the latest `--live` versions of each service are still
pulled (running clusters). The push and pull times are set in the pull statistics
Dockyard keeps (the only thing the rules read); the pulls themselves go over HTTP.

Layer sizes are in units of `--unit-kib` (default 16 KiB: the bench takes a minute);
every byte count scales with the unit and the bill is also given per TiB of the Go
registry's storage, which does not depend on the unit.

    .venv/bin/python bench/tiering.py
    .venv/bin/python bench/tiering.py --services 12 --versions 40 --rule-days 30 --json
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import random
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from credentials import Credentials
from images import OCI, push_image
from servers import dockyard_server, go_server

GIB = 1 << 30
# USD per GB-month, AWS us-east-1 list prices (2026): S3 Standard, Standard-IA, Glacier IR
PRICES = {"standard": 0.023, "standard_ia": 0.0125, "glacier_ir": 0.004}
# sizes in units: base OS, runtime, per-service dependencies, per-release application
SIZES = {"os": 120, "runtime": 160, "deps": 60, "app": 12}


def log(message: str) -> None:
    print(f"[tiering-bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Release:
    repo: str
    tag: str
    day: float  # days ago it was pushed
    live: bool  # still pulled
    layers: list[bytes]


def history(args: argparse.Namespace) -> list[Release]:
    unit = args.unit_kib * 1024
    rng = random.Random(7)

    def blob(kind: str) -> bytes:
        return rng.randbytes(SIZES[kind] * unit)

    base = [blob("os"), blob("runtime")]
    out = []
    for s in range(args.services):
        deps = blob("deps")
        for v in range(args.versions):
            if v and v % args.deps_every == 0:
                deps = blob("deps")
            day = args.days * (1 - v / args.versions)
            live = v >= args.versions - args.live
            out.append(Release(f"bench/svc{s}", f"v{v}", day, live, [*base, deps, blob("app")]))
    return out


def push(c: httpx.Client, release: Release) -> str:
    return push_image(c, release.repo, release.tag, release.layers)


def pull(c: httpx.Client, repo: str, tag: str) -> int:
    """A whole pull, verified; the layer bytes."""
    r = c.get(f"/v2/{repo}/manifests/{tag}", headers={"Accept": OCI})
    r.raise_for_status()
    total = 0
    for layer in r.json()["layers"]:
        got = c.get(f"/v2/{repo}/blobs/{layer['digest']}")
        got.raise_for_status()
        if "sha256:" + hashlib.sha256(got.content).hexdigest() != layer["digest"]:
            raise SystemExit(f"{repo}:{tag}: layer {layer['digest']} came back different")
        total += len(got.content)
    return total


def folder_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def set_history(db: Path, releases: list[Release], digests: dict[tuple[str, str], str]) -> None:
    """Pushes `day` days ago; last pulls a week after the push, or yesterday when live."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with sqlite3.connect(db) as conn:
        for release in releases:
            (repo_id,) = conn.execute(
                "SELECT id FROM repositories WHERE name = ?", (release.repo,)
            ).fetchone()
            digest = digests[(release.repo, release.tag)]
            pushed = now - dt.timedelta(days=release.day)
            pulled = now - dt.timedelta(days=1) if release.live else pushed + dt.timedelta(days=7)
            conn.execute(
                "UPDATE manifests SET created_at = ? WHERE repository_id = ? AND digest = ?",
                (pushed.isoformat(sep=" "), repo_id, digest),
            )
            changed = conn.execute(
                "UPDATE artifact_pulls SET last_pulled_at = ? "
                "WHERE repository_id = ? AND digest = ?",
                (pulled.isoformat(sep=" "), repo_id, digest),
            ).rowcount
            if changed != 1:
                raise SystemExit(f"{release.repo}:{release.tag}: no pull statistics row")


def wait_job(c: httpx.Client, job_id: int) -> dict[str, Any]:
    while True:
        job: dict[str, Any] = c.get(f"/api/v1/jobs/{job_id}").raise_for_status().json()
        if job["state"] not in ("queued", "running"):
            return job
        time.sleep(0.2)  # polling the job the server's worker runs


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    releases = history(args)
    creds = Credentials.generate()
    config = work / "dockyard.yaml"
    cold = work / "cold-tier"
    config.write_text(
        f"tiering:\n  cold: {{driver: filesystem, root: {cold}}}\n"
        "  min_blob_bytes: 0\n  schedule: null\n"
        "registry:\n  pull_stats_flush_seconds: 0.5\n"
    )
    server = dockyard_server(work, env={"DOCKYARD_CONFIG": str(config)}, credentials=creds)
    go = go_server(work)
    digests: dict[tuple[str, str], str] = {}
    result: dict[str, Any] = {}
    try:
        server.start()
        go.start()
        auth = (creds.username, creds.password)
        with (
            httpx.Client(base_url=server.url, auth=auth, timeout=600) as c,
            httpx.Client(base_url=go.url, timeout=600) as g,
        ):
            c.post("/api/v1/projects", json={"name": "bench"}).raise_for_status()
            c.put(
                "/api/v1/projects/bench/tiering", json={"cold_after_days": args.rule_days}
            ).raise_for_status()
            log(f"pushing {len(releases)} releases to both registries")
            for release in releases:
                digests[(release.repo, release.tag)] = push(c, release)
                push(g, release)
                pull(c, release.repo, release.tag)  # its week of pulls, dated below
            log("waiting for the pull statistics to be flushed")
            deadline = time.monotonic() + 30
            db = server.data_dir / "dockyard.db"
            while time.monotonic() < deadline:
                with sqlite3.connect(db) as conn:
                    (rows,) = conn.execute("SELECT count(*) FROM artifact_pulls").fetchone()
                if rows >= len(releases):
                    break
                time.sleep(0.2)  # the server flushes its counts every 0.5 s
            set_history(db, releases, digests)
            before = c.get("/api/v1/tiering").raise_for_status().json()
            started = time.monotonic()
            job_id = c.post("/api/v1/tiering/run").raise_for_status().json()["job_id"]
            job = wait_job(c, job_id)
            pass_seconds = time.monotonic() - started
            if job["state"] != "succeeded":
                raise SystemExit(f"tiering pass {job['state']}: {job.get('last_error')}")
            after = c.get("/api/v1/tiering").raise_for_status().json()
            # a live image pulls from hot; an old one from cold, both verified
            live = next(r for r in releases if r.live)
            old = next(r for r in releases if not r.live)
            timings = {}
            for name, release in (("live (hot)", live), ("old (cold)", old)):
                t0 = time.monotonic()
                size = pull(c, release.repo, release.tag)
                timings[name] = {"seconds": time.monotonic() - t0, "bytes": size}
        go_bytes = folder_bytes(go.data_dir)
        result = {
            "releases": len(releases),
            "unit_kib": args.unit_kib,
            "rule_days": args.rule_days,
            "logical_bytes": sum(len(x) for r in releases for x in r.layers),
            "go_registry_bytes": go_bytes,
            "before": before,
            "after": after,
            "pass": {"seconds": pass_seconds, **(job.get("result") or {})},
            "pulls": timings,
            "cold_folder_bytes": folder_bytes(cold),
        }
    finally:
        server.stop()
        go.stop()
    return result


def bill(hot: int, cold: int, cold_price: float) -> float:
    return (hot * PRICES["standard"] + cold * cold_price) / 1e9


def table(r: dict[str, Any]) -> str:
    before, after = r["before"], r["after"]
    total = before["hot"]["bytes"] + before["cold"]["bytes"]
    hot, cold = after["hot"]["bytes"], after["cold"]["bytes"]
    go = r["go_registry_bytes"]
    per_tib = 1024**4 / go  # scale: per TiB the Go registry would hold
    lines = [
        f"{r['releases']} releases, layer unit {r['unit_kib']} KiB, rule: cold after "
        f"{r['rule_days']} days; logical (per image) {r['logical_bytes'] / GIB:.2f} GiB",
        f"tiering pass: {r['pass']['seconds']:.1f} s, {r['pass'].get('cooled', 0)} blobs "
        f"({r['pass'].get('cooled_bytes', 0) / GIB:.2f} GiB) moved cold",
        "",
        f"{'':<34}{'hot GiB':>9}{'cold GiB':>10}{'$/month std+IA':>16}{'std+GlacierIR':>15}",
    ]
    rows = [
        ("Go registry (one tier)", go, 0),
        ("Dockyard before tiering", total, 0),
        ("Dockyard after tiering", hot, cold),
    ]
    for name, h, c in rows:
        lines.append(
            f"{name:<34}{h / GIB:>9.2f}{c / GIB:>10.2f}"
            f"{bill(h, c, PRICES['standard_ia']):>16.4f}{bill(h, c, PRICES['glacier_ir']):>15.4f}"
        )
    lines.append("")
    lines.append("per TiB of the Go registry's storage (USD/month):")
    go_bill = bill(go, 0, 0) * per_tib
    for label, price in (
        ("Standard-IA", PRICES["standard_ia"]),
        ("Glacier IR", PRICES["glacier_ir"]),
    ):
        ours = bill(hot, cold, price) * per_tib
        lines.append(
            f"  cold = {label:<12} Go registry {go_bill:8.2f}   Dockyard {ours:8.2f}   "
            f"({100 * (1 - ours / go_bill):.0f} % lower)"
        )
    lines.append(f"  hot bytes after tiering: {100 * hot / total:.0f} % of before")
    for name, t in r["pulls"].items():
        lines.append(
            f"pull {name}: {t['seconds'] * 1000:.0f} ms for {t['bytes'] / (1 << 20):.1f} MiB"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=8)
    parser.add_argument("--versions", type=int, default=30)
    parser.add_argument("--days", type=float, default=365.0, help="the history's length")
    parser.add_argument("--live", type=int, default=3, help="latest versions still pulled")
    parser.add_argument("--deps-every", type=int, default=6)
    parser.add_argument("--rule-days", type=int, default=30)
    parser.add_argument("--unit-kib", type=int, default=16)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dockyard-tiering-bench-") as tmp:
        result = run(args, Path(tmp))
    print(json.dumps(result, indent=2) if args.json else table(result))


if __name__ == "__main__":
    main()
