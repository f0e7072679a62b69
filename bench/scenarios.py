"""The benchmark scenarios. Each runs against every server given, reps interleaved
(go, dockyard, go, dockyard, ...) so that drift on the machine hits both alike."""

from __future__ import annotations

import contextlib
import hashlib
import os
import resource
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from client import (
    OCI_MANIFEST,
    Client,
    Drainer,
    RegistryError,
    build_image,
    pull_blob,
    push_chunked,
    push_monolithic,
)
from loadgen import child_cpu as _child_cpu
from servers import MIB, Server

CHUNK = 8 * MIB
LAYERS = 5
LAYER_SIZE = 40 * MIB
CLIENTS = 20
PULL_MIN_BYTES = 1024 * MIB
MB = 1_000_000  # throughput is reported in MB/s = 10^6 bytes per second

BIG_REPO = "bench/big"
SMALL_REPO = "bench/small"
IMAGE_REPO = "bench/image"
# Dockyard: a public project (made through the management API), for anonymous pulls.
PUBLIC_PROJECT = "benchpub"
PUBLIC_REPO = f"{PUBLIC_PROJECT}/small"
TAG = "latest"

SCENARIOS = (
    "push-mono",
    "push-chunked",
    "pull",
    "manifest-head",
    "manifest-get",
    "manifest-get-basic",
    "manifest-get-anon",
    "pull-20",
    # small writes (small_writes.py): the metadata path
    "small-blobs",
    "tag-create",
    "tag-list",
)
# Production topology only: both registries restarted with presigned redirects on.
REDIRECT_SCENARIOS = ("pull-redirect",)


@dataclass
class Outcome:
    value: float | None = None
    unit: str = ""
    reps: list[float] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "unit": self.unit,
            "reps": self.reps,
            "detail": self.detail,
            "error": self.error,
        }


class Skip(RegistryError):
    """The scenario cannot run on this server yet (a missing API, say): not a failure."""


def _client(s: Server, *repos: str) -> Client:
    """A client whose every request carries the bearer token for these repositories
    (fetched once per set and cached; nothing for the Go registry)."""
    return Client(s.url, headers=s.auth_headers(repos))


def _drainer(s: Server, *repos: str) -> Drainer:
    return Drainer(s.host, s.port, headers=s.auth_headers(repos))


def _self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class BlobFile:
    """One file of random data; each push gets a fresh digest by rewriting the tail.

    A registry may skip work for content it already has, so every push sends content
    it has never seen: the last 32 bytes are rewritten, and the digest is finished from
    a saved hash of the unchanging prefix (no re-hash of the whole file per push).
    """

    TAIL = 32

    def __init__(self, path: Path, size: int) -> None:
        if size <= self.TAIL:
            raise ValueError("blob too small")
        self.path = path
        self.size = size
        write_random(path, size)
        self.fd = os.open(path, os.O_RDWR)
        self._prefix = hashlib.sha256()
        with open(path, "rb") as f:
            left = size - self.TAIL
            while left:
                data = f.read(min(8 * MIB, left))
                self._prefix.update(data)
                left -= len(data)
        self.count = 0
        self.digest = self.next_variant()

    def next_variant(self) -> str:
        self.count += 1
        tail = hashlib.sha256(f"{self.count}-{time.time_ns()}".encode()).digest()
        os.pwrite(self.fd, tail, self.size - self.TAIL)
        h = self._prefix.copy()
        h.update(tail)
        self.digest = "sha256:" + h.hexdigest()
        return self.digest

    def close(self) -> None:
        os.close(self.fd)


