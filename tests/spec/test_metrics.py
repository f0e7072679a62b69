"""/metrics against a real server: every series moves by what was done to the registry."""

from __future__ import annotations

import base64
import fcntl
import glob
import json
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.spec.helpers import OCI_MANIFEST, push_image, sha256, unique_repo
from tests.support.server import RunningServer, run_server

MANIFESTS = "/v2/{name}/manifests/{reference}"
UPLOADS = "/v2/{name}/blobs/uploads/"
UPLOAD = "/v2/{name}/blobs/uploads/{upload_id}"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: httpx.Client) -> Samples:
    r = client.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    out: Samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def requests(samples: Samples, route: str, method: str, status: int) -> float:
    return value(
        samples, "dockyard_http_requests_total", route=route, method=method, status=str(status)
    )


def settle(client: httpx.Client, done: Callable[[Samples], bool], timeout: float = 5.0) -> Samples:
    """Scrape until `done` holds. A request is counted just after its last byte went
    out, so a scrape sent the instant a response arrived may be a moment early."""
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(client)
        if done(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.02)


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    base = tmp_path_factory.mktemp("metrics-1")
    env = {"DOCKYARD__SERVER__ACCESS_LOG": "true", "DOCKYARD__SERVER__LOG_FORMAT": "json"}
    with run_server(base / "data", workers=1, env=env) as srv:
        yield srv


@pytest.fixture
def mclient(one_worker: RunningServer) -> Iterator[httpx.Client]:
    with one_worker.client(timeout=30.0) as c:
        yield c


def test_http_requests_by_route_template_status_and_bytes(mclient: httpx.Client) -> None:
    repo = unique_repo("metrics")
    before = scrape(mclient)

    config = json.dumps({"architecture": "amd64", "os": "linux", "n": repo}).encode()
    layer = os.urandom(3000)
    for blob in (config, layer):
        r = mclient.post(
            f"/v2/{repo}/blobs/uploads/", params={"digest": sha256(blob)}, content=blob
        )
        assert r.status_code == 201
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha256(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": sha256(layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    r = mclient.put(
        f"/v2/{repo}/manifests/v1", content=manifest, headers={"Content-Type": OCI_MANIFEST}
    )
    assert r.status_code == 201
    for _ in range(2):
        r = mclient.get(f"/v2/{repo}/manifests/v1", headers={"Accept": OCI_MANIFEST})
        assert r.status_code == 200 and r.content == manifest
    missing = mclient.get(f"/v2/{repo}/manifests/nosuchtag")
    assert missing.status_code == 404
    assert mclient.get("/no/such/endpoint").status_code == 404
    assert mclient.request("BREW", f"/v2/{repo}/manifests/v1").status_code == 405

    def moved(after: Samples, route: str, method: str, status: int) -> float:
        return requests(after, route, method, status) - requests(before, route, method, status)

    after = settle(mclient, lambda s: moved(s, MANIFESTS, "other", 405) >= 1)
    assert moved(after, UPLOADS, "POST", 201) == 2
    assert moved(after, MANIFESTS, "PUT", 201) == 1
    assert moved(after, MANIFESTS, "GET", 200) == 2
    assert moved(after, MANIFESTS, "GET", 404) == 1
    assert moved(after, "unmatched", "GET", 404) == 1
    assert moved(after, MANIFESTS, "other", 405) == 1

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("dockyard_http_request_bytes_total", route=UPLOADS, method="POST") == len(
        config
    ) + len(layer)
    assert delta("dockyard_http_request_bytes_total", route=MANIFESTS, method="PUT") == len(
        manifest
    )
    assert delta("dockyard_http_response_bytes_total", route=MANIFESTS, method="GET") == 2 * len(
        manifest
    ) + len(missing.content)
    hist = "dockyard_http_request_duration_seconds"
    assert delta(f"{hist}_count", route=MANIFESTS, method="GET") == 3
    assert delta(f"{hist}_bucket", route=MANIFESTS, method="GET", le="+Inf") == 3
    assert delta(f"{hist}_sum", route=MANIFESTS, method="GET") > 0
    # bounded cardinality: no label anywhere carries a path or a repository name
    for _, labels in after:
        for _, v in labels:
            assert repo not in v and "/no/such" not in v


