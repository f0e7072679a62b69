"""`/api/v1/proxy/caches`: the proxy caches (administrators). Creating one makes the
project (or adopts an empty one); deleting one leaves the project and what it cached
as an ordinary project."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, Field, StringConstraints

from dockyard.http.api.deps import Ctx
from dockyard.http.api.docs import errors
from dockyard.http.api.models import NAME, Bytes, _example, _Input
from dockyard.http.api.routing import PREFIX
from dockyard.proxy.eviction import evict
from dockyard.proxy.service import ProxyService
from dockyard.proxy.store import ProxyConfig

router = APIRouter(prefix=PREFIX + "/proxy/caches", tags=["proxy"])

HOST = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*(:[0-9]{1,5})?$"
PREFIX_PATTERN = (
    r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$"
)
ENDPOINT = r"^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$"

ProjectPath = Annotated[
    str,
    Path(min_length=1, max_length=255, pattern=NAME, examples=["hub"], description="a project"),
]
Host = Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=HOST)]
Hosts = Annotated[list[Host], Field(max_length=16)]
EndpointName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=ENDPOINT)]
UpstreamPrefix = Annotated[str, StringConstraints(max_length=200, pattern=PREFIX_PATTERN)]
Ttl = Annotated[float, Field(ge=0, le=30 * 86400, allow_inf_nan=False)]


class CacheCreate(_Input):
    model_config = _example(
        project="hub", endpoint="dockerhub", mirror_hosts=["docker.io", "registry-1.docker.io"]
    )
    project: Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=NAME)]
    endpoint: EndpointName = Field(description="the stored endpoint (GET /api/v1/registries)")
    upstream_prefix: UpstreamPrefix | None = Field(
        None, description="prepended upstream: hub/nginx → <prefix>/nginx"
    )
    mirror_hosts: Hosts = Field(
        default_factory=list, description="hosts containerd's ?ns= names this cache mirrors"
    )
    tag_ttl_seconds: Ttl = 300.0
    negative_ttl_seconds: Ttl = 30.0
    size_limit_bytes: Bytes = Field(0, description="0: no limit")
    public: bool = Field(False, description="for a new project: anonymous pulls allowed")


class CacheUpdate(_Input):
    """Fields left out stay as they are."""

    model_config = _example(tag_ttl_seconds=60.0)
    endpoint: EndpointName | None = None
    upstream_prefix: UpstreamPrefix | None = None
    mirror_hosts: Hosts | None = None
    tag_ttl_seconds: Ttl | None = None
    negative_ttl_seconds: Ttl | None = None
    size_limit_bytes: Bytes | None = None


class CacheStats(BaseModel):
    hit: int = Field(description="manifest pulls answered from the cache (this replica)")
    miss: int
    stale: int = Field(description="cached manifests served while the upstream was away")
    upstream_bytes: int = Field(description="blob bytes fetched from the upstream")


class CacheOut(BaseModel):
    project: str = Field(examples=["hub"])
    endpoint: str = Field(examples=["dockerhub"])
    upstream_prefix: str
    mirror_hosts: list[str] = Field(examples=[["docker.io"]])
    tag_ttl_seconds: float
    negative_ttl_seconds: float
    size_limit_bytes: int
    created_by: str
    created_at: datetime | None
    updated_at: datetime | None
    stats: CacheStats | None = None


class EvictOut(BaseModel):
    project: str
    before_bytes: int
    after_bytes: int
    evicted: list[str] = Field(description="repository@digest of each evicted manifest")


def _service(c: Ctx) -> ProxyService:
    return ProxyService(c.services)


def _out(config: ProxyConfig, service: ProxyService | None = None) -> CacheOut:
    out = CacheOut(
        project=config.project,
        endpoint=config.endpoint,
        upstream_prefix=config.upstream_prefix,
        mirror_hosts=list(config.mirror_hosts),
        tag_ttl_seconds=config.tag_ttl_seconds,
        negative_ttl_seconds=config.negative_ttl_seconds,
        size_limit_bytes=config.size_limit_bytes,
        created_by=config.created_by,
        created_at=config.created_at,
        updated_at=config.updated_at,
    )
    if service is not None:
        out.stats = CacheStats(**service.stats(config.project))
    return out


@router.get("", responses=errors(), summary="Every proxy cache (administrators)")
async def list_caches(c: Ctx) -> list[CacheOut]:
    return [_out(x) for x in await _service(c).list(c.actor)]


@router.post("", status_code=201, responses=errors(409), summary="Make a project a proxy cache")
async def create_cache(c: Ctx, body: CacheCreate) -> CacheOut:
    config = ProxyConfig(
        project=body.project,
        endpoint=body.endpoint,
        upstream_prefix=body.upstream_prefix or "",
        mirror_hosts=tuple(dict.fromkeys(body.mirror_hosts)),
        tag_ttl_seconds=body.tag_ttl_seconds,
        negative_ttl_seconds=body.negative_ttl_seconds,
        size_limit_bytes=body.size_limit_bytes,
    )
    return _out(await _service(c).create(c.actor, config, body.public))


@router.get("/{project}", responses=errors(), summary="A proxy cache, with this replica's counts")
async def get_cache(c: Ctx, project: ProjectPath) -> CacheOut:
    service = _service(c)
    return _out(await service.get(c.actor, project), service)


@router.patch("/{project}", responses=errors(409), summary="Change a proxy cache")
async def update_cache(c: Ctx, project: ProjectPath, body: CacheUpdate) -> CacheOut:
    changes = {k: getattr(body, k) for k in body.model_fields_set if getattr(body, k) is not None}
    if "mirror_hosts" in changes:
        changes["mirror_hosts"] = tuple(dict.fromkeys(changes["mirror_hosts"]))
    return _out(await _service(c).update(c.actor, project, changes))


@router.delete("/{project}", status_code=204, responses=errors(), summary="Stop proxying")
async def delete_cache(c: Ctx, project: ProjectPath) -> Response:
    await _service(c).delete(c.actor, project)
    return Response(status_code=204)


@router.post("/{project}/evict", responses=errors(), summary="Evict down to the size limit now")
async def evict_cache(c: Ctx, project: ProjectPath) -> EvictOut:
    service = _service(c)
    config = await service.get(c.actor, project)
    done = await evict(c.services, config)
    return EvictOut(
        project=done.project,
        before_bytes=done.before_bytes,
        after_bytes=done.after_bytes,
        evicted=done.manifests,
    )
