"""Defects found by trying Dockyard from outside (issue 8): mounts that revealed blobs,
challenges that made mounts re-uploads, cross-site requests, a realm taken from a
forged Host, unbounded scopes, user names differing in case, listings that showed
more than a member may see, a project name grammar of two minds, refusals that did
not say why."""

from __future__ import annotations

import re
import uuid

import httpx

from tests.access.conftest import World, add_member, api_ok, create_robot, create_user
from tests.access.test_attacks import claims_of, token_for
from tests.spec.helpers import push_blob, sha256


def _challenge(response: httpx.Response) -> dict[str, str]:
    header = response.headers["www-authenticate"]
    assert header.startswith("Bearer ")
    return dict(re.findall(r'(\w+)="([^"]*)"', header))


def _follow(response: httpx.Response, creds: tuple[str, str]) -> str:
    """What a client that follows the challenge to the letter does: ask the realm for
    exactly the scopes it names."""
    params = _challenge(response)
    r = httpx.get(
        params["realm"],
        params=[("service", params["service"]), ("scope", params["scope"])],
        auth=creds,
    )
    assert r.status_code == 200, r.text
    return str(r.json()["token"])


# -- 1: a mount without `from` links only blobs the caller may read ---------------


def test_mount_without_from_never_reveals_an_unreadable_blob(world: World) -> None:
    secret = uuid.uuid4().bytes * 64
    readable = uuid.uuid4().bytes * 64
    with world.server.client(world.server.admin) as admin:
        hidden = push_blob(admin, "priv/secret/db", secret)
        shared = push_blob(admin, "priv/api/other", readable)
    scoped = world.users["scoped"]  # developer limited to priv/api/*
    for client in (world.api(scoped), world.server.client(scoped)):
        with client:
            target = f"priv/api/x{uuid.uuid4().hex[:6]}"
            r = client.post(f"/v2/{target}/blobs/uploads/", params={"mount": hidden})
            assert r.status_code == 202, r.text  # an ordinary upload instead
            assert client.get(f"/v2/{target}/blobs/{hidden}").status_code == 404
            r = client.post(f"/v2/{target}/blobs/uploads/", params={"mount": shared})
            assert r.status_code == 201, r.text  # a blob it may read is linked
            assert client.get(f"/v2/{target}/blobs/{shared}").content == readable


def test_mount_from_an_unreadable_repository_is_an_upload(world: World) -> None:
    with world.server.client(world.server.admin) as admin:
        hidden = push_blob(admin, "priv/secret/db", uuid.uuid4().bytes * 64)
    with world.api(world.users["scoped"]) as basic:
        target = f"priv/api/y{uuid.uuid4().hex[:6]}"
        r = basic.post(
            f"/v2/{target}/blobs/uploads/", params={"mount": hidden, "from": "priv/secret/db"}
        )
        assert r.status_code == 202, r.text
        assert basic.head(f"/v2/{target}/blobs/{hidden}").status_code == 404


# -- 2 and 22: challenges name every scope; a token lacking one gets 401 -------------


