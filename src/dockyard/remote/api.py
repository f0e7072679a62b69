"""`/api/v1/registries`: the stored remote registry endpoints (system administrators).
The secret goes in and never comes out: answers say `has_secret` only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Request, Response
from pydantic import AfterValidator, BaseModel, Field, StrictBool, StringConstraints

from dockyard.http.api.deps import Caller, Ctx, Paging, page_of, paged
from dockyard.http.api.docs import errors, listing
from dockyard.http.api.models import TEXT, _example, _Input
from dockyard.http.api.routing import PREFIX
from dockyard.remote.service import (
    MAX_CA_BYTES,
    NAME_PATTERN,
    SECRET_PATTERN,
    UNCHANGED,
    URL_PATTERN,
    USERNAME_PATTERN,
    EndpointChanges,
    EndpointService,
    InvalidEndpoint,
    NewEndpoint,
    check_ca,
    endpoints,
)
from dockyard.remote.store import EndpointRow

router = APIRouter(prefix=PREFIX + "/registries", tags=["registries"])

NamePath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        pattern=NAME_PATTERN,
        examples=["hub"],
        description="the endpoint's name",
    ),
]
Kind = Literal["distribution", "dockyard", "harbor", "dockerhub", "quay", "ghcr", "zot"]
Url = Annotated[str, StringConstraints(min_length=8, max_length=300, pattern=URL_PATTERN)]
Username = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=USERNAME_PATTERN)]
Secret = Annotated[str, StringConstraints(min_length=1, max_length=4096, pattern=SECRET_PATTERN)]
Description = Annotated[str, StringConstraints(max_length=1024, pattern=TEXT)]


def _checked_ca(value: str) -> str:
    try:
        return check_ca(value)
    except InvalidEndpoint as exc:
        raise ValueError(exc.message) from None


CaCertificate = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_CA_BYTES,
        json_schema_extra={"format": "pem-certificate"},
        description="PEM certificates trusted for this endpoint, beside the system's",
    ),
    AfterValidator(_checked_ca),
]


class RegistryCreate(_Input):
    model_config = _example(
        name="hub", url="https://registry-1.docker.io", kind="dockerhub", username="me"
    )
    name: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=NAME_PATTERN)]
    url: Url = Field(description="scheme://host[:port]: no path, query or credentials")
    kind: Kind = "distribution"
    username: Username | None = None
    password: Secret | None = Field(
        None, description="password or token; stored encrypted, never shown"
    )
    insecure: StrictBool = Field(False, description="skip TLS certificate verification")
    ca_certificate: CaCertificate | None = None
    description: Description = ""


class RegistryUpdate(_Input):
    """Fields left out stay as they are; `username`, `password`, `ca_certificate`
    null clear them."""

    model_config = _example(password="new-token")
    url: Url | None = None
    kind: Kind | None = None
    username: Username | None = None
    password: Secret | None = None
    insecure: StrictBool | None = None
    ca_certificate: CaCertificate | None = None
    description: Description | None = None


class RegistryOut(BaseModel):
    name: str = Field(examples=["hub"])
    url: str = Field(examples=["https://registry-1.docker.io"])
    kind: str = Field(examples=["dockerhub"])
    username: str | None
    has_secret: bool = Field(description="a password or token is stored (it is never shown)")
    insecure: bool
    ca_certificate: str | None
    description: str
    created_at: datetime
    updated_at: datetime


class HealthOut(BaseModel):
    reachable: bool
    status: int | None = Field(description="GET /v2/'s status: 200 good, 401 bad credentials")
    message: str
    latency_ms: float


class RekeyOut(BaseModel):
    reencrypted: int


def registry_out(r: EndpointRow) -> RegistryOut:
    return RegistryOut(
        name=r.name,
        url=r.url,
        kind=r.kind,
        username=r.username,
        has_secret=r.secret_sealed is not None,
        insecure=r.insecure,
        ca_certificate=r.ca_certificate,
        description=r.description,
        created_at=r.created_at,
        updated_at=r.updated_at,
    )


def _service(c: Caller) -> EndpointService:
    return endpoints(c.services)


@router.get("", responses=listing(), summary="The registry endpoints (administrators)")
async def list_registries(
    c: Ctx, request: Request, response: Response, page: Paging
) -> list[RegistryOut]:
    found = await _service(c).rows(c.actor)
    paged(request, response, page, len(found))
    return [registry_out(r) for r in page_of(found, page)]


@router.post("", status_code=201, responses=errors(409), summary="Add a registry endpoint")
async def create_registry(c: Ctx, body: RegistryCreate) -> RegistryOut:
    new = NewEndpoint(
        name=body.name,
        url=body.url,
        kind=body.kind,
        username=body.username,
        secret=body.password,
        insecure=body.insecure,
        ca_certificate=body.ca_certificate,
        description=body.description,
    )
    return registry_out(await _service(c).create(c.actor, new))


@router.post(
    "/-/rekey", responses=errors(409), summary="Re-encrypt every secret with the first key"
)
async def rekey_registries(c: Ctx) -> RekeyOut:
    return RekeyOut(reencrypted=await _service(c).rekey(c.actor))


@router.get("/{name}", responses=errors(), summary="A registry endpoint")
async def get_registry(c: Ctx, name: NamePath) -> RegistryOut:
    return registry_out(await _service(c).row(c.actor, name))


@router.patch("/{name}", responses=errors(409), summary="Change a registry endpoint")
async def update_registry(c: Ctx, name: NamePath, body: RegistryUpdate) -> RegistryOut:
    given = body.model_fields_set
    changes = EndpointChanges(
        url=body.url,
        kind=body.kind,
        username=body.username if "username" in given else UNCHANGED,
        secret=body.password if "password" in given else UNCHANGED,
        insecure=body.insecure,
        ca_certificate=body.ca_certificate if "ca_certificate" in given else UNCHANGED,
        description=body.description,
    )
    return registry_out(await _service(c).update(c.actor, name, changes))


@router.delete("/{name}", status_code=204, responses=errors(), summary="Remove an endpoint")
async def delete_registry(c: Ctx, name: NamePath) -> Response:
    await _service(c).delete(c.actor, name)
    return Response(status_code=204)


@router.post("/{name}/ping", responses=errors(), summary="Check the endpoint answers")
async def ping_registry(c: Ctx, name: NamePath) -> HealthOut:
    health = await _service(c).ping(c.actor, name)
    return HealthOut(
        reachable=health.reachable,
        status=health.status,
        message=health.message,
        latency_ms=round(health.latency_ms, 3),
    )
