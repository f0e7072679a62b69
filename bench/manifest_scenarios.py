"""Manifest scenarios: HEAD and GET of one small manifest under load (ab, wrk),
with Dockyard authenticating by bearer token, by basic auth on every request, or
anonymously on a public project."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from typing import Any, Literal

from client import (
    Client,
    RegistryError,
    build_image,
    get_manifest,
)
from loadgen import run_ab_head, run_wrk
from scenarios import PUBLIC_PROJECT, PUBLIC_REPO, SMALL_REPO, TAG, Ctx, Outcome, Skip, _client
from servers import Server

# --- manifests under load ----------------------------------------------------------

# How Dockyard's load requests authenticate (the Go registry's never do):
#   bearer     `Authorization: Bearer`, one token for the repository (docker, containerd)
#   basic      `Authorization: Basic admin:...` on every request (checked every time)
#   anonymous  no Authorization, on a public project
AuthMode = Literal["bearer", "basic", "anonymous"]


def _ensure_small_image(ctx: Ctx, s: Server, repo: str) -> bytes:
    st = ctx.st(s)
    key = f"small_manifest:{repo}"
    if key not in st:
        data = os.urandom(4096)
        path = ctx.workdir / "small-layer.bin"
        path.write_bytes(data)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        fd = os.open(path, os.O_RDONLY)
        try:
            with _client(s, repo) as c:
                manifest, _ = build_image(c, repo, TAG, [(fd, 0, len(data), digest)])
        finally:
            os.close(fd)
        st[key] = manifest
    return bytes(st[key])


def _preflight(s: Server, method: str, repo: str, manifest: bytes, headers: dict[str, str]) -> None:
    """The exact request the load tool will send must answer 200 with the manifest."""
    with Client(s.url, headers=headers) as c:
        resp = get_manifest(c, repo, TAG, method)
    if resp.status != 200:
        raise RegistryError(f"preflight {method}: HTTP {resp.status} (need 200)")
    if method == "GET" and resp.body != manifest:
        raise RegistryError("preflight GET: body differs from the pushed manifest")
    if resp.headers.get("Content-Length") != str(len(manifest)):
        raise RegistryError(
            f"preflight {method}: Content-Length {resp.headers.get('Content-Length')}"
            f" != {len(manifest)}"
        )


def _load_headers(s: Server, mode: AuthMode, repo: str) -> dict[str, str]:
    if mode == "bearer":
        return s.auth_headers([repo])
    if mode == "basic":
        return s.basic_headers()
    return {}


def _ensure_public_project(ctx: Ctx, s: Server, name: str) -> None:
    """Dockyard: `POST /api/v1/projects {"name", "public": true}` with basic admin
    credentials (409: already there). Skip if the management API does not exist yet."""
    st = ctx.st(s)
    if s.credentials is None or st.get(f"public_project:{name}"):
        return
    body = json.dumps({"name": name, "public": True}).encode()
    with Client(s.url, headers=s.basic_headers()) as c:
        resp = c.request(
            "POST", "/api/v1/projects", headers={"Content-Type": "application/json"}, body=body
        )
    if resp.status in (404, 405, 501):
        raise Skip(f"no management API yet (POST /api/v1/projects: HTTP {resp.status})")
    if resp.status not in (200, 201, 409):
        snippet = resp.body[:300].decode(errors="replace")
        raise RegistryError(f"POST /api/v1/projects: HTTP {resp.status} {snippet}")
    st[f"public_project:{name}"] = True


def _load(
    ctx: Ctx, method: str, url: str, duration: int, headers: dict[str, str]
) -> dict[str, Any]:
    if method == "GET":
        return run_wrk(ctx.workdir, url, duration, headers)
    return run_ab_head(url, duration, headers)


def _manifest_load(
    ctx: Ctx, servers: list[Server], method: str, mode: AuthMode = "bearer"
) -> dict[str, Outcome]:
    tool = "wrk" if method == "GET" else "ab"
    repo = PUBLIC_REPO if mode == "anonymous" else SMALL_REPO
    out: dict[str, Outcome] = {}
    if mode == "anonymous":
        # Every server or none: the figures are compared side by side.
        for s in servers:
            try:
                _ensure_public_project(ctx, s, PUBLIC_PROJECT)
            except Skip as exc:
                ctx.log(f"  skipped on every registry: {s.name} has {exc}")
                return {x.name: Outcome(unit="req/s", error=f"skipped: {exc}") for x in servers}
            except (RegistryError, OSError) as exc:
                out[s.name] = Outcome(unit="req/s", error=f"public project: {exc}")
                ctx.log(f"  {s.name}: FAILED {out[s.name].error}")
    for s in servers:
        if s.name in out:
            continue
        o = out[s.name] = Outcome(unit="req/s")
        if shutil.which(tool) is None:
            o.error = f"{tool} not installed"
            if tool == "ab":
                o.error += " (apt-get install apache2-utils)"
            continue
        url = f"{s.url}/v2/{repo}/manifests/{TAG}"
        auth = mode if s.credentials is not None else "none"
        try:
            manifest = _ensure_small_image(ctx, s, repo)  # pushed with a bearer token
            headers = _load_headers(s, mode, repo)
            _preflight(s, method, repo, manifest, headers)
            os.sync()  # untimed: no writeback from earlier scenarios during the load
            if ctx.warmup:
                _load(ctx, method, url, ctx.warmup, headers)
            res = _load(ctx, method, url, ctx.duration, headers)
            _preflight(s, method, repo, manifest, headers)  # still serving correctly
        except (RegistryError, OSError, subprocess.TimeoutExpired) as exc:
            o.error = f"manifest {method} ({auth}): {exc}"
            ctx.log(f"  {s.name}: FAILED {o.error}")
            continue
        res["auth"] = auth
        res["repository"] = repo
        o.detail = res
        o.reps = [res["rps"]]
        if "failure" in res:
            o.error = res["failure"]
            ctx.log(f"  {s.name}: FAILED {o.error} ({res['rps']:.0f} req/s not counted)")
        else:
            o.value = res["rps"]
            ctx.log(f"  {s.name}: {res['rps']:9.0f} req/s  ({res['tool']}, auth: {auth})")
    return out


def manifest_head(ctx: Ctx, servers: list[Server]) -> dict[str, Outcome]:
    return _manifest_load(ctx, servers, "HEAD")


def manifest_get(ctx: Ctx, servers: list[Server]) -> dict[str, Outcome]:
    return _manifest_load(ctx, servers, "GET")


def manifest_get_basic(ctx: Ctx, servers: list[Server]) -> dict[str, Outcome]:
    """As manifest-get, but Dockyard gets basic credentials on every request instead
    of a bearer token: what that costs it. The Go registry's load is unchanged."""
    return _manifest_load(ctx, servers, "GET", "basic")


def manifest_get_anon(ctx: Ctx, servers: list[Server]) -> dict[str, Outcome]:
    """As manifest-get, with no credentials, on a public Dockyard project."""
    return _manifest_load(ctx, servers, "GET", "anonymous")
