"""The web UI's big lists: the first page of a repository's tags when it has 100,000,
of a project's repositories when it has 10,000, and of a repository's artifacts when
it has 100,000 (in each order the UI offers) — the server time of the API call the UI
makes (target: under 300 ms), side by side with the Go registry answering the nearest
thing it has (`/v2/<name>/tags/list?n=50`, `/v2/_catalog?n=50`), and, with
`--browser`, the time headless Chromium takes from navigation to the rendered table.

Both registries are seeded in their own storage, not by pushing 210,000 manifests: one
real image is pushed to each, then Dockyard's database gets the other tags,
repositories and artifacts by SQL (rows like a push writes; a third of the artifacts
pulled) and the Go registry's folder the tag and repository directories its
filesystem driver reads. Dockyard runs on the embedded default (SQLite).

    .venv/bin/python bench/ui.py
    .venv/bin/python bench/ui.py --tags 100000 --repositories 10000 --artifacts 100000 --browser
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from credentials import Credentials
from images import push_image
from servers import dockyard_server, go_server


def log(message: str) -> None:
    print(f"[ui-bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def push_one(c: httpx.Client, repo: str) -> str:
    """A small image tagged `seed`; its manifest digest."""
    return push_image(c, repo, "seed", [os.urandom(1024)])


def seed_dockyard(db: Path, project: str, repo: str, tags: int, repositories: int) -> None:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with sqlite3.connect(db) as conn:
        (repo_id, project_id) = conn.execute(
            "SELECT id, project_id FROM repositories WHERE name = ?", (repo,)
        ).fetchone()
        (digest,) = conn.execute(
            "SELECT digest FROM manifests WHERE repository_id = ?", (repo_id,)
        ).fetchone()
        conn.executemany(
            "INSERT INTO tags (repository_id, name, manifest_digest, updated_at) "
            "VALUES (?, ?, ?, ?)",
            (
                (repo_id, f"v{i:06d}", digest, (now - dt.timedelta(seconds=i)).isoformat(sep=" "))
                for i in range(tags)
            ),
        )
        conn.executemany(
            "INSERT INTO repositories (name, created_at, project_id) VALUES (?, ?, ?)",
            (
                (f"{project}/svc-{i:05d}", now.isoformat(sep=" "), project_id)
                for i in range(repositories)
            ),
        )


def seed_artifacts(db: Path, repo: str, artifacts: int) -> None:
    """Manifests without blobs (their size is the manifest's), every third pulled."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    media_type = "application/vnd.oci.image.manifest.v1+json"
    with sqlite3.connect(db) as conn:
        (repo_id,) = conn.execute("SELECT id FROM repositories WHERE name = ?", (repo,)).fetchone()
        rows = []
        for i in range(artifacts):
            content = json.dumps({"schemaVersion": 2, "mediaType": media_type, "n": i}).encode()
            digest = "sha256:" + hashlib.sha256(content).hexdigest()
            when = (now - dt.timedelta(seconds=i)).isoformat(sep=" ")
            rows.append((repo_id, digest, media_type, 200 + (i * 7919) % 100_000, content, when))
        conn.executemany(
            "INSERT INTO manifests (repository_id, digest, media_type, size, content, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
        conn.executemany(
            "INSERT INTO artifact_pulls (repository_id, digest, pull_count, last_pulled_at) "
            "VALUES (?, ?, ?, ?)",
            ((repo_id, r[1], i % 50, r[5]) for i, r in enumerate(rows) if i % 3 == 0),
        )


def seed_go(root: Path, repo: str, tags: int, repositories: int) -> None:
    base = root / "docker" / "registry" / "v2" / "repositories"
    seeded = base / repo / "_manifests" / "tags" / "seed"
    link = (seeded / "current" / "link").read_bytes()
    for i in range(tags):
        d = base / repo / "_manifests" / "tags" / f"v{i:06d}" / "current"
        d.mkdir(parents=True)
        (d / "link").write_bytes(link)
    for i in range(repositories):
        (base / repo.split("/")[0] / f"svc-{i:05d}" / "_manifests").mkdir(parents=True)


def timed(c: httpx.Client, url: str, params: dict[str, Any], reps: int) -> dict[str, float]:
    c.get(url, params=params).raise_for_status()  # warm: connection, caches
    seconds = []
    for _ in range(reps):
        t0 = time.perf_counter()
        c.get(url, params=params).raise_for_status()
        seconds.append(time.perf_counter() - t0)
    seconds.sort()
    return {
        "median_ms": 1000 * statistics.median(seconds),
        "p95_ms": 1000 * seconds[int(0.95 * (len(seconds) - 1))],
    }


def browser_times(url: str, creds: Credentials, project: str, inner: str) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    args = [
        "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ]  # fmt: skip
    out: dict[str, float] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        page = browser.new_page()
        page.goto(f"{url}/#/login")
        page.fill("input[name=username]", creds.username)
        page.fill("input[name=password]", creds.password)
        page.click("button[type=submit]")
        page.wait_for_selector("text=New project")
        for name, hash_, expect in (
            ("tags page", f"#/projects/{project}/repositories/{inner}", "text=v000000"),
            ("repositories page", f"#/projects/{project}", f"text={project}/svc-00000"),
        ):
            page.goto(f"{url}/#/")
            page.wait_for_selector("text=New project")
            t0 = time.perf_counter()
            page.goto(f"{url}/{hash_}")
            page.wait_for_selector(expect)
            out[name] = 1000 * (time.perf_counter() - t0)
        browser.close()
    return out


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    creds = Credentials.generate()
    server = dockyard_server(work, credentials=creds)
    go = go_server(work)
    project, inner, many = "big", "app", "many"
    repo = f"{project}/{inner}"
    result: dict[str, Any] = {
        "tags": args.tags,
        "repositories": args.repositories,
        "artifacts": args.artifacts,
    }
    try:
        server.start()
        go.start()
        with (
            httpx.Client(
                base_url=server.url, auth=(creds.username, creds.password), timeout=60
            ) as c,
            httpx.Client(base_url=go.url, timeout=60) as g,
        ):
            c.post("/api/v1/projects", json={"name": project}).raise_for_status()
            push_one(c, repo)
            push_one(c, f"{project}/{many}")
            push_one(g, repo)
            log(
                f"seeding {args.tags} tags, {args.repositories} repositories and "
                f"{args.artifacts} artifacts"
            )
            db = server.data_dir / "dockyard.db"
            seed_dockyard(db, project, repo, args.tags, args.repositories)
            seed_artifacts(db, f"{project}/{many}", args.artifacts)
            seed_go(go.data_dir, repo, args.tags, args.repositories)
            api = f"/api/v1/projects/{project}/repositories"
            tags = f"{api}/{inner}/-/tags"
            artifacts = f"{api}/{many}/-/artifacts"
            page = {"page": 1, "page_size": 50}
            queries = {
                "tags, first page (-updated)": (tags, page),
                "tags, by name": (tags, {**page, "sort": "name"}),
                "tags, search": (tags, {**page, "q": "v0999"}),
                "tags, page 1000": (tags, {**page, "page": 1000}),
                "repositories, first page": (api, {"page": 1, "page_size": 25}),
                "repositories, search": (api, {"page": 1, "page_size": 25, "q": "svc-0999"}),
                "repositories, by last push": (
                    api,
                    {"page": 1, "page_size": 25, "sort": "-pushed"},
                ),
                "artifacts, first page (-pushed)": (artifacts, page),
                "artifacts, oldest first": (artifacts, {**page, "sort": "pushed"}),
                "artifacts, by size": (artifacts, {**page, "sort": "-size"}),
                "artifacts, by pulls": (artifacts, {**page, "sort": "-pulls"}),
                "artifacts, by last pull": (artifacts, {**page, "sort": "-pulled"}),
                "artifacts, digest search": (artifacts, {**page, "q": "ab12"}),
                "artifacts, page 1000": (artifacts, {**page, "page": 1000}),
            }
            result["dockyard"] = {
                name: timed(c, url, params, args.reps) for name, (url, params) in queries.items()
            }
            result["go"] = {
                "tags/list?n=50": timed(g, f"/v2/{repo}/tags/list", {"n": 50}, args.reps),
                "_catalog?n=50": timed(g, "/v2/_catalog", {"n": 50}, args.reps),
            }
        if args.browser:
            result["browser_ms"] = browser_times(server.url, creds, project, inner)
    finally:
        server.stop()
        go.stop()
    return result


def table(r: dict[str, Any]) -> str:
    lines = [f"{r['tags']} tags in one repository, {r['repositories']} repositories in a project, "
             f"{r['artifacts']} artifacts in another repository",
             f"{'':<44}{'median ms':>10}{'p95 ms':>9}"]  # fmt: skip
    for who in ("dockyard", "go"):
        for name, t in r[who].items():
            lines.append(f"{who + ': ' + name:<44}{t['median_ms']:>10.1f}{t['p95_ms']:>9.1f}")
    for name, ms in r.get("browser_ms", {}).items():
        lines.append(f"browser: {name} rendered in {ms:.0f} ms")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tags", type=int, default=100_000)
    parser.add_argument("--repositories", type=int, default=10_000)
    parser.add_argument("--artifacts", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--browser", action="store_true", help="also time Chromium's render")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dockyard-ui-bench-") as tmp:
        result = run(args, Path(tmp))
    print(json.dumps(result, indent=2) if args.json else table(result))


if __name__ == "__main__":
    main()
