"""gzip against zstd for image layers, side by side: bytes, compress time, and pull +
unpack time from a running Dockyard.

The layer is a tar of real-looking files, built deterministically (`--source
generated`, the default: text files of words and config-like lines, binaries of
skewed bytes with zero padding and repeated blocks, a few incompressible blobs, the
mix of a Debian rootfs), or the files under /usr on this machine up to the size
(`--source usr`, sorted, so the same machine gives the same tar). It is compressed
as docker does (gzip level 6) and as podman/containerd do (zstd level 3), each in one
thread. Both blobs are pushed to a Dockyard started for the run, then each is pulled
`--runs` times: GET the blob, decompress while it streams, read every tar member to
the end (what unpacking costs, minus the disk; both decompressors fed 1 MiB at a
time): the median is reported. With
`--convert`, the server's own `convert.zstd` job converts the gzip image too (its
wall time from the job's started/finished).

    .venv/bin/python bench/zstd.py                       # a 64 MiB generated layer
    .venv/bin/python bench/zstd.py --size-mib 128 --source usr --convert
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import hashlib
import io
import json
import random
import statistics
import sys
import tarfile
import tempfile
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import zstandard
from credentials import Credentials
from servers import dockyard_server

MIB = 1 << 20
GZIP_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
ZSTD_LAYER = "application/vnd.oci.image.layer.v1.tar+zstd"
_WORDS = (
    "the of and to in is for on that with as by this be are from at or an it not "
    "which config value default option path file user system error warning info "
    "debug return function class import export module package version license "
    "copyright free software include define static const void int char struct "
    "unsigned long size_t buffer length http https server client request response "
    "header content type application json yaml "
)
WORDS = _WORDS.split()


def log(message: str) -> None:
    print(f"[zstd-bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- the layer ------------------------------------------------------------------------


def _text(rng: random.Random, size: int) -> bytes:
    lines: list[str] = []
    held = 0
    while held < size:
        if rng.random() < 0.3:
            line = f"{rng.choice(WORDS)}_{rng.choice(WORDS)} = {rng.randint(0, 99999)}"
        else:
            line = " ".join(rng.choices(WORDS, k=rng.randint(3, 14)))
        lines.append(line)
        held += len(line) + 1
    return ("\n".join(lines) + "\n").encode()[:size]


def _binary(rng: random.Random, size: int) -> bytes:
    """Machine-code-like: short "instructions" drawn with skewed weights from a pool,
    zero-padded sections, a string table (about as compressible as a shared library)."""
    pool = [rng.randbytes(rng.randint(1, 7)) for _ in range(4096)]
    weights = [1.0 / (i + 1) for i in range(len(pool))]
    parts: list[bytes] = []
    held = 0
    while held < size:
        roll = rng.random()
        if roll < 0.05:
            part = bytes(rng.randint(16, 4096))  # alignment padding
        elif roll < 0.15:
            part = "\0".join(rng.choices(WORDS, k=rng.randint(8, 64))).encode()  # symbols
        else:
            part = b"".join(rng.choices(pool, weights, k=rng.randint(64, 1024)))
        parts.append(part)
        held += len(part)
    return b"".join(parts)[:size]


def _generated(size: int, seed: int) -> Iterator[tuple[str, bytes]]:
    rng = random.Random(seed)
    held = 0
    i = 0
    while held < size:
        roll = rng.random()
        if roll < 0.55:
            name, data = (
                f"usr/share/doc/pkg{i % 97}/file{i}.txt",
                _text(rng, rng.randint(200, 64 << 10)),
            )
        elif roll < 0.93:
            name, data = (
                f"usr/lib/x86_64-linux-gnu/lib{i}.so",
                _binary(rng, rng.randint(4 << 10, 1 << 20)),
            )
        else:
            name, data = (
                f"usr/share/images/blob{i}.png",
                rng.randbytes(rng.randint(8 << 10, 256 << 10)),
            )
        yield name, data
        held += len(data)
        i += 1


def _usr(size: int) -> Iterator[tuple[str, bytes]]:
    held = 0
    for path in sorted(Path("/usr").rglob("*")):
        if held >= size:
            return
        try:
            if not path.is_file() or path.is_symlink():
                continue
            data = path.read_bytes()
        except OSError:
            continue
        yield str(path).lstrip("/"), data
        held += len(data)


def build_tar(path: Path, source: str, size: int, seed: int) -> tuple[int, int]:
    """Write the tar; (its bytes, its files)."""
    files = _generated(size, seed) if source == "generated" else _usr(size)
    count = 0
    with path.open("wb") as f, tarfile.open(fileobj=f, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 1_000_000_000
            tar.addfile(info, io.BytesIO(data))
            count += 1
    return path.stat().st_size, count


# -- compression ------------------------------------------------------------------------


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(MIB):
            yield chunk


def compress_gzip(src: Path, dst: Path, level: int) -> float:
    t0 = time.perf_counter()
    with (
        dst.open("wb") as out,
        gzip.GzipFile(fileobj=out, mode="wb", compresslevel=level, mtime=0) as gz,
    ):
        for chunk in _chunks(src):
            gz.write(chunk)
    return time.perf_counter() - t0


def compress_zstd(src: Path, dst: Path, level: int) -> float:
    t0 = time.perf_counter()
    cobj = zstandard.ZstdCompressor(level=level, write_checksum=True).compressobj()
    with dst.open("wb") as out:
        for chunk in _chunks(src):
            out.write(cobj.compress(chunk))
        out.write(cobj.flush())
    return time.perf_counter() - t0


def digest_file(path: Path) -> str:
    h = hashlib.sha256()
    for chunk in _chunks(path):
        h.update(chunk)
    return "sha256:" + h.hexdigest()


# -- pull + unpack ------------------------------------------------------------------------


class _Body(io.RawIOBase):
    """A blocking reader over a streamed HTTP body (what the decompressors read)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._buf:
            try:
                self._buf = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def _unpack(stream: IO[bytes]) -> int:
    """Read every member of the tar to its end; the content bytes read."""
    read = 0
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            f = tar.extractfile(member)
            if f is None:
                continue
            while chunk := f.read(MIB):
                read += len(chunk)
    return read


