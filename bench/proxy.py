"""Proxy-cache benchmark (issue 12):

    cold pull time to first byte and throughput of a big blob through the proxy vs
    straight from the upstream; upstream egress for 20 concurrent cold pulls of an
    image ÷ the image's size (target ≤ 1.05)

    .venv/bin/python bench/proxy.py --size-mib 200 --layers 4 --clients 20

The upstream is a real Dockyard server (token auth) on 127.0.0.1, started and stopped
by PID. The proxy is the Dockyard app in this process, driven at the ASGI interface
(no socket: the response's first body chunk and its bytes are timed as they leave the
app), fetching from the upstream over loopback TCP with the stored endpoint's client
(dockyard.remote.client). Upstream egress is read from the upstream's
access log (bytes_out of its blob GETs), not from the proxy's counters. A JSON record
goes to bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def log(message: str) -> None:
    print(f"[proxy-bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def push_image(server: Any, repo: str, layers: int, layer_bytes: int) -> tuple[str, list[str]]:
    import hashlib

    import httpx
    from tests.spec.helpers import put_manifest

    descs = []
    with server.client(timeout=600.0) as c:
        for _ in range(layers):
            data = os.urandom(layer_bytes)
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            answer = c.post(
                f"/v2/{repo}/blobs/uploads/",
                params={"digest": digest},
                content=data,
                headers={"Content-Type": "application/octet-stream"},
            )
            assert answer.status_code == 201, answer.text
            descs.append(
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": digest,
                    "size": layer_bytes,
                }
            )
        config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
        cfg = "sha256:" + hashlib.sha256(config).hexdigest()
        assert (
            c.post(
                f"/v2/{repo}/blobs/uploads/",
                params={"digest": cfg},
                content=config,
                headers={"Content-Type": "application/octet-stream"},
            ).status_code
            == 201
        )
        body = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": cfg,
                    "size": len(config),
                },
                "layers": descs,
            }
        ).encode()
        answer = put_manifest(c, repo, "v1", body)
        assert answer.status_code == 201, answer.text
        del httpx
        return cfg, [d["digest"] for d in descs]


def direct(server: Any, repo: str, digest: str) -> tuple[float, float, int]:
    """(ttfb s, total s, bytes) of a blob GET straight from the upstream."""
    with server.client(timeout=600.0) as c:
        c.head(f"/v2/{repo}/blobs/{digest}")  # the token, outside the timing
        t0 = time.perf_counter()
        first = None
        n = 0
        with c.stream("GET", f"/v2/{repo}/blobs/{digest}") as r:
            for chunk in r.iter_raw(1 << 20):
                if first is None:
                    first = time.perf_counter() - t0
                n += len(chunk)
        return first or 0.0, time.perf_counter() - t0, n


async def asgi_get(app: Any, path: str, auth: str) -> tuple[int, float, float, int]:
    """(status, ttfb s, total s, bytes) of one GET answered by the app in process."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1:5000"),
            (b"authorization", auth.encode()),
            (b"accept", b"application/vnd.oci.image.manifest.v1+json"),
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 5000),
        "extensions": {},
    }
    status = 0
    first: float | None = None
    n = 0
    t0 = time.perf_counter()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, first, n
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            body = message.get("body", b"")
            if body and first is None:
                first = time.perf_counter() - t0
            n += len(body)

    await app(scope, receive, send)
    return status, first or 0.0, time.perf_counter() - t0, n


def egress(server: Any, repo: str) -> int:
    total = 0
    for line in server.log().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if (
            entry.get("method") == "GET"
            and f"/v2/{repo}/blobs/" in str(entry.get("path"))
            and entry.get("status") == 200
        ):
            total += int(entry.get("bytes_out", 0))
    return total


