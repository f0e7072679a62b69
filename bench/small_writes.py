"""Small writes: many 4 KiB blob pushes, many manifest PUTs by tag, and listing the tags.

These measure the metadata path rather than the byte path: with 4 KiB bodies a push is
a POST and a PUT whose cost is all bookkeeping (rows, commits, fsyncs, auth). Reps are
interleaved (go, dockyard, go, dockyard, ...) like every other scenario, and every rep
pushes content the registry has never seen.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from client import (
    OCI_CONFIG,
    OCI_LAYER,
    OCI_MANIFEST,
    Client,
    RegistryError,
    descriptor,
    expect,
    push_bytes,
    with_digest,
)
from loadgen import child_cpu
from scenarios import Ctx, Outcome, _client, _self_cpu
from servers import Server, tree_cpu_s

SMALL_BLOBS = 2000
SMALL_BLOB_BYTES = 4096
TAGS = 5000
WRITERS = 16
LIST_GETS = 30
BLOB_REPO = "bench/smallblobs"
TAG_REPO = "bench/tags"

SMALL_WRITE_SCENARIOS = ("small-blobs", "tag-create", "tag-list")


def _fan_out(
    s: Server, repos: tuple[str, ...], jobs: list[Any], work: Callable[[Client, Any], None]
) -> tuple[float, float, float]:
    """Run `work(client, job)` for every job on WRITERS threads, each with its own
    kept-alive connection (opened before the clock starts). Returns (wall seconds,
    server tree CPU-seconds, client CPU-seconds); raises the first failure."""
    clients = [_client(s, *repos) for _ in range(WRITERS)]
    for c in clients:
        c.reconnect()
    shares = [jobs[i::WRITERS] for i in range(WRITERS)]
    barrier = threading.Barrier(WRITERS + 1)
    errors: list[str] = []

    def one(i: int) -> None:
        barrier.wait(timeout=60)
        try:
            for job in shares[i]:
                if errors:
                    return
                work(clients[i], job)
        except (RegistryError, OSError) as exc:
            errors.append(repr(exc))

    try:
        with ThreadPoolExecutor(WRITERS) as pool:
            futures = [pool.submit(one, i) for i in range(WRITERS)]
            barrier.wait(timeout=60)
            c0 = _self_cpu() + child_cpu()
            s0 = tree_cpu_s(s.pid)
            t0 = time.perf_counter()
            for f in futures:
                f.result(timeout=1800)
            wall = time.perf_counter() - t0
            server_cpu = tree_cpu_s(s.pid) - s0
            client_cpu = _self_cpu() + child_cpu() - c0
    finally:
        for c in clients:
            c.close()
    if errors:
        raise RegistryError(f"{len(errors)} writer(s) failed, first: {errors[0]}")
    return wall, server_cpu, client_cpu


def _push_small(c: Client, repo: str, data: bytes) -> None:
    """POST, then one PUT ?digest= with the body (what docker does for small layers)."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    resp = expect(c.request("POST", f"/v2/{repo}/blobs/uploads/"), 202, what="POST upload")
    loc = resp.headers.get("Location")
    if not loc:
        raise RegistryError("POST upload: no Location header")
    resp = c.request(
        "PUT",
        with_digest(loc, digest),
        headers={"Content-Type": "application/octet-stream"},
        body=data,
    )
    expect(resp, 201, what="PUT small blob")
    if resp.headers.get("Docker-Content-Digest") not in (None, digest):
        raise RegistryError("PUT small blob: wrong Docker-Content-Digest")


def _rates(
    ctx: Ctx,
    servers: list[Server],
    label: str,
    unit: str,
    count: int,
    one_rep: Callable[[Server, int], tuple[float, float, float]],
) -> dict[str, Outcome]:
    out = {s.name: Outcome(unit=unit) for s in servers}
    runs: dict[str, list[dict[str, float]]] = {s.name: [] for s in servers}
    for rep in range(ctx.reps):
        for s in servers:
            o = out[s.name]
            if o.error:
                continue
            os.sync()  # untimed, as in scenarios._interleaved
            try:
                wall, server_cpu, client_cpu = one_rep(s, rep)
            except (RegistryError, OSError, threading.BrokenBarrierError) as exc:
                o.error = f"{label} rep {rep + 1}: {exc}"
                ctx.log(f"  {s.name}: FAILED {o.error}")
                continue
            rate = count / wall
            o.reps.append(rate)
            runs[s.name].append(
                {
                    "wall_s": wall,
                    "server_cpu_s": server_cpu,
                    "client_cpu_s": client_cpu,
                    "server_cpu_s_per_1000": server_cpu * 1000 / count,
                }
            )
            ctx.log(
                f"  {s.name} rep {rep + 1}: {rate:8.1f} {unit} ({wall:.2f} s; server tree "
                f"{server_cpu * 1000 / count:.2f} CPU-s per 1,000)"
            )
    for s in servers:
        o = out[s.name]
        if o.reps and not o.error:
            o.value = statistics.median(o.reps)
            o.detail["server_cpu_s_per_1000"] = statistics.median(
                r["server_cpu_s_per_1000"] for r in runs[s.name]
            )
        o.detail.update({"count": count, "concurrency": WRITERS, "runs": runs[s.name]})
    return out