class _Inflate(io.RawIOBase):
    """Decompressed bytes of a compressed reader, 1 MiB of input at a time (a client
    reads layers this way, not in gzip.GzipFile's 8 KiB pieces)."""

    def __init__(self, raw: IO[bytes], kind: str) -> None:
        self._raw = raw
        self._d: Any = (
            zlib.decompressobj(16 + zlib.MAX_WBITS)
            if kind == "gzip"
            else zstandard.ZstdDecompressor().decompressobj()
        )
        self._buf = b""
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._buf and not self._eof:
            chunk = self._raw.read(MIB)
            if not chunk:
                self._eof = True
                break
            self._buf = self._d.decompress(chunk)
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def pull_unpack(client: httpx.Client, repo: str, digest: str, kind: str) -> tuple[float, int]:
    t0 = time.perf_counter()
    with client.stream("GET", f"/v2/{repo}/blobs/{digest}") as r:
        r.raise_for_status()
        raw = io.BufferedReader(_Body(r.iter_bytes(MIB)), MIB)
        read = _unpack(io.BufferedReader(_Inflate(raw, kind), MIB))
    return time.perf_counter() - t0, read


def push(client: httpx.Client, repo: str, path: Path, digest: str) -> None:
    r = client.post(
        f"/v2/{repo}/blobs/uploads/",
        params={"digest": digest},
        content=_chunks(path),
        headers={"Content-Length": str(path.stat().st_size)},
    )
    r.raise_for_status()


def push_image(
    client: httpx.Client, repo: str, tag: str, layer: tuple[str, int], diff_id: str
) -> None:
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
    ).encode()
    config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
    client.post(
        f"/v2/{repo}/blobs/uploads/", params={"digest": config_digest}, content=config
    ).raise_for_status()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": len(config),
        },
        "layers": [{"mediaType": GZIP_LAYER, "digest": layer[0], "size": layer[1]}],
    }
    client.put(
        f"/v2/{repo}/manifests/{tag}",
        content=json.dumps(manifest).encode(),
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    ).raise_for_status()


def convert_job(client: httpx.Client, zstd_level: int) -> float:
    r = client.post(
        "/api/v1/projects/bench/repositories/layer/-/artifacts/gzip/convert",
        json={"target_tag": "zstd", "level": zstd_level},
    )
    r.raise_for_status()
    job_id = r.json()["job_id"]
    deadline = time.monotonic() + 1800
    while True:
        job = client.get(f"/api/v1/jobs/{job_id}").json()
        if job["state"] not in ("queued", "running"):
            break
        if time.monotonic() > deadline:
            raise RuntimeError("the conversion took more than 30 minutes")
        time.sleep(0.2)  # polling a job the server's worker runs
    if job["state"] != "succeeded":
        raise RuntimeError(f"convert job {job['state']}: {job.get('last_error')}")
    started = dt.datetime.fromisoformat(job["started_at"])
    return (dt.datetime.fromisoformat(job["finished_at"]) - started).total_seconds()


