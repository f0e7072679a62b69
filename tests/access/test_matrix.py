"""Every principal x every registry action x public/private project x repository grant,
over basic auth, over bearer tokens and through skopeo: what is allowed works, what
is not is refused with the right status."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

import httpx
import pytest

from tests.access.conftest import ROLES, World
from tests.support.tools import Skopeo, require_binary

REPOS = ("pub/app", "priv/app", "priv/api/server")
ACTIONS = ("pull", "push", "delete")
PRINCIPALS = ("admin", *ROLES, "outsider", "scoped", "robot-project", "robot-puller", "anonymous")

# Written out from Harbor's documented matrix, not derived from Dockyard's code.
ROLE_ALLOWS = {
    "project_admin": {"pull", "push", "delete"},
    "maintainer": {"pull", "push", "delete"},
    "developer": {"pull", "push"},
    "guest": {"pull"},
    "limited_guest": {"pull"},
}


def allowed(who: str, repo: str, action: str) -> bool:
    public = repo.startswith("pub/")
    if who == "admin":
        return True
    if who in ROLE_ALLOWS:
        return action in ROLE_ALLOWS[who]
    if who in ("outsider", "anonymous"):
        return public and action == "pull"
    if who == "scoped":  # developer on priv/api/* only
        if public:
            return action == "pull"
        return repo.startswith("priv/api/") and action in ("pull", "push")
    if who == "robot-project":  # pull, push on priv/*
        return action == "pull" if public else action in ("pull", "push")
    if who == "robot-puller":  # pull on every project
        return action == "pull"
    raise AssertionError(who)


def credentials(world: World, who: str) -> tuple[str, str] | None:
    if who == "admin":
        return world.server.admin
    if who == "anonymous":
        return None
    if who.startswith("robot-"):
        return world.robots[who.removeprefix("robot-")]
    return world.users[who]


@pytest.fixture(scope="module")
def seed_manifest(world: World) -> dict[str, tuple[bytes, str]]:
    out = {}
    with world.server.client(world.server.admin) as reg:
        for repo in REPOS:
            r = reg.get(
                f"/v2/{repo}/manifests/seed",
                headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
            )
            assert r.status_code == 200
            out[repo] = (r.content, r.headers["Content-Type"])
    return out


def attempt(
    world: World,
    http: httpx.Client,
    repo: str,
    action: str,
    seed: dict[str, tuple[bytes, str]],
) -> httpx.Response:
    raw, ctype = seed[repo]
    if action == "pull":
        return http.get(f"/v2/{repo}/manifests/seed", headers={"Accept": ctype})
    if action == "push":
        tag = f"t-{uuid.uuid4().hex[:8]}"
        return http.put(f"/v2/{repo}/manifests/{tag}", content=raw, headers={"Content-Type": ctype})
    tag = f"d-{uuid.uuid4().hex[:8]}"
    with world.server.client(world.server.admin) as reg:
        made = reg.put(f"/v2/{repo}/manifests/{tag}", content=raw, headers={"Content-Type": ctype})
        assert made.status_code == 201
    return http.delete(f"/v2/{repo}/manifests/{tag}")


SUCCESS = {"pull": 200, "push": 201, "delete": 202}


@pytest.mark.parametrize("who", PRINCIPALS)
@pytest.mark.parametrize("transport", ["basic", "token"])
def test_registry_actions(
    world: World, seed_manifest: dict[str, tuple[bytes, str]], who: str, transport: str
) -> None:
    creds = credentials(world, who)
    if creds is None:
        http = httpx.Client(base_url=world.server.url, timeout=30)
    elif transport == "basic":
        http = httpx.Client(base_url=world.server.url, auth=creds, timeout=30)
    else:
        http = world.server.client(creds)
    failures = []
    with http:
        for repo in REPOS:
            for action in ACTIONS:
                r = attempt(world, http, repo, action, seed_manifest)
                want = allowed(who, repo, action)
                if want:
                    ok = r.status_code == SUCCESS[action]
                elif creds is None:
                    ok = r.status_code == 401 and "Bearer realm=" in r.headers.get(
                        "www-authenticate", ""
                    )
                    ok = ok and r.json()["errors"][0]["code"] == "UNAUTHORIZED"
                elif transport == "token":
                    # as the reference registry: 401 naming the scope the token lacked
                    ok = r.status_code == 401 and 'error="insufficient_scope"' in r.headers.get(
                        "www-authenticate", ""
                    )
                else:
                    ok = r.status_code == 403 and r.json()["errors"][0]["code"] == "DENIED"
                if not ok:
                    failures.append(f"{who} {action} {repo}: {r.status_code} {r.text[:120]}")
    assert not failures, "\n".join(failures)


def _token_access(world: World, creds: tuple[str, str] | None, scope: str) -> list[dict]:  # type: ignore[type-arg]
    r = httpx.get(
        f"{world.server.url}/auth/token",
        params={"service": "dockyard", "scope": scope},
        auth=creds,  # type: ignore[arg-type]
    )
    assert r.status_code == 200, r.text
    payload = r.json()["token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims["access"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("who", PRINCIPALS)
def test_tokens_are_narrowed_to_what_is_allowed(world: World, who: str) -> None:
    creds = credentials(world, who)
    for repo in REPOS:
        access = _token_access(world, creds, f"repository:{repo}:pull,push,delete")
        assert len(access) == 1 and access[0]["name"] == repo
        want = {a for a in ACTIONS if allowed(who, repo, a)}
        assert set(access[0]["actions"]) == want, (who, repo)


PROJECT_CHECKS = {
    # Harbor: members list guest and up; manage members, robots, project: project admin;
    # robots list maintainer and up; logs guest and up.
    "list members": ({"project_admin", "maintainer", "developer", "guest"}, "GET", "members"),
    "list robots": ({"project_admin", "maintainer"}, "GET", "robots"),
    "read logs": ({"project_admin", "maintainer", "developer", "guest"}, "GET", "audit-logs"),
}


@pytest.mark.parametrize("who", [*ROLES, "outsider"])
def test_project_management_per_role(world: World, who: str) -> None:
    creds = world.users[who]
    with world.api(creds) as api:
        for what, (roles, method, path) in PROJECT_CHECKS.items():
            r = api.request(method, f"/api/v1/projects/priv/{path}")
            expected = 200 if who in roles else (403, 404)
            assert (
                (r.status_code == expected)
                if isinstance(expected, int)
                else (r.status_code in expected)
            ), f"{who} {what}: {r.status_code} {r.text[:200]}"
        # changes: only the project admin
        name = f"tmp-{uuid.uuid4().hex[:6]}"
        r = api.post(
            "/api/v1/projects/priv/members",
            json={"kind": "user", "name": "u-outsider", "role": "guest", "repositories": None},
        )
        if who == "project_admin":
            assert r.status_code == 201, r.text
            mid = r.json()["id"]
            assert api.delete(f"/api/v1/projects/priv/members/{mid}").status_code == 204
        else:
            assert r.status_code in (403, 404), r.text
        r = api.post(
            "/api/v1/projects/priv/robots",
            json={"name": name, "permissions": [{"project": "priv", "actions": ["pull"]}]},
        )
        assert (r.status_code == 201) == (who == "project_admin"), r.text
        r = api.patch("/api/v1/projects/priv", json={"public": False})
        assert (r.status_code == 200) == (who == "project_admin"), r.text


@pytest.mark.e2e
@pytest.mark.parametrize(
    "who", ["developer", "guest", "outsider", "scoped", "robot-project", "robot-puller"]
)
def test_skopeo_push_and_pull(world: World, tmp_path: Path, who: str) -> None:
    require_binary("skopeo")
    from tests.support.oci_layout import build_image

    creds = credentials(world, who)
    assert creds is not None
    skopeo = Skopeo(world.server.hostport, workdir=tmp_path, credentials=creds)
    img = build_image(tmp_path / "img", "v1", layers=[4096], seed=f"matrix-{who}")
    for repo in ("priv/app", "priv/api/server", "pub/app"):
        pushed = skopeo.copy(f"oci:{img.layout}:v1", skopeo.ref(repo, f"sk-{who}"), check=False)
        assert (pushed.returncode == 0) == allowed(who, repo, "push"), (repo, pushed.stderr)
        if pushed.returncode != 0:
            said = pushed.stderr.lower()
            assert any(word in said for word in ("denied", "unauthorized", "403 (forbidden)"))
        pulled = skopeo("inspect", "--tls-verify=false", skopeo.ref(repo, "seed"), check=False)
        assert (pulled.returncode == 0) == allowed(who, repo, "pull"), (repo, pulled.stderr)
