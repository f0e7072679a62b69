"""The capability's domain service: policies (project administrators change their
project's; system administrators the default), signature status, SBOMs, scans and the
vulnerability database. The API, the CLI (through the API) and the jobs call it, so
each gets the same checks, invalidation and audit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from dockyard.accounts.guard import Actor
from dockyard.auth import permissions as perm
from dockyard.auth.permissions import project_of
from dockyard.errors import NotFound, Unsupported
from dockyard.metadata.engine import HasEngines
from dockyard.metadata.records import ManifestRecord
from dockyard.oci import mediatypes as mt
from dockyard.supplychain import sbom
from dockyard.supplychain.enforce import Gate, PolicyCache
from dockyard.supplychain.model import Finding, ImageContents
from dockyard.supplychain.policy import SupplyChainPolicy
from dockyard.supplychain.store import StoredPolicy, StoredReport, SupplyChainStore
from dockyard.supplychain.verdicts import SignatureVerdict, Verifier, exempt_kind, is_image, parse

if TYPE_CHECKING:
    from dockyard.context import Services
    from dockyard.supplychain.settings import SupplyChainSettings
    from dockyard.supplychain.vulndb import VulnDb

BUILTIN = "dockyard"
SCAN_JOB = "supplychain.scan"
REMATCH_JOB = "supplychain.rematch"


@dataclass(frozen=True, slots=True)
class ArtifactStatus:
    repository: str
    digest: str
    media_type: str
    kind: str | None
    """signature / attestation / sbom, for those artifacts; None for an image"""
    policy_source: str
    signature: SignatureVerdict | None
    """None when no trust is configured for the project"""
    sbom: Any | None
    reports: list[StoredReport]


class SupplyChainService:
    def __init__(self, services: Services) -> None:
        self._s = services
        self.settings: SupplyChainSettings = services.settings.section("supplychain")
        self.store = SupplyChainStore(cast(HasEngines, services.store))
        self.policies = PolicyCache(self.store, services.cache, services.identity.projects)
        self.verifier = Verifier(services, self.store, self.settings.max_signatures)
        self._root: str | None = None

    # -- wiring -------------------------------------------------------------------

    def trusted_root(self) -> str | None:
        if self._root is None and self.settings.trusted_root is not None:
            self._root = self.settings.trusted_root.read_text()
        return self._root

    def gate(self) -> Gate:
        return Gate(
            self._s,
            self.store,
            self.policies,
            self.verifier,
            self.settings.policy_scanner,
            self.trusted_root(),
        )

    def vulndb(self) -> VulnDb:
        from dockyard.supplychain.vulndb import VulnDb

        held = self._s.extensions.get("supplychain.vulndb")
        if held is None:  # one per process: it keeps the in-memory index
            held = self._s.extensions["supplychain.vulndb"] = VulnDb(
                cast(HasEngines, self._s.store)
            )
        return cast("VulnDb", held)

    # -- policies ---------------------------------------------------------------------

    async def _project_id(self, actor: Actor, project: str, action: str) -> int:
        return (await self._s.guard.project(actor, project, action)).id

    async def get_policy(self, actor: Actor, project: str) -> tuple[StoredPolicy | None, str]:
        """The project's own policy (None: it inherits the system default) and which
        applies."""
        pid = await self._project_id(actor, project, perm.READ_PROJECT)
        stored = await self.store.policy(pid)
        return stored, f"project {project}" if stored is not None else "system default"

    async def put_policy(
        self, actor: Actor, project: str, policy: SupplyChainPolicy
    ) -> StoredPolicy:
        pid = await self._project_id(actor, project, perm.UPDATE_PROJECT)
        stored = await self.store.put_policy(pid, policy, actor.name)
        await self.policies.invalidate()
        await self._s.guard.record(
            actor, "supplychain.policy.set", project, project=project, detail=_summary(policy)
        )
        return stored

    async def delete_policy(self, actor: Actor, project: str) -> None:
        pid = await self._project_id(actor, project, perm.UPDATE_PROJECT)
        if not await self.store.delete_policy(pid):
            raise NotFound(f"project {project!r} has no supply-chain policy of its own")
        await self.policies.invalidate()
        await self._s.guard.record(actor, "supplychain.policy.delete", project, project=project)

    async def get_default(self, actor: Actor) -> StoredPolicy | None:
        self._s.guard.login(actor)
        return await self.store.policy(None)

    async def put_default(self, actor: Actor, policy: SupplyChainPolicy) -> StoredPolicy:
        self._s.guard.admin(actor, "change the system supply-chain policy")
        stored = await self.store.put_policy(None, policy, actor.name)
        await self.policies.invalidate()
        await self._s.guard.record(
            actor, "supplychain.default.set", "system", detail=_summary(policy)
        )
        return stored

    # -- artifacts ------------------------------------------------------------------

    async def _manifest(self, actor: Actor, repository: str, reference: str) -> ManifestRecord:
        await self._s.guard.repository(actor, repository, perm.PULL)
        record: ManifestRecord = await self._s.manifests.get(repository, reference)
        return record

    async def status(self, actor: Actor, repository: str, reference: str) -> ArtifactStatus:
        record = await self._manifest(actor, repository, reference)
        effective = await self.policies.effective(project_of(repository))
        kind = exempt_kind(record)
        trust = effective.policy.signatures.trust(self.trusted_root())
        signature = None
        if kind is None and not trust.empty():
            signature = await self.verifier.verdict(repository, record, trust)
        return ArtifactStatus(
            repository=repository,
            digest=record.digest,
            media_type=record.media_type,
            kind=None if kind is None else kind.value,
            policy_source=effective.source,
            signature=signature,
            sbom=await self.store.sbom(record.digest),
            reports=await self.store.reports(record.digest),
        )

    async def request_scan(self, actor: Actor, repository: str, reference: str) -> int:
        await self._s.guard.repository(actor, repository, perm.SCAN)
        record = await self._s.manifests.get(repository, reference)
        if not is_image(record, parse(record.content)):
            raise Unsupported(f"{repository}@{record.digest} is not an image: nothing to scan")
        await self._s.guard.record(
            actor,
            "supplychain.scan",
            f"{repository}@{record.digest}",
            project=project_of(repository),
        )
        return await self.enqueue_scan(repository, record.digest)

    async def enqueue_scan(self, repository: str, digest: str, *, sbom_only: bool = False) -> int:
        job_id: int = await self._s.jobs.enqueue(
            SCAN_JOB,
            {"repository": repository, "digest": digest, "sbom_only": sbom_only},
            dedup_key=f"{SCAN_JOB}:{repository}@{digest}:{int(sbom_only)}",
        )
        return job_id

    async def enqueue_rematch(self) -> int:
        job_id: int = await self._s.jobs.enqueue(REMATCH_JOB, {}, dedup_key=REMATCH_JOB)
        return job_id

    async def sbom_document(
        self, actor: Actor, repository: str, reference: str, fmt: str
    ) -> tuple[bytes, str]:
        record = await self._manifest(actor, repository, reference)
        stored = await self.store.sbom(record.digest)
        if stored is None:
            raise NotFound(
                f"{repository}@{record.digest} has no SBOM yet (ask for a scan, or set "
                "sbom.generate_on_push)"
            )
        subject = sbom.Subject(repository, record.digest)
        if fmt == "spdx":
            return sbom.to_spdx(subject, stored.contents), sbom.SPDX_JSON
        return sbom.to_cyclonedx(subject, stored.contents), sbom.CYCLONEDX_JSON

    # -- the work the jobs do ---------------------------------------------------------

    async def generate_sbom(self, repository: str, record: ManifestRecord) -> ImageContents:
        """Read the image's layers (each platform's, for an index) into an SBOM, store
        it, and push the CycloneDX document as a referrer of the image."""
        from dockyard.supplychain.sbom_push import push_sbom

        layers = await self._layers(repository, record)

        def open_layer(layer: sbom.Layer) -> Any:
            return self._s.blobs.stream(layer.digest)

        limits = sbom.Limits(
            max_layer_bytes=self.settings.max_layer_bytes,
            max_member_bytes=self.settings.max_member_bytes,
            max_binary_bytes=self.settings.max_binary_bytes,
        )
        contents = await sbom.read_image(layers, open_layer, limits)
        subject = sbom.Subject(repository, record.digest)
        document = sbom.to_cyclonedx(subject, contents)
        document_digest: str | None = None
        try:
            document_digest = await push_sbom(
                self._s, repository, record, document, sbom.CYCLONEDX_JSON
            )
        except Exception as exc:  # quota, a full disk: the SBOM is still indexed
            contents = ImageContents(
                contents.distro,
                contents.packages,
                (*contents.warnings, f"the SBOM document was not stored as a referrer: {exc}"),
            )
        await self.store.put_sbom(
            record.digest, repository, "generated", document_digest, "cyclonedx", contents
        )
        return contents

    async def _layers(self, repository: str, record: ManifestRecord) -> list[sbom.Layer]:
        doc = parse(record.content)
        if record.media_type in mt.INDEXES:
            raise Unsupported("an index is scanned platform by platform")
        out = []
        for layer in doc.get("layers") or []:
            if isinstance(layer, dict) and isinstance(layer.get("digest"), str):
                out.append(
                    sbom.Layer(
                        str(layer["digest"]),
                        str(layer.get("mediaType", "")),
                        int(layer.get("size", 0) or 0),
                    )
                )
        return out

    async def match(self, contents: ImageContents) -> tuple[list[Finding], int]:
        index = await self.vulndb().index()
        return index.match(contents), index.generation

    async def import_vulndb(
        self, path: Path, progress: Callable[[int, int | None], None] | None = None
    ) -> dict[str, Any]:
        """Import OSV data; when it changed the database, queue the rematch of every
        stored SBOM."""
        result = await self.vulndb().import_osv(path, progress)
        out = asdict(result)
        out["job_id"] = await self.enqueue_rematch() if result.changed else None
        return out

    async def vulndb_status(self) -> dict[str, Any]:
        return asdict(await self.vulndb().status())

    async def record_report(
        self,
        repository: str | None,
        digest: str,
        scanner: str,
        findings: list[Finding],
        generation: int | None,
        error: str | None = None,
    ) -> bool:
        """Store a report; drop the cached verdicts it makes stale. True: it changed."""
        changed = await self.store.put_report(
            digest, scanner, findings, generation, error, repository
        )
        if changed:  # the verdicts cached under the repositories' scopes are stale
            for name in await self.store.repositories_holding(digest):
                await self._s.cache.invalidate(name)
        return changed


def _summary(policy: SupplyChainPolicy) -> dict[str, Any]:
    return {
        "signatures": policy.signatures.mode,
        "keys": [k.name for k in policy.signatures.keys],
        "vulnerabilities": policy.vulnerabilities.mode,
        "severity": policy.vulnerabilities.severity,
        "allowlist": len(policy.vulnerabilities.allowlist),
        "sbom": policy.sbom.model_dump(),
    }