# -- the run ------------------------------------------------------------------------------


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    tar = work / "layer.tar"
    log(f"building a {args.size_mib} MiB tar ({args.source})")
    tar_bytes, files = build_tar(tar, args.source, args.size_mib * MIB, args.seed)
    diff_id = digest_file(tar)
    rows: dict[str, dict[str, Any]] = {}
    for kind, level, fn in (
        ("gzip", args.gzip_level, compress_gzip),
        ("zstd", args.zstd_level, compress_zstd),
    ):
        out = work / f"layer.tar.{kind}"
        seconds = fn(tar, out, level)
        rows[kind] = {
            "level": level,
            "bytes": out.stat().st_size,
            "ratio": tar_bytes / out.stat().st_size,
            "compress_s": seconds,
            "path": out,
            "digest": digest_file(out),
        }
        log(f"{kind} {level}: {out.stat().st_size} bytes in {seconds:.2f} s")
    creds = Credentials.generate()
    server = dockyard_server(work, credentials=creds)
    result: dict[str, Any] = {"tar_bytes": tar_bytes, "files": files, "source": args.source}
    try:
        server.start()
        with httpx.Client(
            base_url=server.url, auth=(creds.username, creds.password), timeout=600
        ) as c:
            c.post("/api/v1/projects", json={"name": "bench", "public": False}).raise_for_status()
            for row in rows.values():
                push(c, "bench/layer", row["path"], row["digest"])
            for kind, row in rows.items():
                times = []
                for _ in range(args.runs):
                    seconds, read = pull_unpack(c, "bench/layer", row["digest"], kind)
                    times.append(seconds)
                row["pull_unpack_s"] = statistics.median(times)
                row["content_bytes"] = read
                log(f"{kind}: pull + unpack {row['pull_unpack_s']:.2f} s (median of {args.runs})")
            if args.convert:
                push_image(
                    c,
                    "bench/layer",
                    "gzip",
                    (rows["gzip"]["digest"], rows["gzip"]["bytes"]),
                    diff_id,
                )
                result["convert_job_s"] = convert_job(c, args.zstd_level)
                log(f"convert.zstd job: {result['convert_job_s']:.2f} s")
    finally:
        server.stop()
    result["rows"] = {k: {x: y for x, y in v.items() if x != "path"} for k, v in rows.items()}
    return result


def table(result: dict[str, Any]) -> str:
    mib = result["tar_bytes"] / MIB
    lines = [
        f"layer: {mib:.1f} MiB tar, {result['files']} files ({result['source']})",
        "",
        "| format | level | bytes | ratio | compress s | MB/s | pull + unpack s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for kind, row in result["rows"].items():
        lines.append(
            f"| {kind} | {row['level']} | {row['bytes']:,} | {row['ratio']:.2f} | "
            f"{row['compress_s']:.2f} | {result['tar_bytes'] / row['compress_s'] / 1e6:.0f} | "
            f"{row['pull_unpack_s']:.2f} |"
        )
    gz, zs = result["rows"]["gzip"], result["rows"]["zstd"]
    lines += [
        "",
        f"zstd/gzip: {zs['bytes'] / gz['bytes']:.1%} of the bytes, "
        f"{zs['compress_s'] / gz['compress_s']:.1%} of the compress time, "
        f"{zs['pull_unpack_s'] / gz['pull_unpack_s']:.1%} of the pull + unpack time",
    ]
    if "convert_job_s" in result:
        lines.append(
            f"convert.zstd job on the server (gzip -> zstd): {result['convert_job_s']:.2f} s"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mib", type=int, default=64, help="uncompressed layer size")
    parser.add_argument("--source", choices=["generated", "usr"], default="generated")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--gzip-level", type=int, default=6, help="docker's level")
    parser.add_argument("--zstd-level", type=int, default=3, help="podman/containerd's level")
    parser.add_argument("--runs", type=int, default=3, help="pulls per format (median)")
    parser.add_argument("--convert", action="store_true", help="also time the convert.zstd job")
    parser.add_argument("--json", action="store_true", help="print JSON, not a table")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dockyard-zstd-bench-") as tmp:
        result = run(args, Path(tmp))
    print(json.dumps(result, indent=2) if args.json else table(result))


if __name__ == "__main__":
    main()