async def main_async(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import base64

    from tests.inprocess.conftest import ADMIN, running
    from tests.support.server import run_server

    from dockyard.proxy.capability import capability
    from dockyard.remote.capability import capability as registries
    from dockyard.remote.service import endpoints

    layer_bytes = args.size_mib * (1 << 20) // args.layers
    env = {"DOCKYARD__SERVER__ACCESS_LOG": "true"}
    with run_server(work / "upstream" / "data", workers=2, env=env) as up:
        log(f"pushing two images of {args.layers} x {layer_bytes >> 20} MiB to the upstream")
        _, single = await asyncio.to_thread(push_image, up, "bench/one", args.layers, layer_bytes)
        _, many = await asyncio.to_thread(push_image, up, "bench/many", args.layers, layer_bytes)
        d_ttfb, d_total, d_bytes = await asyncio.to_thread(direct, up, "bench/one", single[0])
        auth = "Basic " + base64.b64encode(f"{ADMIN[0]}:{ADMIN[1]}".encode()).decode()
        (work / "proxy").mkdir()
        async with running(work / "proxy", [registries(), capability()]) as r:
            async with r.client(ADMIN) as admin:
                stored = await admin.post(
                    "/api/v1/registries",
                    json={
                        "name": "up",
                        "url": up.url,
                        "kind": "dockyard",
                        "username": up.admin[0],
                        "password": up.admin[1],
                    },
                )
                assert stored.status_code == 201, stored.text
                made = await admin.post(
                    "/api/v1/proxy/caches", json={"project": "px", "endpoint": "up"}
                )
                assert made.status_code == 201, made.text
            # the upstream token outside the timing, as for the direct pull (its
            # password check is most of a first request's time)
            stored_endpoints = endpoints(r.app.services)
            remote = stored_endpoints.remote(await stored_endpoints.get("up"))
            assert await remote.head_blob("bench/one", single[0]) == layer_bytes
            status, p_ttfb, p_total, p_bytes = await asgi_get(
                r.app, f"/v2/px/bench/one/blobs/{single[0]}", auth
            )
            assert status == 200 and p_bytes == layer_bytes, (status, p_bytes)
            log(f"{args.clients} concurrent cold pulls of bench/many")
            t0 = time.perf_counter()

            async def pull() -> int:
                got = 0
                status, *_ = await asgi_get(r.app, "/v2/px/bench/many/manifests/v1", auth)
                assert status == 200
                for digest in many:
                    status, _, _, n = await asgi_get(
                        r.app, f"/v2/px/bench/many/blobs/{digest}", auth
                    )
                    assert status == 200, status
                    got += n
                return got

            served = await asyncio.gather(*(pull() for _ in range(args.clients)))
            wall = time.perf_counter() - t0
            await r.app.services.extensions["proxy"].settle()
        image = layer_bytes * args.layers
        out = egress(up, "bench/many")
    mib = 1 << 20
    return {
        "layer_mib": layer_bytes / mib,
        "direct": {"ttfb_ms": d_ttfb * 1000, "mib_s": d_bytes / mib / d_total},
        "proxy_cold": {"ttfb_ms": p_ttfb * 1000, "mib_s": p_bytes / mib / p_total},
        "concurrent": {
            "clients": args.clients,
            "image_mib": image / mib,
            "served_mib": sum(served) / mib,
            "wall_s": wall,
            "upstream_egress_mib": out / mib,
            "egress_ratio": out / image,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=200, help="image size (MiB)")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--json", type=Path, default=None, help="where the record goes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="proxy-bench-") as tmp:
        result = asyncio.run(main_async(args, Path(tmp)))
    print(json.dumps(result, indent=2))
    target = args.json or HERE / "results" / f"proxy-{time.strftime('%Y%m%d-%H%M%S')}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(result, indent=2))
    ratio = result["concurrent"]["egress_ratio"]
    log(f"upstream egress ÷ image size: {ratio:.3f} ({'ok' if ratio <= 1.05 else 'OVER'} ≤ 1.05)")


if __name__ == "__main__":
    main()
