"""`POST /api/v1/projects/{project}/repositories/{repository}/-/artifacts/{reference}/convert`:
start a `convert.zstd` job (push permission on the repository); 202 with the job id,
followed with `GET /api/v1/jobs/{job_id}`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, BeforeValidator, Field

from dockyard.convert.service import ConvertService
from dockyard.http.api.deps import Ctx
from dockyard.http.api.docs import errors
from dockyard.http.api.models import _Input, _integral
from dockyard.http.api.projects import ProjectPath
from dockyard.http.api.repositories import RepositoryPath
from dockyard.http.api.routing import PREFIX
from dockyard.oci.names import TAG_RE

REFERENCE = rf"^({TAG_RE.pattern}|sha256:[a-f0-9]{{64}}|sha512:[a-f0-9]{{128}})$"
Reference = Annotated[
    str, Path(pattern=REFERENCE, examples=["latest"], description="a tag or a digest")
]

router = APIRouter(prefix=PREFIX, tags=["convert"])
ARTIFACT = "/projects/{name}/repositories/{repository:repository}/-/artifacts/{reference}"


class ConvertStart(_Input):
    target_tag: str | None = Field(
        None,
        pattern=f"^{TAG_RE.pattern}$",
        examples=["1.2-zstd"],
        description="the tag the converted image (or index) gets; default: the "
        "reference's tag with `-zstd` appended, with add_to_index the reference's tag "
        "itself (a digest reference needs one)",
    )
    add_to_index: bool = Field(
        False,
        description="write an OCI index holding the gzip original and the zstd variant "
        "(one per platform for an index) and move the tag to it",
    )
    level: Annotated[int, Field(ge=1, le=19), BeforeValidator(_integral)] | None = Field(
        None, description="zstd level; default: the convert.level setting (3)"
    )


class ConvertStarted(BaseModel):
    job_id: int = Field(description="the convert.zstd job (GET /api/v1/jobs/{job_id})")


@router.post(
    ARTIFACT + "/convert",
    status_code=202,
    responses=errors(),
    summary="Rewrite the artifact's gzip layers as zstd, as a job (push permission): a new "
    "tag, or a zstd variant added to an index",
)
async def start_convert(
    c: Ctx,
    name: ProjectPath,
    repository: RepositoryPath,
    reference: Reference,
    body: ConvertStart | None = None,
) -> ConvertStarted:
    body = body or ConvertStart()
    job_id = await ConvertService(c.services).start(
        c.actor,
        f"{name}/{repository}",
        reference,
        tag=body.target_tag,
        add_to_index=body.add_to_index,
        level=body.level,
    )
    return ConvertStarted(job_id=job_id)
