"""Where an endpoint's distribution API lives and what a repository is called there
(Docker Hub: registry-1.docker.io, and `library/` before a one-component name)."""

from __future__ import annotations

import httpx

from dockyard.remote import Endpoint

DOCKER_HUB_HOSTS = frozenset({"docker.io", "registry-1.docker.io", "index.docker.io"})
DOCKER_HUB_API = "https://registry-1.docker.io"


def is_docker_hub(endpoint: Endpoint) -> bool:
    if endpoint.kind == "dockerhub":
        return True
    try:
        host = httpx.URL(endpoint.url).host
    except httpx.InvalidURL:
        return False
    return host in DOCKER_HUB_HOSTS


def api_url(endpoint: Endpoint) -> str:
    """scheme://host[:port] of the endpoint's /v2/ API."""
    if is_docker_hub(endpoint):
        return DOCKER_HUB_API
    return endpoint.url.rstrip("/")


def remote_name(endpoint: Endpoint, repository: str) -> str:
    """`repository` as the remote names it."""
    if is_docker_hub(endpoint) and "/" not in repository:
        return f"library/{repository}"
    return repository
