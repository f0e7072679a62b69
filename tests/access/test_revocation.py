"""Identity lookups are cached per worker; a change answered by the API is seen at
once by every worker (and, in production, every replica sharing Redis)."""

from __future__ import annotations

import uuid

import httpx

from tests.access.conftest import api_ok
from tests.support.server import RunningServer


def _fresh_get(url: str, auth: tuple[str, str]) -> int:
    # a new connection each time, so requests spread over the workers
    with httpx.Client(timeout=30) as c:
        return c.get(url, auth=auth).status_code


def test_revocation_and_visibility_changes_apply_everywhere_at_once(server: RunningServer) -> None:
    project = f"rev{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=server.url, auth=server.admin, timeout=30) as admin:
        api_ok(admin.post("/api/v1/projects", json={"name": project, "public": True}), 201)
        made = api_ok(
            admin.post(
                f"/api/v1/projects/{project}/robots",
                json={"name": "ci", "permissions": [{"project": project, "actions": ["pull"]}]},
            ),
            201,
        )
        robot = (made["name"], made["secret"])
        probe = f"{server.url}/v2/{project}/app/tags/list"
        for _ in range(12):  # warm every worker's cache with "allowed"
            assert _fresh_get(f"{server.url}/v2/", robot) == 200
            assert httpx.get(probe).status_code == 404  # public: anonymous may look
        api_ok(
            admin.patch(
                f"/api/v1/projects/{project}/robots/{made['name']}", json={"disabled": True}
            )
        )
        api_ok(admin.patch(f"/api/v1/projects/{project}", json={"public": False}))
        for _ in range(12):
            assert _fresh_get(f"{server.url}/v2/", robot) == 401
            assert httpx.get(probe).status_code == 401