def test_mount_challenge_asks_for_pull_on_the_source(world: World) -> None:
    admin = world.server.admin
    with world.server.client(admin) as c:
        digest = push_blob(c, "priv/app", uuid.uuid4().bytes * 32)
    target = f"priv/mounted{uuid.uuid4().hex[:6]}"
    url = f"{world.server.url}/v2/{target}/blobs/uploads/"
    params = {"mount": digest, "from": "priv/app"}
    r = httpx.post(url, params=params)
    assert r.status_code == 401
    scope = _challenge(r)["scope"]
    assert scope == f"repository:{target}:pull,push repository:priv/app:pull"
    token = _follow(r, admin)
    r = httpx.post(url, params=params, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 201, r.text  # mounted, not re-uploaded
    assert r.headers["docker-content-digest"] == digest


def test_token_without_pull_on_the_source_is_challenged_for_it(world: World) -> None:
    with world.server.client(world.server.admin) as c:
        digest = push_blob(c, "priv/app", uuid.uuid4().bytes * 32)
    target = f"priv/remount{uuid.uuid4().hex[:6]}"
    token = token_for(world, world.server.admin, f"repository:{target}:pull,push")
    url = f"{world.server.url}/v2/{target}/blobs/uploads/"
    params = {"mount": digest, "from": "priv/app"}
    r = httpx.post(url, params=params, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401, r.text
    got = _challenge(r)
    assert got["error"] == "insufficient_scope"
    assert got["scope"] == f"repository:{target}:pull,push repository:priv/app:pull"
    fresh = _follow(r, world.server.admin)
    r = httpx.post(url, params=params, headers={"Authorization": f"Bearer {fresh}"})
    assert r.status_code == 201, r.text


def test_token_lacking_scope_gets_401_with_the_scope(world: World) -> None:
    token = token_for(world, world.server.admin, "repository:pub/app:pull")
    r = httpx.put(
        f"{world.server.url}/v2/pub/app/manifests/x",
        headers={"Authorization": f"Bearer {token}"},
        content=b"{}",
    )
    assert r.status_code == 401
    got = _challenge(r)
    assert got["error"] == "insufficient_scope"
    assert got["scope"] == "repository:pub/app:pull,push"


# -- 5: cross-site requests that change state are refused --------------------------


def test_cross_site_requests_are_refused_whatever_the_credential(world: World) -> None:
    admin = world.admin
    name, secret = create_robot(
        admin, f"csrf{uuid.uuid4().hex[:6]}", [{"project": "priv", "actions": ["pull"]}]
    )
    path = f"/api/v1/robots/{name}/secret"
    for headers in (
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
    ):
        r = admin.post(path, headers=headers)
        assert r.status_code == 403, (headers, r.text)
        assert r.json()["errors"][0]["code"] == "DENIED"
        assert "cross-site" in r.json()["errors"][0]["message"]
    # nothing was rotated: the old secret still logs in
    assert httpx.get(f"{world.server.url}/v2/", auth=(name, secret)).status_code == 200
    r = httpx.put(
        f"{world.server.url}/v2/priv/app/manifests/evil",
        auth=world.server.admin,
        headers={"Origin": "http://evil.example", "Content-Type": "application/json"},
        content=b"{}",
    )
    assert r.status_code == 403
    # the registry's own origin, and clients that send no origin at all, pass
    own = world.server.url
    r = admin.post(path, headers={"Origin": own, "Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 200, r.text
    assert admin.post(path).status_code == 200


# -- 6: the realm never echoes a forged Host ----------------------------------------


def test_realm_does_not_follow_a_forged_host(world: World) -> None:
    r = httpx.get(f"{world.server.url}/v2/", headers={"Host": "evil.example"})
    assert r.status_code == 401
    realm = _challenge(r)["realm"]
    assert "evil.example" not in realm
    assert realm == f"http://{world.server.hostport}/auth/token"
    r = httpx.get(f"{world.server.url}/v2/", headers={"Host": f"localhost:{world.server.port}"})
    assert _challenge(r)["realm"] == f"http://localhost:{world.server.port}/auth/token"


# -- 7: the scope cap counts scopes ---------------------------------------------------


def test_scope_cap_counts_scopes_not_parameters(world: World) -> None:
    many = " ".join(f"repository:pub/r{i}:pull" for i in range(1500))
    url = f"{world.server.url}/auth/token"
    r = httpx.get(url, params={"service": "dockyard", "scope": many}, auth=world.server.admin)
    assert r.status_code == 400, len(r.content)
    assert "at most 64 scopes" in r.json()["errors"][0]["message"]
    r = httpx.post(
        url,
        data={
            "grant_type": "password",
            "username": world.server.admin[0],
            "password": world.server.admin[1],
            "service": "dockyard",
            "scope": many,
        },
    )
    assert r.status_code == 400
    fine = " ".join(f"repository:pub/r{i}:pull" for i in range(64))
    r = httpx.get(url, params={"service": "dockyard", "scope": fine}, auth=world.server.admin)
    assert r.status_code == 200 and len(claims_of(r.json()["token"])["access"]) == 64


# -- 8: user names ignore case --------------------------------------------------------


def test_user_names_differing_in_case_are_one_name(world: World) -> None:
    r = world.admin.post("/api/v1/users", json={"username": "Admin", "password": "x" * 12})
    assert r.status_code == 409, r.text
    name = f"Carol{uuid.uuid4().hex[:6]}"
    create_user(world.admin, name)
    r = world.admin.post("/api/v1/users", json={"username": name.lower(), "password": "y" * 12})
    assert r.status_code == 409
    assert world.admin.get(f"/api/v1/users/{name.upper()}").json()["username"] == name


# -- 9: a member limited to some repositories sees only those -------------------------


def test_listing_shows_only_the_repositories_a_member_may_pull(world: World) -> None:
    with world.server.client(world.server.admin) as admin:
        push_blob(admin, "priv/secret/db", b"not for everyone")
    with world.api(world.users["scoped"]) as scoped:
        names = [r["name"] for r in api_ok(scoped.get("/api/v1/projects/priv/repositories"))]
        r = scoped.get("/api/v1/projects/priv/repositories")
        assert int(r.headers["x-total-count"]) == len(names)
    assert names and all(n.startswith("priv/api/") for n in names), names
    with world.api(world.users["developer"]) as everything:
        names = [r["name"] for r in api_ok(everything.get("/api/v1/projects/priv/repositories"))]
    assert "priv/secret/db" in names


# -- 12 and 19: one name grammar; refusals that say why --------------------------------


def test_a_project_the_registry_accepts_is_one_the_api_accepts(world: World) -> None:
    project = f"team--x{uuid.uuid4().hex[:4]}"
    with world.server.client(world.server.admin) as admin:
        push_blob(admin, f"{project}/app", b"auto-created project")
    got = api_ok(world.admin.get(f"/api/v1/projects/{project}"))
    assert got["name"] == project
    api_ok(world.admin.post("/api/v1/projects", json={"name": "a__b--c.d"}), 201)
    r = world.admin.post("/api/v1/projects", json={"name": "-bad"})
    assert r.status_code == 422
    message = r.json()["errors"][0]["message"]
    assert "lowercase letters and digits" in message and "^" not in message, message


def test_refusals_say_what_to_do(world: World) -> None:
    digest_data = b"refused"
    url = f"{world.server.url}/v2/nowhere{uuid.uuid4().hex[:4]}/app/blobs/uploads/"
    r = httpx.post(url, params={"digest": sha256(digest_data)}, content=digest_data)
    assert r.status_code == 401
    assert "log in" in r.json()["errors"][0]["message"]
    outsider = world.users["outsider"]
    r = httpx.post(url, params={"digest": sha256(digest_data)}, content=digest_data, auth=outsider)
    assert r.status_code == 403
    message = r.json()["errors"][0]["message"]
    assert "does not exist or" in message and "member" in message, message
    with world.api(world.users["guest"]) as guest:
        r = guest.post(
            "/v2/priv/app/blobs/uploads/",
            params={"digest": sha256(digest_data)},
            content=digest_data,
        )
    assert r.status_code == 403
    assert "developer or higher" in r.json()["errors"][0]["message"]


def test_a_member_added_later_can_push(world: World) -> None:
    """The refusal's advice works: once added as developer, the push goes through."""
    user = create_user(world.admin, f"late{uuid.uuid4().hex[:6]}")
    data = uuid.uuid4().bytes
    url = f"{world.server.url}/v2/priv/late/blobs/uploads/"
    r = httpx.post(url, params={"digest": sha256(data)}, content=data, auth=user)
    assert r.status_code == 403
    add_member(world.admin, "priv", user[0], "developer")
    r = httpx.post(url, params={"digest": sha256(data)}, content=data, auth=user)
    assert r.status_code == 201, r.text