def small_blobs(ctx: Ctx, servers: list[Server]) -> dict[str, Outcome]:
    """SMALL_BLOBS x 4 KiB blobs, POST + PUT each, WRITERS at a time."""

    def rep(s: Server, n: int) -> tuple[float, float, float]:
        salt = f"{s.name}-{n}-{time.time_ns()}".encode()
        # untimed: content never seen before (random head, a unique tail)
        blobs = [
            os.urandom(SMALL_BLOB_BYTES - 32) + hashlib.sha256(salt + str(i).encode()).digest()
            for i in range(SMALL_BLOBS)
        ]
        return _fan_out(s, (BLOB_REPO,), blobs, lambda c, data: _push_small(c, BLOB_REPO, data))

    out = _rates(ctx, servers, "small-blob push", "blobs/s", SMALL_BLOBS, rep)
    for o in out.values():
        o.detail["blob_bytes"] = SMALL_BLOB_BYTES
    return out


def _tag_manifests(c: Client, repo: str, rep: int) -> list[tuple[str, bytes]]:
    """Setup, untimed: one config and one layer; TAGS distinct manifests over them."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "rep": rep}).encode()
    layer = os.urandom(SMALL_BLOB_BYTES)
    config_digest = push_bytes(c, repo, config)
    layer_digest = push_bytes(c, repo, layer)
    out = []
    for i in range(TAGS):
        tag = f"t{rep}-{i:05d}"
        body = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(OCI_CONFIG, config_digest, len(config)),
            "layers": [descriptor(OCI_LAYER, layer_digest, len(layer))],
            "annotations": {"bench.tag": tag},
        }
        out.append((tag, json.dumps(body, indent=2).encode()))
    return out


def _put_manifest(c: Client, repo: str, job: tuple[str, bytes]) -> None:
    tag, manifest = job
    resp = c.request(
        "PUT", f"/v2/{repo}/manifests/{tag}", headers={"Content-Type": OCI_MANIFEST}, body=manifest
    )
    expect(resp, 201, what=f"PUT manifest {tag}")


def tag_create(ctx: Ctx, servers: list[Server]) -> dict[str, Outcome]:
    """TAGS manifest PUTs by tag, WRITERS at a time, into a fresh repository per rep.
    The first rep's repository (TAGS tags) is what tag-list reads."""

    def rep(s: Server, n: int) -> tuple[float, float, float]:
        repo = f"{TAG_REPO}{n}"
        with _client(s, repo) as c:
            jobs = _tag_manifests(c, repo, n)
        wall = _fan_out(s, (repo,), jobs, lambda c, job: _put_manifest(c, repo, job))
        ctx.st(s).setdefault("tag_repo", repo)
        return wall

    return _rates(ctx, servers, "manifest PUT by tag", "manifests/s", TAGS, rep)


def tag_list(ctx: Ctx, servers: list[Server]) -> dict[str, Outcome]:
    """Median latency of GET /v2/<repo>/tags/list over a repository holding TAGS tags,
    LIST_GETS one after another on one kept-alive connection, per rep."""
    out = {s.name: Outcome(unit="ms") for s in servers}
    clients: dict[str, Client] = {}
    for s in servers:
        repo = ctx.st(s).get("tag_repo")
        if repo is None:  # tag-create did not run: make the tags, untimed
            repo = f"{TAG_REPO}-list"
            try:
                with _client(s, repo) as c:
                    jobs = _tag_manifests(c, repo, 0)
                _fan_out(s, (repo,), jobs, lambda c, job, r=repo: _put_manifest(c, r, job))
                ctx.st(s)["tag_repo"] = repo
            except (RegistryError, OSError) as exc:
                out[s.name].error = f"tag-list setup: {exc}"
                continue
        clients[s.name] = _client(s, repo)
    latencies: dict[str, list[float]] = {s.name: [] for s in servers}
    try:
        for rep in range(ctx.reps):
            for s in servers:
                o = out[s.name]
                if o.error:
                    continue
                repo = ctx.st(s)["tag_repo"]
                c = clients[s.name]
                c.reconnect()
                got: list[float] = []
                try:
                    for _ in range(LIST_GETS):
                        t0 = time.perf_counter()
                        resp = c.request("GET", f"/v2/{repo}/tags/list")
                        got.append((time.perf_counter() - t0) * 1000)
                        expect(resp, 200, what="GET tags/list")
                        tags = json.loads(resp.body).get("tags") or []
                        if len(tags) != TAGS:
                            raise RegistryError(f"tags/list: {len(tags)} tags, wanted {TAGS}")
                except (RegistryError, OSError, ValueError) as exc:
                    o.error = f"tag-list rep {rep + 1}: {exc}"
                    ctx.log(f"  {s.name}: FAILED {o.error}")
                    continue
                med = statistics.median(got)
                o.reps.append(med)
                latencies[s.name] += got
                ctx.log(f"  {s.name} rep {rep + 1}: median {med:.2f} ms over {LIST_GETS} GETs")
    finally:
        for c in clients.values():
            c.close()
    for s in servers:
        o = out[s.name]
        if o.reps and not o.error:
            o.value = statistics.median(latencies[s.name])
        o.detail.update(
            {"tags": TAGS, "gets_per_rep": LIST_GETS, "latencies_ms": latencies[s.name]}
        )
    return out


SMALL_WRITE_RUNNERS: dict[str, Callable[[Ctx, list[Server]], dict[str, Outcome]]] = {
    "small-blobs": small_blobs,
    "tag-create": tag_create,
    "tag-list": tag_list,
}
