"""Every sortable listing of the management API, in both topologies: each order both
ways (ties broken the same way, what has no value last either way), searches, and
paging over a sort that neither repeats nor loses an entry; unknown orders refused.

Rows the API would take long to make (artifacts by the thousand, jobs, replication
executions, webhook deliveries) are written straight into the database; the rest is
made through the API and /v2/.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.api.conftest import PASSWORD, Registry, error, ok, unique
from tests.spec.helpers import OCI_MANIFEST, push_blob, push_image

Row = dict[str, Any]
Key = Callable[[Row], Any]


def _when(value: str | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value)


def expected(rows: list[Row], key: Key, tie: Key, sort: str, nullable: bool = False) -> list[Row]:
    """`rows` in the order `sort` promises: by `key`, descending with a `-`, ties by
    `tie` the same way; rows whose key is None last either way, by `tie` too."""
    descending = sort.startswith("-")
    valued = [r for r in rows if not nullable or key(r) is not None]
    empty = [r for r in rows if nullable and key(r) is None]
    return sorted(valued, key=lambda r: (key(r), tie(r)), reverse=descending) + sorted(
        empty, key=tie, reverse=descending
    )


def walk(api: httpx.Client, path: str, size: int, **params: Any) -> list[Row]:
    """Every page of an offset-paged listing, `size` at a time, in order; checks the
    total and that no page is short before the last."""
    found: list[Row] = []
    number = 1
    while True:
        r = api.get(path, params={**params, "page": number, "page_size": size})
        rows = ok(r)
        total = int(r.headers["x-total-count"])
        found += rows
        if len(found) >= total:
            assert len(found) == total, (len(found), total)
            return found
        assert len(rows) == size, (number, len(rows))
        number += 1


def check_sorts(
    api: httpx.Client,
    path: str,
    keys: dict[str, tuple[Key, bool]],
    tie: Key,
    ident: Key,
    page_size: int = 2,
    **params: Any,
) -> list[Row]:
    """For each sort of `keys` (key function, whether it may be None), both ways: the
    listing is in that order, `-x` is `x` backwards apart from the entries without a
    value, and walking it in small pages gives the same entries, each once."""
    everything = ok(api.get(path, params={**params, "page_size": 100}))
    assert everything, path
    for name, (key, nullable) in keys.items():
        for sort in (name, f"-{name}"):
            listed = ok(api.get(path, params={**params, "sort": sort, "page_size": 100}))
            want = expected(everything, key, tie, sort, nullable)
            assert [ident(r) for r in listed] == [ident(r) for r in want], sort
            paged = walk(api, path, page_size, sort=sort, **params)
            assert [ident(r) for r in paged] == [ident(r) for r in listed], sort
            assert len({ident(r) for r in paged}) == len(paged), sort
    error(api.get(path, params={**params, "sort": "nonsense"}), 422, "INVALID_REQUEST")
    return everything


def test_projects_sorted_searched_and_paged(registry: Registry) -> None:
    prefix = unique("ls")
    names = [f"{prefix}{c}" for c in "dbeac"]  # created in this order
    for name in names:
        registry.project(name=name)
    with registry.registry() as reg:  # used bytes: e none, a and d the same, b the most
        for name, layers in (("a", 1), ("d", 1), ("b", 3), ("c", 2)):
            push_image(reg, f"{prefix}{name}/app", "v1", layers=layers)
    with registry.admin() as admin:
        rows = check_sorts(
            admin,
            "/projects",
            {
                "name": (lambda p: p["name"], False),
                "created": (lambda p: _when(p["created_at"]), False),
                "size": (lambda p: p["used_bytes"], False),
            },
            tie=lambda p: p["name"],
            ident=lambda p: p["name"],
            q=prefix,
        )
        assert sorted(p["name"] for p in rows) == sorted(names)
        assert ok(admin.get("/projects", params={"q": prefix.upper()})) == rows  # case ignored
        by_created = ok(admin.get("/projects", params={"q": prefix, "sort": "created"}))
        assert [p["name"] for p in by_created] == names
        by_size = ok(admin.get("/projects", params={"q": prefix, "sort": "-size"}))
        assert [p["name"][-1] for p in by_size][:2] == ["b", "c"]
        assert by_size[-1]["name"] == f"{prefix}e" and by_size[-1]["used_bytes"] == 0
    # a member sees only their own projects (and public ones), in the same orders
    member = registry.user()
    for name in names[:3]:
        registry.member(name, member[0], "guest")
    with registry.api(member) as client:
        mine = ok(client.get("/projects", params={"q": prefix, "sort": "-name"}))
        assert [p["name"] for p in mine] == sorted(names[:3], reverse=True)


def test_repositories_by_name_or_last_push_both_ways(registry: Registry) -> None:
    project = registry.project()
    with registry.registry() as reg:
        for name in ("b", "d", "a"):  # pushed in this order; c holds a blob, no push
            push_image(reg, f"{project}/{name}", "v1")
        push_blob(reg, f"{project}/c", b"a layer and nothing else")
    path = f"/projects/{project}/repositories"
    with registry.admin() as admin:
        check_sorts(
            admin,
            path,
            {
                "name": (lambda r: r["name"], False),
                "pushed": (lambda r: _when(r["updated_at"]), True),
            },
            tie=lambda r: r["name"],
            ident=lambda r: r["name"],
        )

        def listed(sort: str) -> list[str]:
            return [r["name"].rsplit("/", 1)[1] for r in ok(admin.get(path, params={"sort": sort}))]

        assert listed("pushed") == ["b", "d", "a", "c"]  # never pushed: last
        assert listed("-pushed") == listed("updated") == ["a", "d", "b", "c"]
        assert listed("-name") == ["d", "c", "b", "a"]


def test_users_sorted_by_name_creation_and_last_sign_in(registry: Registry) -> None:
    prefix = unique("lu")
    names = [f"{prefix}{c}" for c in "cadb"]  # created in this order
    for name in names:
        with registry.admin() as admin:
            ok(admin.post("/users", json={"username": name, "password": PASSWORD}), 201)
    for name in (f"{prefix}d", f"{prefix}a"):  # d signs in first, then a; b and c never
        with registry.api((name, PASSWORD)) as client:
            ok(client.get("/users/current"))
    with registry.admin() as admin:
        check_sorts(
            admin,
            "/users",
            {
                "name": (lambda u: u["username"], False),
                "created": (lambda u: _when(u["created_at"]), False),
                "login": (lambda u: _when(u["last_login_at"]), True),
            },
            tie=lambda u: u["username"],
            ident=lambda u: u["username"],
            q=prefix,
        )

        def listed(sort: str) -> list[str]:
            found = ok(admin.get("/users", params={"q": prefix, "sort": sort}))
            return [u["username"].removeprefix(prefix) for u in found]

        assert listed("created") == ["c", "a", "d", "b"]
        upper = ok(admin.get("/users", params={"q": prefix.upper(), "sort": "created"}))
        assert [u["username"] for u in upper] == [f"{prefix}{c}" for c in "cadb"]
        assert listed("-login") == ["a", "d", "c", "b"]  # never signed in: last
        assert listed("login") == ["d", "a", "b", "c"]  # … either way (ties by name)


def test_robots_sorted_searched_and_paged(registry: Registry) -> None:
    project = registry.project()
    days = {"b": 30, "d": None, "a": 5, "e": 30, "c": None}  # created in this order
    for short, expires in days.items():
        body = {
            "name": f"bot-{short}",
            "permissions": [{"project": project, "actions": ["pull"]}],
            "expires_in_days": expires,
        }
        with registry.admin() as admin:
            ok(admin.post(f"/projects/{project}/robots", json=body), 201)
    path = f"/projects/{project}/robots"
    with registry.admin() as admin:
        rows = check_sorts(
            admin,
            path,
            {
                "name": (lambda r: r["name"], False),
                "created": (lambda r: _when(r["created_at"]), False),
                "expires": (lambda r: _when(r["expires_at"]), True),
            },
            tie=lambda r: r["name"],
            ident=lambda r: r["name"],
        )
        assert len(rows) == 5
        soonest = ok(admin.get(path, params={"sort": "expires"}))
        assert [r["name"].rsplit("-", 1)[1] for r in soonest] == ["a", "b", "e", "c", "d"]
        # the search is over the short name: the project's name is in every full name
        assert ok(admin.get(path, params={"q": project})) == []
        found = admin.get(path, params={"q": "t-e"})
        assert [r["name"] for r in ok(found)] == [f"robot${project}+bot-e"]
        assert found.headers["x-total-count"] == "1"
        system = unique("sysbot")
        body = {"name": system, "permissions": [{"project": "*", "actions": ["pull"]}]}
        ok(admin.post("/robots", json=body), 201)
        assert [r["name"] for r in ok(admin.get("/robots", params={"q": system}))] == [
            f"robot${system}"
        ]
        error(admin.get(path, params={"sort": "-secret"}), 422, "INVALID_REQUEST")


def test_audit_log_oldest_or_newest_first(registry: Registry) -> None:
    project = registry.project()
    with registry.admin() as admin:
        for n in range(5):
            ok(admin.patch(f"/projects/{project}", json={"public": n % 2 == 0}))
        path = f"/projects/{project}/audit-logs"
        newest = ok(admin.get(path, params={"page_size": 100}))
        assert [a["action"] for a in newest] == ["project.update"] * 5 + ["project.create"]
        check_sorts(
            admin,
            path,
            {"at": (lambda a: _when(a["at"]), False)},
            tie=lambda a: a["id"],
            ident=lambda a: a["id"],
        )
        oldest = ok(admin.get(path, params={"sort": "at", "page_size": 100}))
        assert [a["id"] for a in oldest] == [a["id"] for a in reversed(newest)]
        assert [a["detail"]["public"] for a in oldest[1:]] == [True, False, True, False, True]
        whole = {"project": project, "action": "project.update", "sort": "at", "page_size": 2}
        filtered = ok(admin.get("/audit-logs", params=whole))
        assert [a["id"] for a in filtered] == [a["id"] for a in oldest[1:3]]


def _digest(seed: str) -> str:
    return "sha256:" + hashlib.sha256(seed.encode()).hexdigest()


def test_artifacts_sorted_searched_and_paged(registry: Registry) -> None:
    """Pushed through /v2/ (sizes from their layers), pulled a known number of times."""
    project = registry.project()
    repo = f"{project}/app"
    pushed: dict[str, str] = {}
    with registry.registry() as reg:
        for tag, layers in (("one", 2), ("two", 1), ("three", 3), ("four", 1), ("five", 2)):
            pushed[tag], _ = push_image(reg, repo, tag, layers=layers)
        push_image(reg, repo, "release-3", layers=1)  # a second tag's artifact
        for tag, pulls in (("two", 3), ("four", 1), ("five", 1)):
            for _ in range(pulls):
                r = reg.get(f"/v2/{repo}/manifests/{tag}", headers={"Accept": OCI_MANIFEST})
                assert r.status_code == 200
    path = f"/projects/{project}/repositories/app/-/artifacts"
    with registry.admin() as admin:
        deadline = time.monotonic() + 20
        while sum(a["pull_count"] for a in ok(admin.get(path))) < 5:  # flushed in batches
            assert time.monotonic() < deadline, "pulls never counted"
            time.sleep(0.1)
        rows = check_sorts(
            admin,
            path,
            {
                "pushed": (lambda a: _when(a["created_at"]), False),
                "size": (lambda a: a["size"], False),
                "pulls": (lambda a: a["pull_count"], False),
                "pulled": (lambda a: _when(a["last_pulled_at"]), True),
            },
            tie=lambda a: a["digest"],
            ident=lambda a: a["digest"],
        )
        assert len(rows) == 6
        assert [a["tags"] for a in rows][:2] == [["release-3"], ["five"]]  # newest first

        def tags(**params: Any) -> list[str]:
            return [a["tags"][0] for a in ok(admin.get(path, params=params))]

        assert tags(sort="pushed") == ["one", "two", "three", "four", "five", "release-3"]
        assert tags(sort="-pulls")[:1] == ["two"]
        assert tags(sort="-size")[:1] == ["three"]
        # a tag's part (case ignored), or a digest's start with or without the algorithm
        # (letters past f are in no digest)
        assert sorted(tags(q="T")) == ["three", "two"]
        assert tags(q="e-3") == ["release-3"]
        hexed = pushed["three"].removeprefix("sha256:")
        assert tags(q=hexed[:10]) == ["three"]
        assert tags(q=f"sha256:{hexed[:10].upper()}") == ["three"]
        assert tags(q=hexed[5:15]) == []  # the middle of a digest is not its start
        assert tags(q="%") == tags(q="_") == []  # no wildcards
        counted = admin.get(path, params={"q": "o", "sort": "pushed", "page_size": 1})
        assert counted.headers["x-total-count"] == "3" and ok(counted)[0]["tags"] == ["one"]


def test_thousands_of_artifacts(registry: Registry) -> None:
    """Artifacts, tags and pull counts written straight into the database: every order
    answers its first page quickly and pages without a repeat or a gap."""
    project = registry.project()
    repo = f"{project}/many"
    with registry.registry() as reg:
        push_image(reg, repo, "seed")
    count = 2000
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    nonce = uuid.uuid4().hex
    rows = []
    for i in range(count):
        content = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "n": f"{nonce}{i}"})
        rows.append(
            (_digest(f"{nonce}{i}"), OCI_MANIFEST, (i * 7919) % 1000, content.encode(), start, repo)
        )
    registry.execute_many(  # every tenth pushed at the same instant as the one before
        "INSERT INTO manifests (repository_id, digest, media_type, size, content, created_at) "
        "SELECT id, ?, ?, ?, ?, ? FROM repositories WHERE name = ?",
        [
            (*r[:4], start + dt.timedelta(seconds=i - (i % 10 == 9)), r[5])
            for i, r in enumerate(rows)
        ],
    )
    registry.execute_many(
        "INSERT INTO artifact_pulls (repository_id, digest, pull_count, last_pulled_at) "
        "SELECT id, ?, ?, ? FROM repositories WHERE name = ?",
        [
            (rows[i][0], i % 5, start + dt.timedelta(minutes=i % 97), repo)
            for i in range(0, count, 3)
        ],
    )
    registry.execute_many(
        "INSERT INTO tags (repository_id, name, manifest_digest, updated_at) "
        "SELECT id, ?, ?, ? FROM repositories WHERE name = ?",
        [(f"build-{i:05d}", rows[i][0], start, repo) for i in range(0, count, 2)],
    )
    path = f"/projects/{project}/repositories/many/-/artifacts"
    with registry.admin() as admin:
        for sort in ("-pushed", "pushed", "-size", "size", "-pulls", "pulls", "-pulled"):
            began = time.monotonic()
            first = admin.get(path, params={"sort": sort, "page_size": 50})
            took = time.monotonic() - began
            assert first.headers["x-total-count"] == str(count + 1)
            assert len(ok(first)) == 50 and took < 5, (sort, took)
        by_size = ok(admin.get(path, params={"sort": "-size", "page_size": 100}))
        assert [a["size"] for a in by_size] == sorted((a["size"] for a in by_size), reverse=True)
        assert by_size[0]["tags"] == ["seed"] and by_size[1]["size"] == 999
        # a walk over a sort with ties (sizes repeat, times repeat) sees each once
        for sort in ("size", "-pushed", "-pulls"):
            seen = [a["digest"] for a in walk(admin, path, 100, sort=sort)]
            assert len(seen) == len(set(seen)) == count + 1, sort
        searched = admin.get(path, params={"q": "build-0199", "sort": "pushed"})
        assert searched.headers["x-total-count"] == "5"
        assert [a["tags"] for a in ok(searched)] == [[f"build-0199{d}"] for d in "02468"]
        one = rows[1234][0]
        assert [a["digest"] for a in ok(admin.get(path, params={"q": one[7:20]}))] == [one]


def _listed(api: httpx.Client, path: str, **params: Any) -> tuple[list[Row], str | None]:
    """One page of a listing paged by id, and its `rel="next"` link if any."""
    r = api.get(path, params=params or None)  # an empty dict would drop the link's query
    rows = ok(r)
    nxt = r.links.get("next", {}).get("url")
    return rows, nxt


def keyset_walk(api: httpx.Client, path: str, **params: Any) -> list[Row]:
    """Follow `rel="next"` from the first page to the last."""
    rows, nxt = _listed(api, path, **params)
    while nxt is not None:
        more, nxt = _listed(api, nxt.removeprefix("/api/v1"))
        assert more
        rows += more
    return rows


def test_jobs_newest_or_oldest_first(registry: Registry) -> None:
    kind = f"test.{uuid.uuid4().hex[:8]}"
    now = dt.datetime.now(dt.UTC)
    registry.execute_many(  # cancelled already: no worker takes them
        "INSERT INTO jobs (kind, payload, state, attempts, max_attempts, rerun, "
        "cancel_requested, run_after, created_at, finished_at) "
        "VALUES (?, '{}', 'cancelled', 0, 1, ?, ?, ?, ?, ?)",
        [(kind, False, False, now, now, now) for _ in range(7)],
    )
    with registry.admin() as admin:
        newest = keyset_walk(admin, "/jobs", kind=kind, limit=3)
        ids = [j["id"] for j in newest]
        assert len(ids) == 7 and ids == sorted(ids, reverse=True)
        oldest = keyset_walk(admin, "/jobs", kind=kind, limit=3, sort="created")
        assert [j["id"] for j in oldest] == sorted(ids)
        whole, nxt = _listed(admin, "/jobs", kind=kind, limit=7)
        assert len(whole) == 7 and nxt is None  # no next page after the last
        _, nxt = _listed(admin, "/jobs", kind=kind, limit=6)
        assert nxt is not None and f"before={ids[5]}" in nxt
        between = ok(admin.get("/jobs", params={"kind": kind, "after": ids[5], "before": ids[1]}))
        assert [j["id"] for j in between] == ids[2:5]
        error(admin.get("/jobs", params={"sort": "id"}), 422, "INVALID_REQUEST")


def test_replication_executions_newest_or_oldest_first(registry: Registry) -> None:
    endpoint, policy = unique("ep"), unique("rp")
    with registry.admin() as admin:
        ok(admin.post("/registries", json={"name": endpoint, "url": "https://dr.example.org"}), 201)
        body = {"name": policy, "direction": "push", "endpoint": endpoint}
        ok(admin.post("/replication/policies", json=body), 201)
    now = dt.datetime.now(dt.UTC)
    registry.execute_many(  # finished already: no runner takes them
        "INSERT INTO replication_executions (policy_id, trigger, dry_run, state, retries, "
        "stop_requested, created_by, created_at, finished_at) "
        "SELECT id, 'manual', ?, 'succeeded', 0, ?, 'admin', ?, ? "
        "FROM replication_policies WHERE name = ?",
        [(False, False, now, now, policy) for _ in range(5)],
    )
    path = "/replication/executions"
    with registry.admin() as admin:
        newest = keyset_walk(admin, path, policy=policy, limit=2)
        ids = [x["id"] for x in newest]
        assert len(ids) == 5 and ids == sorted(ids, reverse=True)
        oldest = keyset_walk(admin, path, policy=policy, limit=2, sort="created")
        assert [x["id"] for x in oldest] == sorted(ids)
        assert _listed(admin, path, policy=policy, limit=5)[1] is None
        error(admin.get(path, params={"sort": "-state"}), 422, "INVALID_REQUEST")


@pytest.mark.parametrize("sort", ["-created", "created"])
def test_webhook_deliveries_sorted_and_filtered(registry: Registry, sort: str) -> None:
    project = registry.project()
    with registry.admin() as admin:
        body = {"name": "ci", "url": "https://ci.example.org/hook", "event_kinds": ["tag.deleted"]}
        hook = ok(admin.post(f"/projects/{project}/webhooks", json=body), 201)
    now = dt.datetime.now(dt.UTC)
    states = ["delivered", "failed", "delivered", "failed", "delivered"]
    registry.execute_many(  # test deliveries, finished: the sender leaves them alone
        "INSERT INTO webhook_deliveries (policy_id, event_seq, kind, lane, event, state, "
        "attempts, test, next_attempt_at, created_at, updated_at, finished_at) "
        "VALUES (?, 0, 'tag.deleted', '', ?, ?, 1, ?, ?, ?, ?, ?)",
        [
            (hook["id"], json.dumps({"n": n}), st, True, now, now, now, now)
            for n, st in enumerate(states)
        ],
    )
    path = f"/projects/{project}/webhooks/{hook['id']}/deliveries"
    with registry.admin() as admin:
        listed = walk(admin, path, 2, sort=sort)
        ids = [d["id"] for d in listed]
        assert len(ids) == 5 and ids == sorted(ids, reverse=sort == "-created")
        failed = admin.get(path, params={"sort": sort, "state": "failed"})
        assert failed.headers["x-total-count"] == "2"
        assert [d["id"] for d in ok(failed)] == [
            ids[i] for i in range(5) if listed[i]["state"] == "failed"
        ]
        error(admin.get(path, params={"state": "lost"}), 422, "INVALID_REQUEST")
