"""Login throttling as an attacker meets it: counted before any password is checked,
per account *and* address with backoff (a stranger cannot lock anyone out), robots
never locked by others, and a login storm never stalls pulls."""

from __future__ import annotations

import concurrent.futures
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.access.conftest import api_ok, create_robot, create_user
from tests.spec.helpers import push_blob
from tests.support.server import RunningServer, run_server

# a long first backoff, so "still backing off" never depends on how fast a test runs
ENV = {
    "DOCKYARD__AUTH__LOGIN__MAX_FAILURES": "5",
    "DOCKYARD__AUTH__LOGIN__MAX_FAILURES_PER_ADDRESS": "40",
    "DOCKYARD__AUTH__LOGIN__BACKOFF_SECONDS": "120",
    "DOCKYARD__AUTH__LOGIN__MAX_BACKOFF_SECONDS": "600",
    "DOCKYARD__AUTH__LOGIN__WINDOW_SECONDS": "900",
}


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    base: Path = tmp_path_factory.mktemp("throttle")
    with run_server(base / "data", workers=1, env=ENV) as server:
        yield server


def from_address(server: RunningServer, address: str, **kwargs: object) -> httpx.Client:
    """A client whose connections come from `address` (any of 127.0.0.0/8)."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=server.url, transport=transport, timeout=60, **kwargs)  # type: ignore[arg-type]


def test_simultaneous_bad_logins_are_counted_before_hashing(srv: RunningServer) -> None:
    with httpx.Client(base_url=srv.url, auth=srv.admin, timeout=30) as admin:
        user, _ = create_user(admin, f"storm{uuid.uuid4().hex[:6]}")
    with from_address(srv, "127.0.0.11") as c:

        def attempt(i: int) -> int:  # a guesser tries another password each time
            return c.get("/v2/", auth=(user, f"guess-{i}")).status_code

        with concurrent.futures.ThreadPoolExecutor(32) as pool:
            codes = list(pool.map(attempt, range(150)))
    # only the free attempts get as far as the password check; the rest are refused
    assert codes.count(401) == 5, sorted(set(codes))
    assert codes.count(429) == 145


def test_parallel_logins_with_the_right_password_are_one_check(srv: RunningServer) -> None:
    """A client's parallel requests (docker pulls layers at once) share one password
    check: the right password is never throttled by its own concurrency."""
    with httpx.Client(base_url=srv.url, auth=srv.admin, timeout=30) as admin:
        user, password = create_user(admin, f"burst{uuid.uuid4().hex[:6]}")
    with from_address(srv, "127.0.0.15") as c:

        def attempt(_: int) -> int:
            return c.get("/v2/", auth=(user, password)).status_code

        with concurrent.futures.ThreadPoolExecutor(32) as pool:
            codes = list(pool.map(attempt, range(64)))
    assert codes == [200] * 64, sorted(set(codes))


def test_strangers_failures_never_lock_the_account(srv: RunningServer) -> None:
    with from_address(srv, "127.0.0.12") as attacker:
        for _ in range(5):
            assert attacker.get("/v2/", auth=(srv.admin[0], "guess")).status_code == 401
        r = attacker.get("/v2/", auth=srv.admin)  # even the right password, from there
        assert r.status_code == 429, r.text
        assert r.json()["errors"][0]["code"] == "TOOMANYREQUESTS"
        assert int(r.headers["retry-after"]) > 60
        # the same name in another case is the same account
        assert attacker.get("/v2/", auth=("ADMIN", "guess")).status_code == 429
    with from_address(srv, "127.0.0.13") as owner:
        assert owner.get("/v2/", auth=srv.admin).status_code == 200
        r = owner.get("/auth/token", params={"service": "dockyard"}, auth=srv.admin)
        assert r.status_code == 200


def test_robots_are_not_locked_by_others_failures(srv: RunningServer) -> None:
    with httpx.Client(base_url=srv.url, auth=srv.admin, timeout=30) as admin:
        api_ok(admin.post("/api/v1/projects", json={"name": "ci-proj"}), 201)
        robot = create_robot(
            admin, "builder", [{"project": "ci-proj", "actions": ["pull"]}], project="ci-proj"
        )
    # a stranger guesses at the robot from the very address CI uses
    with from_address(srv, "127.0.0.14") as shared:
        for _ in range(8):
            assert shared.get("/v2/", auth=(robot[0], "guess")).status_code in (401, 429)
        assert shared.get("/v2/", auth=(robot[0], "guess")).status_code == 429
        assert shared.get("/v2/", auth=robot).status_code == 200


def test_a_login_storm_does_not_stall_pulls(srv: RunningServer) -> None:
    with httpx.Client(base_url=srv.url, auth=srv.admin, timeout=60) as admin:
        api_ok(admin.post("/api/v1/projects", json={"name": "open", "public": True}), 201)
    with srv.client(srv.admin) as pusher:
        digest = push_blob(pusher, "open/app", b"public layer " * 1000)
    # 160 bad logins at once, each for another account (so each is a free attempt that
    # costs a password hash), from 4 addresses
    attempts = [(f"127.0.1.{i % 4 + 1}", f"nobody{i}") for i in range(160)]
    clients = {
        a: from_address(srv, a, limits=httpx.Limits(max_connections=64)) for a, _ in attempts
    }

    def attempt(who: tuple[str, str]) -> int:
        return clients[who[0]].get("/v2/", auth=(who[1], "wrong-password")).status_code

    try:
        with concurrent.futures.ThreadPoolExecutor(64) as pool:
            futures = [pool.submit(attempt, who) for who in attempts]
            pulls = 0
            with httpx.Client(base_url=srv.url, timeout=120) as anonymous:
                # pull (and push: hashing a blob uses threads too) until the storm is over
                while not all(f.done() for f in futures) and pulls < 5000:
                    assert anonymous.get(f"/v2/open/app/blobs/{digest}").status_code == 200
                    pulls += 1
            codes = [f.result() for f in futures]
    finally:
        for c in clients.values():
            c.close()
    assert set(codes) <= {401, 429}
    # password hashes queue on threads of their own: the pulls were not held behind them
    assert pulls >= 40, f"only {pulls} pulls got through during the login storm"


def test_behind_a_trusted_proxy_clients_are_told_apart(tmp_path: Path) -> None:
    """Behind an Ingress every connection comes from the proxy: with
    server.trusted_proxies, X-Forwarded-For names the client, so one client's guesses
    do not lock out the others; from an untrusted peer the header changes nothing."""
    env = {**ENV, "DOCKYARD__SERVER__TRUSTED_PROXIES": '["127.0.0.20/32"]'}
    with run_server(tmp_path / "data", workers=1, env=env) as server:
        with from_address(server, "127.0.0.20") as proxy:
            for _ in range(5):
                r = proxy.get(
                    "/v2/",
                    auth=(server.admin[0], "guess"),
                    headers={"X-Forwarded-For": "203.0.113.7"},
                )
                assert r.status_code == 401
            r = proxy.get("/v2/", auth=server.admin, headers={"X-Forwarded-For": "203.0.113.7"})
            assert r.status_code == 429  # the guesser, even with the right password
            r = proxy.get(
                "/v2/", auth=server.admin, headers={"X-Forwarded-For": "198.51.100.2, 127.0.0.20"}
            )
            assert r.status_code == 200, r.text  # the owner, elsewhere behind the same proxy
        with from_address(server, "127.0.0.21") as direct:
            for i in range(5):
                r = direct.get(
                    "/v2/",
                    auth=(server.admin[0], f"g{i}"),
                    headers={"X-Forwarded-For": f"10.9.9.{i}"},
                )
                assert r.status_code == 401
            # a spoofed header from an untrusted peer does not make a new client
            r = direct.get(
                "/v2/", auth=(server.admin[0], "again"), headers={"X-Forwarded-For": "10.9.9.99"}
            )
            assert r.status_code == 429
