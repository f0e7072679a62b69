"""Garbage collection, side by side: Dockyard's online GC against the Go registry's
offline `docker-registry garbage-collect`, on the same content.

Each registry gets N blobs and M manifests pushed through the API (every manifest a
config and N/M - 1 layers, spread over a few repositories), then half the manifests
are deleted by digest, so half the blobs are referenced by nothing. Then:

- Go: the server is stopped (its GC is offline) and `docker-registry garbage-collect
  config.yml` runs; its wall time and peak RSS are measured (wait4).
- Dockyard: `dockyard gc` runs against the store while the server keeps serving and a
  push/pull load runs against it (pushing new images, pulling kept ones); its wall
  time, its own pass time, peak RSS, and the load's requests and errors are measured.

Both then have the kept images checked (every manifest and blob there, the deleted
ones' blobs gone from storage on the filesystem).

    .venv/bin/python bench/gc.py                       # 10k blobs / 2k manifests, filesystem
    .venv/bin/python bench/gc.py --topology production --blobs 4000 --manifests 800
    .venv/bin/python bench/gc.py --blobs 100000 --manifests 20000   # the issue's size (slow)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from client import (
    OCI_CONFIG,
    OCI_LAYER,
    OCI_MANIFEST,
    Client,
    descriptor,
    push_bytes,
    push_manifest,
)
from credentials import Credentials
from servers import Server, dockyard_server, go_server

REPOS = 8
WRITERS = 16
LOAD_CLIENTS = 8
GRACE_S = 5.0  # Dockyard's grace: the seeded garbage is older, the load's pushes newer


def log(message: str) -> None:
    print(f"[gc-bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Seeded:
    kept: list[tuple[str, str, list[str]]] = field(default_factory=list)
    """(repo, manifest digest, blob digests) of the manifests kept"""
    deleted: list[tuple[str, str, list[str]]] = field(default_factory=list)
    seconds: float = 0.0


def _client(s: Server, repos: list[str]) -> Client:
    return Client(s.url, headers=s.auth_headers(repos))


def seed(s: Server, blobs: int, manifests: int, repos: list[str]) -> Seeded:
    per = max(2, blobs // manifests)
    out = Seeded()
    lock = threading.Lock()
    t0 = time.perf_counter()

    def one(i: int) -> None:
        repo = repos[i % len(repos)]
        with _client(s, repos) as c:
            config = json.dumps({"os": "linux", "architecture": "amd64", "i": i}).encode()
            layers = [os.urandom(512) + f"{i}/{j}".encode() for j in range(per - 1)]
            digests = [push_bytes(c, repo, b) for b in (config, *layers)]
            body = {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": descriptor(OCI_CONFIG, digests[0], len(config)),
                "layers": [
                    descriptor(OCI_LAYER, d, len(b))
                    for d, b in zip(digests[1:], layers, strict=True)
                ],
            }
            manifest = json.dumps(body, separators=(",", ":")).encode()
            digest = push_manifest(c, repo, f"t{i}", manifest)
            if i % 2:
                resp = c.request("DELETE", f"/v2/{repo}/manifests/{digest}")
                if resp.status != 202:
                    raise RuntimeError(f"DELETE manifest: {resp.status}")
            with lock:
                (out.deleted if i % 2 else out.kept).append((repo, digest, digests))

    with ThreadPoolExecutor(WRITERS) as pool:
        for f in [pool.submit(one, i) for i in range(manifests)]:
            f.result()
    out.seconds = time.perf_counter() - t0
    return out


def measure(argv: list[str], env: dict[str, str] | None) -> tuple[float, int, str, str]:
    """Run a command; (wall seconds, peak RSS in bytes, stdout, stderr)."""
    with tempfile.TemporaryFile() as out_f, tempfile.TemporaryFile() as err_f:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=out_f, stderr=err_f)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out_f.seek(0)
        err_f.seek(0)
        stdout = out_f.read().decode(errors="replace")
        stderr = err_f.read().decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[:3]} exited {proc.returncode}: {stderr[-2000:]}")
    return wall, usage.ru_maxrss * 1024, stdout, stderr


@dataclass
class Load:
    requests: int = 0
    errors: int = 0
    samples: list[str] = field(default_factory=list)


@contextmanager
def load(s: Server, kept: list[tuple[str, str, list[str]]]) -> Iterator[Load]:
    """LOAD_CLIENTS threads pushing new small images and pulling kept ones."""
    stats = Load()
    stop = threading.Event()
    lock = threading.Lock()
    repos = ["load/push", *sorted({r for r, _, _ in kept})]

    def count(ok: bool, what: str) -> None:
        with lock:
            stats.requests += 1
            if not ok:
                stats.errors += 1
                if len(stats.samples) < 5:
                    stats.samples.append(what)

    def loop(i: int) -> None:
        n = 0
        with _client(s, repos) as c:
            while not stop.is_set():
                n += 1
                try:
                    if i % 2:
                        repo, digest, blobs = kept[(i * 7919 + n) % len(kept)]
                        r = c.request(
                            "GET",
                            f"/v2/{repo}/manifests/{digest}",
                            headers={"Accept": OCI_MANIFEST},
                        )
                        count(r.status == 200, f"GET manifest {r.status}")
                        r = c.request("GET", f"/v2/{repo}/blobs/{blobs[-1]}")
                        count(r.status == 200, f"GET blob {r.status}")
                    else:
                        data = os.urandom(256)
                        d = push_bytes(c, "load/push", data)
                        count(True, "")
                        body = {
                            "schemaVersion": 2,
                            "mediaType": OCI_MANIFEST,
                            "config": descriptor(OCI_CONFIG, d, len(data)),
                            "layers": [],
                        }
                        manifest = json.dumps(body).encode()
                        push_manifest(c, "load/push", f"c{i}-{n}", manifest)
                        count(True, "")
                except Exception as exc:  # every failure counts
                    count(False, f"{type(exc).__name__}: {exc}"[:200])

    threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(LOAD_CLIENTS)]
    for t in threads:
        t.start()
    try:
        yield stats
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)


def verify(s: Server, seeded: Seeded, present: Callable[[str], bool] | None) -> dict[str, int]:
    """Every kept manifest and blob is served; deleted manifests' blobs are gone."""
    repos = sorted({r for r, _, _ in seeded.kept + seeded.deleted})
    missing = leftover = 0
    with _client(s, repos) as c:
        for repo, digest, blobs in seeded.kept[:200]:
            r = c.request(
                "HEAD", f"/v2/{repo}/manifests/{digest}", headers={"Accept": OCI_MANIFEST}
            )
            missing += r.status != 200
            for b in blobs:
                missing += c.request("HEAD", f"/v2/{repo}/blobs/{b}").status != 200
    if present is not None:
        for _, _, blobs in seeded.deleted:
            leftover += sum(present(b) for b in blobs)
    return {"kept_missing": missing, "deleted_left_in_storage": leftover}


