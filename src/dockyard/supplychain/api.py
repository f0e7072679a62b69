"""The capability's management API: supply-chain policies (a project's, and the system
default), an artifact's status (signatures verified or not, by whom; its SBOM; its scan
reports), its vulnerability report and SBOM documents, scans on demand, and the
vulnerability database's state."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from dockyard.errors import NotFound
from dockyard.http.api.deps import Ctx
from dockyard.http.api.docs import OPTIONAL, errors
from dockyard.http.api.projects import ProjectPath
from dockyard.http.api.repositories import ReferencePath as Reference
from dockyard.http.api.repositories import RepositoryPath
from dockyard.http.api.routing import PREFIX
from dockyard.supplychain.codec import finding_json
from dockyard.supplychain.model import Severity
from dockyard.supplychain.policy import SupplyChainPolicy
from dockyard.supplychain.service import ArtifactStatus, SupplyChainService
from dockyard.supplychain.store import StoredPolicy

Format = Literal["cyclonedx", "spdx"]


class PolicyOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    applies: str = Field(description='"project <name>" or "system default"')
    own: bool = Field(description="whether the project has a policy of its own")
    policy: SupplyChainPolicy
    updated_by: str | None = None
    updated_at: dt.datetime | None = None


class SignatureOut(BaseModel):
    kind: str
    signature_digest: str
    verified: bool
    signer: str | None
    reason: str | None
    detail: str


class SignaturesOut(BaseModel):
    signed: bool
    reason: str
    signers: list[str]
    through_index: str | None
    signatures: list[SignatureOut]


class ReportSummaryOut(BaseModel):
    scanner: str
    status: str
    scanned_at: dt.datetime
    db_generation: int | None
    summary: dict[str, int]
    error: str | None


class SbomSummaryOut(BaseModel):
    source: str
    format: str
    packages: int
    document_digest: str | None
    created_at: dt.datetime
    distro: str | None
    warnings: list[str]


class StatusOut(BaseModel):
    repository: str
    digest: str
    media_type: str
    kind: str | None = Field(description="signature, attestation or sbom artifacts say so")
    policy: str
    signatures: SignaturesOut | None = Field(
        description="null when the policy that applies trusts no key or identity"
    )
    sbom: SbomSummaryOut | None
    reports: list[ReportSummaryOut]


class FindingOut(BaseModel):
    id: str
    aliases: list[str]
    package: str
    installed_version: str
    fixed_versions: list[str]
    ecosystem: str
    purl: str
    severity: str
    cvss_score: float | None
    cvss_vector: str | None
    summary: str
    references: list[str]


class VulnerabilitiesOut(BaseModel):
    digest: str
    scanner: str
    status: str
    scanned_at: dt.datetime
    summary: dict[str, int]
    error: str | None
    vulnerabilities: list[FindingOut]


class JobOut(BaseModel):
    job_id: int


def _policy_out(stored: StoredPolicy | None, applies: str, fallback: Any) -> PolicyOut:
    if stored is None:
        return PolicyOut(applies=applies, own=False, policy=fallback)
    return PolicyOut(
        applies=applies,
        own=applies.startswith("project"),
        policy=stored.policy,
        updated_by=stored.updated_by,
        updated_at=stored.updated_at,
    )


def _status(s: ArtifactStatus) -> StatusOut:
    signatures = None
    if s.signature is not None:
        signatures = SignaturesOut(
            signed=s.signature.signed,
            reason=s.signature.reason,
            signers=list(s.signature.signers),
            through_index=s.signature.through,
            signatures=[
                SignatureOut(
                    kind=r.kind.value,
                    signature_digest=r.signature_digest,
                    verified=r.verified,
                    signer=r.signer,
                    reason=None if r.reason is None else r.reason.value,
                    detail=r.detail,
                )
                for r in s.signature.results
            ],
        )
    sbom = None
    if s.sbom is not None:
        distro = s.sbom.contents.distro
        sbom = SbomSummaryOut(
            source=s.sbom.source,
            format=s.sbom.format,
            packages=s.sbom.package_count,
            document_digest=s.sbom.document_digest,
            created_at=s.sbom.created_at,
            distro=None if distro is None else f"{distro.id} {distro.version_id}".strip(),
            warnings=list(s.sbom.contents.warnings),
        )
    return StatusOut(
        repository=s.repository,
        digest=s.digest,
        media_type=s.media_type,
        kind=s.kind,
        policy=s.policy_source,
        signatures=signatures,
        sbom=sbom,
        reports=[
            ReportSummaryOut(
                scanner=r.scanner,
                status=r.status,
                scanned_at=r.scanned_at,
                db_generation=r.db_generation,
                summary=r.summary,
                error=r.error,
            )
            for r in s.reports
        ],
    )


def router() -> APIRouter:
    r = APIRouter(prefix=PREFIX, tags=["supplychain"])
    artifact = "/projects/{name}/repositories/{repository:repository}/-/artifacts/{reference}"

    @r.get(
        "/projects/{name}/supplychain",
        responses=errors(),
        summary="The supply-chain policy that applies to the project (members): its own, "
        "or the system default it inherits",
    )
    async def get_policy(c: Ctx, name: ProjectPath) -> PolicyOut:
        service = SupplyChainService(c.services)
        stored, applies = await service.get_policy(c.actor, name)
        if stored is None:
            default = await service.store.policy(None)
            return _policy_out(default, applies, SupplyChainPolicy())
        return _policy_out(stored, applies, None)

    @r.put(
        "/projects/{name}/supplychain",
        responses=errors(),
        summary="Set the project's own supply-chain policy (project administrators)",
    )
    async def put_policy(c: Ctx, name: ProjectPath, body: SupplyChainPolicy) -> PolicyOut:
        stored = await SupplyChainService(c.services).put_policy(c.actor, name, body)
        return _policy_out(stored, f"project {name}", None)

    @r.delete(
        "/projects/{name}/supplychain",
        status_code=204,
        responses=errors(),
        summary="Remove the project's own policy: it inherits the system default again",
    )
    async def delete_policy(c: Ctx, name: ProjectPath) -> Response:
        await SupplyChainService(c.services).delete_policy(c.actor, name)
        return Response(status_code=204)

    @r.get(
        "/supplychain/default",
        responses=errors(),
        summary="The system default supply-chain policy (any signed-in caller)",
    )
    async def get_default(c: Ctx) -> PolicyOut:
        stored = await SupplyChainService(c.services).get_default(c.actor)
        return _policy_out(stored, "system default", SupplyChainPolicy())

    @r.put(
        "/supplychain/default",
        responses=errors(),
        summary="Set the system default policy (system administrators); its allowlist "
        "applies in every project",
    )
    async def put_default(c: Ctx, body: SupplyChainPolicy) -> PolicyOut:
        stored = await SupplyChainService(c.services).put_default(c.actor, body)
        return _policy_out(stored, "system default", None)

    @r.get(
        artifact + "/supplychain",
        responses=errors(),
        openapi_extra=OPTIONAL,
        summary="An artifact's supply-chain status: its signatures, verified or not and by "
        "whom, its SBOM, its scan reports (pull access)",
    )
    async def status(
        c: Ctx, name: ProjectPath, repository: RepositoryPath, reference: Reference
    ) -> StatusOut:
        found = await SupplyChainService(c.services).status(
            c.actor, f"{name}/{repository}", reference
        )
        return _status(found)

    @r.post(
        artifact + "/scan",
        status_code=202,
        responses=errors(),
        summary="Scan the artifact now, as a job (scan permission: maintainers and up, "
        "robots granted scan): its SBOM from its layers if it has none, then its findings",
    )
    async def scan(
        c: Ctx, name: ProjectPath, repository: RepositoryPath, reference: Reference
    ) -> JobOut:
        service = SupplyChainService(c.services)
        return JobOut(job_id=await service.request_scan(c.actor, f"{name}/{repository}", reference))

    @r.get(
        artifact + "/vulnerabilities",
        responses=errors(),
        openapi_extra=OPTIONAL,
        summary="The artifact's vulnerability report (pull access), worst first; 404 "
        "before its first scan",
    )
    async def vulnerabilities(
        c: Ctx,
        name: ProjectPath,
        repository: RepositoryPath,
        reference: Reference,
        scanner: Annotated[
            str, Query(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$", description="whose report")
        ] = "dockyard",
        severity: Annotated[
            Literal["UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"] | None,
            Query(description="only findings at or above this severity"),
        ] = None,
    ) -> VulnerabilitiesOut:
        service = SupplyChainService(c.services)
        found = await service.status(c.actor, f"{name}/{repository}", reference)
        report = next((x for x in found.reports if x.scanner == scanner), None)
        if report is None:
            raise NotFound(f"{found.repository}@{found.digest} has no report from {scanner}")
        floor = Severity[severity] if severity else Severity.UNKNOWN
        return VulnerabilitiesOut(
            digest=found.digest,
            scanner=scanner,
            status=report.status,
            scanned_at=report.scanned_at,
            summary=report.summary,
            error=report.error,
            vulnerabilities=[
                FindingOut(**finding_json(f)) for f in report.findings if f.severity >= floor
            ],
        )

    @r.get(
        artifact + "/sbom",
        responses={
            **errors(),
            200: {
                "description": "the SBOM document",
                "content": {
                    "application/vnd.cyclonedx+json": {"schema": {"type": "object"}},
                    "application/spdx+json": {"schema": {"type": "object"}},
                },
            },
        },
        response_class=Response,
        openapi_extra=OPTIONAL,
        summary="The artifact's SBOM (pull access): CycloneDX JSON, or SPDX JSON with format=spdx",
    )
    async def sbom(
        c: Ctx,
        name: ProjectPath,
        repository: RepositoryPath,
        reference: Reference,
        format: Annotated[Format, Query(description="the document's format")] = "cyclonedx",
    ) -> Response:
        service = SupplyChainService(c.services)
        document, media_type = await service.sbom_document(
            c.actor, f"{name}/{repository}", reference, format
        )
        return Response(document, media_type=media_type)

    @r.get(
        "/vulndb",
        responses=errors(),
        summary="The vulnerability database: advisories per ecosystem, last import, "
        "generation (any signed-in caller)",
    )
    async def vulndb_status(c: Ctx) -> dict[str, Any]:
        c.services.guard.login(c.actor)
        return await SupplyChainService(c.services).vulndb_status()

    @r.post(
        "/vulndb/rematch",
        status_code=202,
        responses=errors(),
        summary="Match every stored SBOM against the database again, as a job (system "
        "administrators)",
    )
    async def rematch(c: Ctx) -> JobOut:
        c.services.guard.admin(c.actor, "rematch every SBOM")
        return JobOut(job_id=await SupplyChainService(c.services).enqueue_rematch())

    return r
