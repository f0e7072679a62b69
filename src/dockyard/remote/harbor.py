"""Listing a Harbor endpoint's repositories through its project API (Harbor's catalog
needs a system administrator; a project member or robot can list its projects)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from dockyard.remote import RemoteError

if TYPE_CHECKING:
    from dockyard.remote.client import HttpRemote

PAGE_SIZE = 100
MAX_PAGES = 10_000


async def _paged(remote: HttpRemote, op: str, path: str) -> list[Any]:
    found: list[Any] = []
    for page in range(1, MAX_PAGES + 1):
        response = await remote.api_get(op, path, {"page": str(page), "page_size": str(PAGE_SIZE)})
        if response.status_code != 200:
            raise await remote.api_error(op, response)
        try:
            items = response.json()
        except ValueError:
            raise RemoteError(f"{remote.endpoint.name}: {op}: not JSON") from None
        if not isinstance(items, list):
            raise RemoteError(f"{remote.endpoint.name}: {op}: not a list")
        found.extend(items)
        if len(items) < PAGE_SIZE:
            break
    return found


async def harbor_repositories(remote: HttpRemote, namespace: str | None) -> list[str]:
    """`project/repo` names: of project `namespace` (its first path component), or of
    every project the credentials see."""
    if namespace:
        project = namespace.strip("/").split("/")[0]
        projects = [project]
    else:
        listed = await _paged(remote, "list projects", "/api/v2.0/projects")
        projects = [
            p["name"] for p in listed if isinstance(p, dict) and isinstance(p.get("name"), str)
        ]
    names: list[str] = []
    for project in projects:
        items = await _paged(
            remote,
            "list repositories",
            f"/api/v2.0/projects/{quote(project, safe='')}/repositories",
        )
        names.extend(
            i["name"] for i in items if isinstance(i, dict) and isinstance(i.get("name"), str)
        )
    if namespace:
        prefix = namespace.strip("/") + "/"
        names = [n for n in names if n.startswith(prefix)]
    return names
