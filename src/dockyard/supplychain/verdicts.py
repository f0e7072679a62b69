"""Computing an artifact's verdicts on a cache miss: whether a signature that the
policy trusts verifies for it, and what its scan report holds at or above the policy's
threshold. enforce.py caches what this returns; service.py shows it in the API.

Reading here costs queries and storage reads (the referrers, the cosign tag, the
signature blobs, the report), which is why it only runs on a miss.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from dockyard.errors import DockyardError
from dockyard.metadata.records import ManifestRecord
from dockyard.oci import mediatypes as mt
from dockyard.supplychain import signatures as sig
from dockyard.supplychain.model import Finding, Severity
from dockyard.supplychain.store import SupplyChainStore

log = logging.getLogger(__name__)

IMAGE_CONFIGS = frozenset(
    {"application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"}
)
MAX_SIGNATURE_BLOB = 1 << 20
MAX_CHILDREN = 64
SIGNING_KINDS = frozenset(
    {sig.ArtifactKind.COSIGN, sig.ArtifactKind.COSIGN_BUNDLE, sig.ArtifactKind.NOTATION}
)


@dataclass(frozen=True, slots=True)
class SignatureVerdict:
    signed: bool
    reason: str
    """why not (a Reason's text), or how ("signed by release-key")"""
    signers: tuple[str, ...] = ()
    through: str | None = None
    """the signed index this manifest is a child of, when that is what signed it"""
    results: tuple[sig.SignatureResult, ...] = ()


def parse(content: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(content)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def exempt_kind(record: ManifestRecord) -> sig.ArtifactKind | None:
    """Signatures, attestations and SBOMs stay pullable whatever the policy."""
    return sig.classify(record.content, record.media_type)


def is_image(record: ManifestRecord, doc: dict[str, Any]) -> bool:
    """An image or an index (what scanning and the vulnerability policy cover)."""
    if record.media_type in mt.INDEXES:
        return True
    config = doc.get("config")
    return isinstance(config, dict) and config.get("mediaType") in IMAGE_CONFIGS


class Verifier:
    """Finds an artifact's signature candidates and verifies them (services-backed)."""

    def __init__(self, services: Any, store: SupplyChainStore, max_signatures: int) -> None:
        self._services = services
        self._store = store
        self._max = max_signatures

    async def _read_blob(self, digest: str, limit: int) -> bytes:
        limit = min(limit, MAX_SIGNATURE_BLOB)
        out = bytearray()
        async for piece in self._services.blobs.stream(digest, 0, limit + 1):
            out += piece
            if len(out) > limit:
                raise ValueError(f"blob {digest} is larger than {limit} bytes")
        return bytes(out)

    async def candidates(self, repository: str, digest: str) -> list[sig.Candidate]:
        found: list[sig.Candidate] = []
        for record in await self._services.store.referrers(repository, digest, None):
            if not record.content:  # the referrers listing carries descriptors, not bytes
                record = await self._services.manifests.get(repository, record.digest)
            kind = sig.classify(record.content, record.media_type)
            if kind in (
                sig.ArtifactKind.COSIGN_BUNDLE,
                sig.ArtifactKind.NOTATION,
                sig.ArtifactKind.COSIGN,
            ):
                found.append(sig.Candidate(record.digest, record.media_type, record.content))
            if len(found) >= self._max:
                return found
        tag = sig.cosign_tag(digest)
        try:
            record = await self._services.manifests.get(repository, tag)
        except DockyardError:
            return found
        found.append(sig.Candidate(record.digest, record.media_type, record.content, via_tag=tag))
        return found

    async def own_verdict(
        self, repository: str, digest: str, trust: sig.TrustPolicy
    ) -> SignatureVerdict:
        if trust.empty():
            return SignatureVerdict(False, sig.Reason.NO_TRUST.value)
        candidates = await self.candidates(repository, digest)
        verdict = await sig.verify(digest, candidates, self._read_blob, trust)
        if verdict.signed:
            who = ", ".join(verdict.signers) or "a trusted signer"
            return SignatureVerdict(
                True, f"signed by {who}", verdict.signers, None, verdict.results
            )
        return SignatureVerdict(False, verdict.reason.value, (), None, verdict.results)

    async def verdict(
        self, repository: str, record: ManifestRecord, trust: sig.TrustPolicy
    ) -> SignatureVerdict:
        """The artifact's own verdict; an unsigned manifest listed by a signed index of
        the same repository counts as signed through it (a client resolving the index's
        platform pulls the child by digest)."""
        own = await self.own_verdict(repository, record.digest, trust)
        if own.signed or own.reason == sig.Reason.NO_TRUST.value:
            return own
        for parent in await self._store.parents(repository, record.digest):
            theirs = await self.own_verdict(repository, parent, trust)
            if theirs.signed:
                return SignatureVerdict(
                    True,
                    f"{theirs.reason} (through index {parent})",
                    theirs.signers,
                    parent,
                    own.results,
                )
        return own


@dataclass(frozen=True, slots=True)
class VulnerabilityVerdict:
    scanned: bool
    findings: tuple[Finding, ...] = ()
    """the findings at or above the lowest threshold a policy may set (LOW), worst first"""
    error: str | None = None


async def vulnerability_verdict(
    services: Any, store: SupplyChainStore, scanner: str, record: ManifestRecord
) -> VulnerabilityVerdict:
    """The report of the artifact (of every child, for an index): unscanned when any
    part has no successful report."""
    digests = [record.digest]
    if record.media_type in mt.INDEXES:
        children = parse(record.content).get("manifests")
        digests = [
            str(c["digest"])
            for c in (children if isinstance(children, list) else [])[:MAX_CHILDREN]
            if isinstance(c, dict) and isinstance(c.get("digest"), str)
        ]
        if not digests:
            return VulnerabilityVerdict(False, error="an index with no children")
    found: list[Finding] = []
    for digest in digests:
        report = await store.report(digest, scanner)
        if report is None or report.status != "succeeded":
            return VulnerabilityVerdict(False, error=None if report is None else report.error)
        found.extend(f for f in report.findings if f.severity >= Severity.LOW)
    found.sort(key=lambda f: (-f.severity, f.id, f.package))
    return VulnerabilityVerdict(True, tuple(found))