def fs_present(root: Path, go: bool) -> Callable[[str], bool]:
    def check(digest: str) -> bool:
        hexd = digest.split(":", 1)[1]
        if go:
            p = root / "docker/registry/v2/blobs/sha256" / hexd[:2] / hexd / "data"
        else:
            p = root / "storage/blobs/sha256" / hexd[:2] / hexd
        return p.exists()

    return check


def run_go(base: Path, storage: str | None, args: argparse.Namespace, fs: bool) -> dict[str, Any]:
    s = go_server(base, args.go_binary, storage)
    s.start()
    try:
        log(f"go: seeding {args.blobs} blobs / {args.manifests} manifests")
        seeded = seed(s, args.blobs, args.manifests, [f"bench/r{i}" for i in range(REPOS)])
    finally:
        s.stop()
    config = s.argv[2]
    log("go: garbage-collect (offline: the server is stopped)")
    wall, rss, _, _ = measure([args.go_binary, "garbage-collect", config], None)
    s.start()
    try:
        checked = verify(s, seeded, fs_present(s.data_dir, go=True) if fs else None)
    finally:
        s.stop()
    return {
        "seed_s": round(seeded.seconds, 1),
        "gc_wall_s": round(wall, 2),
        "gc_peak_rss_mib": round(rss / 2**20, 1),
        **checked,
    }


def run_dockyard(
    base: Path, env: dict[str, str], args: argparse.Namespace, creds: Credentials, fs: bool
) -> dict[str, Any]:
    s = dockyard_server(base, env=env, credentials=creds)
    s.start()
    try:
        log(f"dockyard: seeding {args.blobs} blobs / {args.manifests} manifests")
        seeded = seed(s, args.blobs, args.manifests, [f"bench/r{i}" for i in range(REPOS)])
        time.sleep(GRACE_S + 1)  # the seeded garbage passes the grace period
        log("dockyard: gc (online, under a push/pull load)")
        cmd = [
            sys.executable,
            "-m",
            "dockyard",
            "gc",
            "--json",
            "--grace",
            f"{GRACE_S:g}s",
            "--data-dir",
            str(s.data_dir),
        ]
        with load(s, seeded.kept) as stats:
            wall, rss, out, _ = measure(cmd, {**os.environ, **env})
        report = json.loads(out)
        checked = verify(s, seeded, fs_present(s.data_dir, go=False) if fs else None)
    finally:
        s.stop()
    return {
        "seed_s": round(seeded.seconds, 1),
        "gc_wall_s": round(wall, 2),
        "gc_pass_s": report["seconds"],
        "gc_phases_s": report["phases"],
        "gc_peak_rss_mib": round(rss / 2**20, 1),
        "deleted": {k: report[k] for k in ("blobs", "links", "manifests", "bytes_freed")},
        "load_requests": stats.requests,
        "load_errors": stats.errors,
        "load_error_rate": round(stats.errors / max(1, stats.requests), 6),
        "load_error_samples": stats.samples,
        **checked,
    }


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--blobs", type=int, default=10_000)
    p.add_argument("--manifests", type=int, default=2_000)
    p.add_argument("--topology", choices=("embedded", "production"), default="embedded")
    p.add_argument("--go-binary", default="/usr/bin/docker-registry")
    p.add_argument("--skip-go", action="store_true")
    args = p.parse_args()
    creds = Credentials.generate()
    results: dict[str, Any] = {
        "blobs": args.blobs,
        "manifests": args.manifests,
        "topology": args.topology,
    }
    with tempfile.TemporaryDirectory(prefix="dockyard-gc-bench-") as tmp, ExitStack() as stack:
        base = Path(tmp)
        if args.topology == "embedded":
            go_storage, env, fs = None, {}, True
        else:
            from topology import production_backends

            prod = stack.enter_context(production_backends(base, log, credentials=creds))
            go_storage, env, fs = prod.go_storage(False), prod.dockyard_env(False), False
        if not args.skip_go:
            results["go"] = run_go(base, go_storage, args, fs)
            log(f"go: {results['go']}")
        results["dockyard"] = run_dockyard(base, env, args, creds, fs)
        log(f"dockyard: {results['dockyard']}")
    if "go" in results:
        go, dy = results["go"]["gc_wall_s"], results["dockyard"]
        results["speedup_wall"] = round(go / dy["gc_wall_s"], 2)  # with process start
        results["speedup_pass"] = round(go / max(dy["gc_pass_s"], 1e-3), 2)  # as a job runs it
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