def test_uploads_storage_and_active_sessions(mclient: httpx.Client) -> None:
    repo = unique_repo("metrics")
    before = scrape(mclient)

    def delta(after: Samples, name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    data = os.urandom(5000)
    r = mclient.post(f"/v2/{repo}/blobs/uploads/")
    assert r.status_code == 202
    location = r.headers["Location"]
    open_now = scrape(mclient)
    assert delta(open_now, "dockyard_upload_sessions_active") == 1
    assert delta(open_now, "dockyard_uploads_started_total") == 1
    r = mclient.patch(
        location,
        content=data,
        headers={"Content-Type": "application/octet-stream", "Content-Range": "0-4999"},
    )
    assert r.status_code == 202
    r = mclient.put(location, params={"digest": sha256(data)})
    assert r.status_code == 201

    # a session whose content does not match its digest, and a monolithic one
    r = mclient.post(f"/v2/{repo}/blobs/uploads/")
    bad = r.headers["Location"]
    r = mclient.put(bad, params={"digest": sha256(b"other")}, content=b"some bytes")
    assert r.status_code == 400
    r = mclient.post(
        f"/v2/{repo}/blobs/uploads/", params={"digest": sha256(b"x")}, content=b"not x"
    )
    assert r.status_code == 400

    after = settle(mclient, lambda s: delta(s, "dockyard_uploads_failed_total") >= 2)
    assert delta(after, "dockyard_uploads_started_total") == 3
    assert delta(after, "dockyard_uploads_completed_total") == 1
    assert delta(after, "dockyard_uploads_failed_total") == 2
    assert delta(after, "dockyard_upload_sessions_active") == 0
    assert requests(after, UPLOAD, "PATCH", 202) - requests(before, UPLOAD, "PATCH", 202) == 1
    assert requests(after, UPLOAD, "PUT", 201) - requests(before, UPLOAD, "PUT", 201) == 1

    ops = "dockyard_storage_operations_total"
    fs = {"driver": "filesystem"}
    for op in ("writer", "write", "commit", "move", "delete"):
        assert delta(after, ops, **fs, op=op) >= 1, op
    # committing a new blob stats its target, which is not there yet: an answer, not an error
    assert delta(after, ops, **fs, op="stat") >= 1
    assert delta(after, "dockyard_storage_errors_total", **fs, op="stat") == 0
    assert delta(after, "dockyard_storage_operation_duration_seconds_count", **fs, op="move") >= 1
    # every (driver, op) series exists from the start, errors included
    assert ("dockyard_storage_errors_total", frozenset({**fs, "op": "ping"}.items())) in after


def test_cache_hits_db_pool_process_and_build_info(mclient: httpx.Client) -> None:
    repo = unique_repo("metrics")
    push_image(mclient, repo, "v1")
    before = scrape(mclient)
    for _ in range(5):
        r = mclient.head(f"/v2/{repo}/manifests/v1", headers={"Accept": OCI_MANIFEST})
        assert r.status_code == 200
    after = settle(
        mclient,
        lambda s: (
            requests(s, MANIFESTS, "HEAD", 200) - requests(before, MANIFESTS, "HEAD", 200) >= 5
        ),
    )
    hits = value(after, "dockyard_cache_requests_total", result="hit") - value(
        before, "dockyard_cache_requests_total", result="hit"
    )
    misses = value(after, "dockyard_cache_requests_total", result="miss") - value(
        before, "dockyard_cache_requests_total", result="miss"
    )
    assert hits + misses == 5
    assert hits >= 4  # only the first lookup after the push may go to the database

    assert ("dockyard_db_pool_connections", frozenset({("state", "in_use")})) in after
    idle = value(after, "dockyard_db_pool_connections", state="idle")
    assert idle >= 1  # the pool keeps the connections those requests used
    assert value(after, "dockyard_build_info", version="0.1.0") == 1
    assert value(after, "process_resident_memory_bytes") > 0
    assert value(after, "process_cpu_seconds_total") > 0


def test_openmetrics_when_asked(mclient: httpx.Client) -> None:
    r = mclient.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/openmetrics-text")
    assert r.text.endswith("# EOF\n")


def test_logs_carry_request_id_and_access_fields(
    one_worker: RunningServer, mclient: httpx.Client
) -> None:
    repo = unique_repo("metrics")
    push_image(mclient, repo, "v1")
    r = mclient.head(f"/v2/{repo}/manifests/v1", headers={"X-Request-ID": "rid-head-1"})
    assert r.status_code == 200 and r.headers["x-request-id"] == "rid-head-1"
    missing = mclient.get(f"/v2/{repo}/manifests/missing", headers={"X-Request-ID": "rid-404-1"})
    assert missing.status_code == 404
    # a PATCH whose client goes away mid-body: the server logs the disconnect
    r = mclient.post(f"/v2/{repo}/blobs/uploads/")
    location = r.headers["Location"]
    with socket.create_connection((one_worker.host, one_worker.port)) as sock:
        sock.sendall(
            f"PATCH {location} HTTP/1.1\r\nHost: {one_worker.hostport}\r\n"
            f"Authorization: {_basic(one_worker.login)}\r\n"
            "X-Request-ID: rid-gone-1\r\nContent-Length: 100000\r\n"
            "Content-Type: application/octet-stream\r\n\r\n".encode()
            + b"x" * 1000
        )
        time.sleep(0.2)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = [json.loads(x) for x in one_worker.log().splitlines() if x.startswith("{")]
        if any(
            x.get("request_id") == "rid-gone-1" and x["logger"] == "dockyard.access" for x in lines
        ):
            break
        time.sleep(0.05)
    by_rid: dict[str, list[dict[str, object]]] = {}
    for line in lines:
        # every line a request logs names it; only start-up and shutdown lines do not
        if line["logger"].startswith("dockyard.") and line["logger"] not in (
            "dockyard.app",
            "dockyard.services",
        ):
            assert line.get("request_id"), line
        by_rid.setdefault(str(line.get("request_id")), []).append(line)

    (head,) = by_rid["rid-head-1"]
    assert head["logger"] == "dockyard.access"
    assert head["route"] == MANIFESTS and head["method"] == "HEAD" and head["status"] == 200
    assert head["path"] == f"/v2/{repo}/manifests/v1"
    assert isinstance(head["duration_ms"], float)
    assert head["bytes_in"] == 0 and head["bytes_out"] == 0
    (miss,) = by_rid["rid-404-1"]
    assert miss["status"] == 404 and miss["bytes_out"] == len(missing.content)
    gone = by_rid["rid-gone-1"]
    assert {x["logger"] for x in gone} == {"dockyard.http", "dockyard.access"}
    (access,) = [x for x in gone if x["logger"] == "dockyard.access"]
    assert access["route"] == UPLOAD and access["status"] == 499  # client closed the request
    assert isinstance(access["bytes_in"], int) and access["bytes_in"] <= 1000


def test_counts_add_up_across_worker_processes(tmp_path: Path) -> None:
    """Two workers: whichever one a scrape lands on, it reports every worker's requests."""
    with run_server(tmp_path / "data", workers=2) as srv:
        repo = unique_repo("metrics")
        with srv.client(timeout=30.0) as c:
            push_image(c, repo, "v1")
            before = scrape(c)
        n_clients, per_client = 8, 25

        def pull(_: int) -> int:
            ok = 0
            # a client of its own: a connection of its own, which either worker may accept
            with srv.client(timeout=30.0) as c:
                for _ in range(per_client):
                    r = c.get(f"/v2/{repo}/manifests/v1", headers={"Accept": OCI_MANIFEST})
                    ok += r.status_code == 200
            return ok

        with ThreadPoolExecutor(n_clients) as pool:
            assert sum(pool.map(pull, range(n_clients))) == n_clients * per_client
        expected = n_clients * per_client
        with srv.client(timeout=30.0) as c:

            def moved(s: Samples) -> float:
                return requests(s, MANIFESTS, "GET", 200) - requests(before, MANIFESTS, "GET", 200)

            settle(c, lambda s: moved(s) >= expected)
            # many scrapes on fresh connections land on both workers; each sees all
            for _ in range(10):
                with srv.client(timeout=30.0) as fresh:
                    samples = scrape(fresh)
                assert moved(samples) == expected
                hist = value(
                    samples,
                    "dockyard_http_request_duration_seconds_count",
                    route=MANIFESTS,
                    method="GET",
                )
                assert hist >= expected
            pids = {
                dict(labels)["pid"]
                for name, labels in samples
                if name == "process_resident_memory_bytes"
            }
            assert len(pids) == 2, pids
        # the requests really were spread: both workers' slot files hold the route
        pattern = os.path.join(tempfile.gettempdir(), f"dockyard-metrics-{srv.process.pid}-*")
        (shared,) = glob.glob(pattern)
        served = [
            path
            for path in glob.glob(os.path.join(shared, "hot_*.keys"))
            if MANIFESTS in Path(path).read_text()
        ]
        assert len(served) == 2, served

        # a worker dies and is respawned: its counts stay, its live gauges go
        victim = int(sorted(pids)[0])
        os.kill(victim, signal.SIGKILL)
        with srv.client(timeout=30.0) as c:

            def respawned(s: Samples) -> bool:
                live = {dict(lb)["pid"] for n, lb in s if n == "process_resident_memory_bytes"}
                return len(live) == 2 and str(victim) not in live

            samples = settle(c, respawned, timeout=30.0)
            assert respawned(samples)
            assert moved(samples) == expected
    assert not os.path.exists(shared)  # removed when the server stops


def test_each_topology(server: RunningServer, client: httpx.Client) -> None:
    """The shared servers (two workers): SQLite + folder + local cache, and
    PostgreSQL + S3 + Redis. Every backend shows up under its own labels."""
    repo = unique_repo("metrics")
    push_image(client, repo, "v1")
    before = scrape(client)
    for _ in range(4):
        r = client.head(f"/v2/{repo}/manifests/v1", headers={"Accept": OCI_MANIFEST})
        assert r.status_code == 200

    def heads(s: Samples) -> float:
        return requests(s, MANIFESTS, "HEAD", 200) - requests(before, MANIFESTS, "HEAD", 200)

    after = settle(client, lambda s: heads(s) >= 4)
    assert heads(after) == 4
    moved = {
        result: value(after, "dockyard_cache_requests_total", result=result)
        - value(before, "dockyard_cache_requests_total", result=result)
        for result in ("hit", "miss")
    }
    assert moved["hit"] + moved["miss"] == 4
    assert moved["hit"] >= 2  # at worst, each worker's first lookup misses
    driver = "filesystem" if server.list_storage is None else "s3"
    used = {
        dict(labels)["driver"]
        for (name, labels), v in after.items()
        if name == "dockyard_storage_operations_total" and v > 0
    }
    assert used == {driver}
    pool = sum(value(after, "dockyard_db_pool_connections", state=s) for s in ("in_use", "idle"))
    assert pool >= 1


def test_dirs_of_killed_servers_are_swept(tmp_path: Path) -> None:
    """A server killed outright leaves its metrics directory; the next one to start
    removes it, but never the directory of a server that still runs (holds its lock)."""
    base = tempfile.gettempdir()
    dead = tempfile.mkdtemp(prefix="dockyard-metrics-0-", dir=base)
    Path(dead, ".lock").touch()
    alive = tempfile.mkdtemp(prefix="dockyard-metrics-1-", dir=base)
    with open(os.path.join(alive, ".lock"), "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        try:
            with run_server(tmp_path / "data", workers=2) as srv:
                assert scrape_ok(srv)
                assert not os.path.exists(dead)
                assert os.path.exists(alive)
                killed = glob.glob(os.path.join(base, f"dockyard-metrics-{srv.process.pid}-*"))
                assert len(killed) == 1
                srv.kill()
            assert os.path.exists(killed[0])  # SIGKILL: no chance to clean up
            with run_server(tmp_path / "data", workers=2) as srv:
                assert scrape_ok(srv)
                assert not os.path.exists(killed[0])
                assert os.path.exists(alive)
        finally:
            shutil.rmtree(alive, ignore_errors=True)
            shutil.rmtree(dead, ignore_errors=True)


def scrape_ok(srv: RunningServer) -> bool:
    with srv.client(timeout=30.0) as c:
        return "dockyard_build_info" in c.get("/metrics").text


def _basic(credentials: tuple[str, str]) -> str:
    return "Basic " + base64.b64encode(":".join(credentials).encode()).decode()