def write_random(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(8 * MIB, left)
            f.write(os.urandom(n))
            left -= n


@dataclass
class Ctx:
    workdir: Path
    size: int
    duration: int
    reps: int
    warmup: int
    log: Callable[[str], None]
    s3_endpoint: tuple[str, int] | None = None  # (host, port): where redirects must point
    _blob: BlobFile | None = None
    _layers: tuple[Path, int, list[str]] | None = None
    state: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def blob(self) -> BlobFile:
        if self._blob is None:
            self.log(f"generating {self.size // MIB} MiB of random data")
            self._blob = BlobFile(self.workdir / "big.bin", self.size)
        return self._blob

    def layers(self) -> tuple[Path, int, list[str]]:
        """(file, fd, digests) of LAYERS consecutive LAYER_SIZE random layers."""
        if self._layers is None:
            path = self.workdir / "layers.bin"
            self.log(f"generating {LAYERS} x {LAYER_SIZE // MIB} MiB layers")
            write_random(path, LAYERS * LAYER_SIZE)
            digests = []
            with open(path, "rb") as f:
                for _ in range(LAYERS):
                    digests.append("sha256:" + hashlib.sha256(f.read(LAYER_SIZE)).hexdigest())
            self._layers = (path, os.open(path, os.O_RDONLY), digests)
        return self._layers

    def st(self, server: Server) -> dict[str, Any]:
        return self.state.setdefault(server.name, {})

    def close(self) -> None:
        if self._blob is not None:
            self._blob.close()
        if self._layers is not None:
            os.close(self._layers[1])


def _interleaved(
    ctx: Ctx,
    servers: list[Server],
    label: str,
    one_rep: Callable[[Server], float],
    nbytes: int,
) -> dict[str, Outcome]:
    """Run one_rep (returns seconds) ctx.reps times per server, interleaved; MB/s median."""
    out = {s.name: Outcome(unit="MB/s") for s in servers}
    secs: dict[str, list[float]] = {s.name: [] for s in servers}
    cpu: dict[str, list[float]] = {s.name: [] for s in servers}
    for rep in range(ctx.reps):
        for s in servers:
            o = out[s.name]
            if o.error:
                continue
            try:
                # Untimed: flush dirty pages left by the previous rep (maybe the other
                # registry's) so their writeback does not land in this rep's window.
                os.sync()
                c0 = _self_cpu() + _child_cpu()
                t = one_rep(s)
                cpu[s.name].append(_self_cpu() + _child_cpu() - c0)
            except (RegistryError, OSError) as exc:
                o.error = f"{label} rep {rep + 1}: {exc}"
                ctx.log(f"  {s.name}: FAILED {o.error}")
                continue
            secs[s.name].append(t)
            o.reps.append(nbytes / t / MB)
            ctx.log(f"  {s.name} rep {rep + 1}: {nbytes / t / MB:8.1f} MB/s ({t:.2f} s)")
    for s in servers:
        o = out[s.name]
        if o.reps and not o.error:
            o.value = statistics.median(o.reps)
        o.detail = {
            "bytes": nbytes,
            "seconds": secs[s.name],
            "best_mb_s": max(o.reps) if o.reps else None,
            "client_cpu_s": cpu[s.name],
        }
    return out


def _push(ctx: Ctx, servers: list[Server], chunked: bool) -> dict[str, Outcome]:
    blob = ctx.blob
    clients: dict[str, Client] = {}  # one connection per rep, kept alive

    def rep(s: Server) -> float:
        digest = blob.next_variant()  # untimed: content the registry has never seen
        if s.name not in clients:  # untimed: the token is fetched here, once
            clients[s.name] = _client(s, BIG_REPO)
        c = clients[s.name]
        c.reconnect()  # untimed; the connection then stays busy for the whole rep
        t0 = time.perf_counter()
        if chunked:
            push_chunked(c, BIG_REPO, blob.fd, blob.size, digest, CHUNK)
        else:
            push_monolithic(c, BIG_REPO, blob.fd, blob.size, digest)
        t = time.perf_counter() - t0
        ctx.st(s)["big_digest"] = digest
        return t

    try:
        label = "chunked push" if chunked else "monolithic push"
        out = _interleaved(ctx, servers, label, rep, blob.size)
    finally:
        for c in clients.values():
            c.close()
    if chunked:
        for o in out.values():
            o.detail["chunk_bytes"] = CHUNK
    return out


def push_mono(ctx: Ctx, servers: list[Server]) -> dict[str, Outcome]:
    return _push(ctx, servers, chunked=False)


def push_chunk(ctx: Ctx, servers: list[Server]) -> dict[str, Outcome]:
    return _push(ctx, servers, chunked=True)


def _ensure_big_blob(ctx: Ctx, servers: list[Server]) -> None:
    """Setup, untimed: make sure each registry holds a big blob (one push if not)."""
    blob = ctx.blob
    for s in servers:
        if "big_digest" not in ctx.st(s):
            digest = blob.next_variant()
            try:
                with _client(s, BIG_REPO) as c:
                    push_monolithic(c, BIG_REPO, blob.fd, blob.size, digest)
                ctx.st(s)["big_digest"] = digest
            except (RegistryError, OSError) as exc:
                ctx.st(s)["big_error"] = f"setup push for pull: {exc}"


def _big_digest(ctx: Ctx, s: Server) -> str:
    if "big_digest" not in ctx.st(s):
        raise RegistryError(ctx.st(s).get("big_error", "no blob"))
    return str(ctx.st(s)["big_digest"])


def _gets_per_rep(size: int) -> int:
    # A pull is fast: one GET of a few hundred MiB is over in ~0.1 s, too short to
    # time well, so each rep GETs the blob (one after another) until >= 1 GiB moved.
    return max(1, -(-PULL_MIN_BYTES // size))


def pull(ctx: Ctx, servers: list[Server]) -> dict[str, Outcome]:
    blob = ctx.blob
    _ensure_big_blob(ctx, servers)
    drainers: dict[str, Drainer] = {}
    gets = _gets_per_rep(blob.size)

    def rep(s: Server) -> float:
        digest = _big_digest(ctx, s)
        if s.name not in drainers:  # untimed: the token is fetched here, once
            drainers[s.name] = _drainer(s, BIG_REPO)
        drainers[s.name].reconnect()  # untimed, as for pushes
        t0 = time.perf_counter()
        for _ in range(gets):
            pull_blob(drainers[s.name], BIG_REPO, digest, blob.size)
        return time.perf_counter() - t0

    try:
        out = _interleaved(ctx, servers, "pull", rep, gets * blob.size)
    finally:
        for d in drainers.values():
            d.close()
    for o in out.values():
        o.detail["gets_per_rep"] = gets
    return out


def pull_redirect(ctx: Ctx, servers: list[Server]) -> dict[str, Outcome]:
    """Big-blob pull with presigned redirects on: every registry GET must answer 307
    with a Location on the S3 endpoint, which the client then GETs (new connection
    each time: moto answers `Connection: close`). Both requests are timed."""
    blob = ctx.blob
    s3 = ctx.s3_endpoint
    if s3 is None:
        return {s.name: Outcome(unit="MB/s", error="no S3 endpoint") for s in servers}
    _ensure_big_blob(ctx, servers)
    drainers: dict[str, Drainer] = {}
    s3_drainer = Drainer(*s3)  # presigned URLs carry their own signature: no Authorization
    gets = _gets_per_rep(blob.size)
    seen: dict[str, dict[str, Any]] = {s.name: {"redirects": 0} for s in servers}

    def rep(s: Server) -> float:
        digest = _big_digest(ctx, s)
        if s.name not in drainers:  # untimed: the token is fetched here, once
            drainers[s.name] = _drainer(s, BIG_REPO)
        drainers[s.name].reconnect()  # untimed, as for pushes
        t0 = time.perf_counter()
        for _ in range(gets):
            redirect_pull_blob(drainers[s.name], s3_drainer, s3, digest, blob.size)
        t = time.perf_counter() - t0
        seen[s.name]["redirects"] += gets
        return t

    # Untimed proof, before any timing: a plain GET answers 307 to the S3 endpoint.
    for s in servers:
        try:
            with _drainer(s, BIG_REPO) as d:
                first = d.request("GET", f"/v2/{BIG_REPO}/blobs/{_big_digest(ctx, s)}")
            location = first.headers.get("location", "")
            seen[s.name].update({"first_status": first.status, "first_location": location})
            ctx.log(f"  {s.name}: first GET -> HTTP {first.status} Location {location[:90]}")
        except (RegistryError, OSError) as exc:
            seen[s.name]["first_error"] = repr(exc)
    try:
        out = _interleaved(ctx, servers, "redirect pull", rep, gets * blob.size)
    finally:
        for d in drainers.values():
            d.close()
        s3_drainer.close()
    for s in servers:
        o = out[s.name]
        o.detail.update({"gets_per_rep": gets, "s3_endpoint": f"{s3[0]}:{s3[1]}", **seen[s.name]})
        if seen[s.name].get("first_status") != 307 and not o.error:
            o.error = f"redirect not used: first GET answered {seen[s.name]}"
            o.value = None
    return out


def redirect_pull_blob(
    registry: Drainer, s3: Drainer, s3_hostport: tuple[str, int], digest: str, size: int
) -> int:
    """GET the blob from the registry, insist on a 307 to the S3 endpoint, follow it."""
    resp = registry.request("GET", f"/v2/{BIG_REPO}/blobs/{digest}")
    if resp.status != 307:
        raise RegistryError(f"GET blob: HTTP {resp.status}, wanted a 307 redirect")
    location = resp.headers.get("location", "")
    parts = urlsplit(location)
    if parts.scheme != "http" or (parts.hostname, parts.port) != s3_hostport:
        raise RegistryError(
            f"GET blob: Location {location[:120]!r} is not on the S3 endpoint "
            f"{s3_hostport[0]}:{s3_hostport[1]}"
        )
    got = s3.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""))
    if got.status != 200:
        raise RegistryError(f"GET presigned URL: HTTP {got.status}")
    if got.nbytes != size:
        raise RegistryError(f"GET presigned URL: got {got.nbytes} bytes, expected {size}")
    return got.nbytes


# --- 20 clients pulling one image --------------------------------------------------


def _ensure_image(ctx: Ctx, s: Server) -> bytes:
    st = ctx.st(s)
    if "image_manifest" not in st:
        _, fd, digests = ctx.layers()
        with _client(s, IMAGE_REPO) as c:
            manifest, _ = build_image(
                c,
                IMAGE_REPO,
                TAG,
                [(fd, i * LAYER_SIZE, LAYER_SIZE, d) for i, d in enumerate(digests)],
            )
        st["image_manifest"] = manifest
    return bytes(st["image_manifest"])


def _one_client(
    s: Server,
    digests: list[str],
    manifest: bytes,
    barrier: threading.Barrier,
    headers: dict[str, str],
) -> tuple[int, str | None]:
    """Manifest, then each layer in turn, on one kept-alive connection."""
    try:
        with Drainer(s.host, s.port, headers=headers) as d:
            d.connect()
            barrier.wait(timeout=60)
            total = 0
            m = d.request(
                "GET", f"/v2/{IMAGE_REPO}/manifests/{TAG}", headers={"Accept": OCI_MANIFEST}
            )
            if m.status != 200 or m.body != manifest:
                return total, f"manifest: HTTP {m.status}, {m.nbytes} bytes"
            total += m.nbytes
            for dg in digests:
                r = d.request("GET", f"/v2/{IMAGE_REPO}/blobs/{dg}")
                if r.status != 200 or r.nbytes != LAYER_SIZE:
                    return total, f"layer {dg[:19]}: HTTP {r.status}, {r.nbytes} bytes"
                total += r.nbytes
            return total, None
    except (RegistryError, OSError, threading.BrokenBarrierError) as exc:
        return 0, repr(exc)


def pull_many(ctx: Ctx, servers: list[Server]) -> dict[str, Outcome]:
    out = {s.name: Outcome(unit="MB/s") for s in servers}
    manifests: dict[str, bytes] = {}
    headers: dict[str, dict[str, str]] = {}  # all 20 clients share the one token
    for s in servers:
        try:
            manifests[s.name] = _ensure_image(ctx, s)
            headers[s.name] = s.auth_headers([IMAGE_REPO])
        except (RegistryError, OSError) as exc:
            out[s.name].error = f"image push (setup): {exc}"
    _, _, digests = ctx.layers()
    walls: dict[str, list[float]] = {s.name: [] for s in servers}
    cpus: dict[str, list[float]] = {s.name: [] for s in servers}
    for rep in range(ctx.reps):
        for s in servers:
            o = out[s.name]
            if o.error:
                continue
            manifest = manifests[s.name]
            nbytes = CLIENTS * (len(manifest) + LAYERS * LAYER_SIZE)
            os.sync()  # untimed, as in _interleaved
            # Connections are opened first; the clock starts when all are released.
            barrier = threading.Barrier(CLIENTS + 1)
            with ThreadPoolExecutor(CLIENTS) as pool:
                futures = [
                    pool.submit(_one_client, s, digests, manifest, barrier, headers[s.name])
                    for _ in range(CLIENTS)
                ]
                with contextlib.suppress(threading.BrokenBarrierError):
                    barrier.wait(timeout=60)
                c0 = _self_cpu()
                t0 = time.perf_counter()
                results = [f.result(timeout=900) for f in futures]
                wall = time.perf_counter() - t0
                cpus[s.name].append(_self_cpu() - c0)
            problems = [f"client {i}: {e}" for i, (_, e) in enumerate(results) if e]
            got = sum(n for n, _ in results)
            if problems or got != nbytes:
                o.error = f"rep {rep + 1}: {got} of {nbytes} bytes; " + "; ".join(problems[:3])
                ctx.log(f"  {s.name}: FAILED {o.error}")
                continue
            walls[s.name].append(wall)
            o.reps.append(nbytes / wall / MB)
            ctx.log(
                f"  {s.name} rep {rep + 1}: {nbytes / wall / MB:8.1f} MB/s aggregate, "
                f"wall {wall:.2f} s"
            )
    for s in servers:
        o = out[s.name]
        if o.reps and not o.error:
            o.value = statistics.median(o.reps)
            o.detail["wall_s"] = statistics.median(walls[s.name])
        o.detail.update(
            {
                "clients": CLIENTS,
                "layers": LAYERS,
                "layer_bytes": LAYER_SIZE,
                "walls_s": walls[s.name],
                "client_cpu_s": cpus[s.name],
                "tool": "20 threads, 1 keep-alive connection each: manifest then 5 layers",
            }
        )
    return out
