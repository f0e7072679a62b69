"""verify(): the verdict for one artifact from its candidate signature manifests. Each
candidate is classified, then read by the verifier of its kind; attestations, SBOMs and
other artifacts add no result. Work is capped (candidates, layers, blob sizes) and a
hostile candidate becomes a MALFORMED result, never an exception."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from dockyard.supplychain.signatures import (
    ArtifactKind,
    Candidate,
    ReadBlob,
    Reason,
    SignatureResult,
    TrustPolicy,
    Verdict,
)
from dockyard.supplychain.signatures.bundle import verify_bundle
from dockyard.supplychain.signatures.common import (
    MAX_CANDIDATES,
    Rejected,
    parse_manifest,
    valid_digest,
)
from dockyard.supplychain.signatures.cosign import verify_cosign
from dockyard.supplychain.signatures.detect import classify
from dockyard.supplychain.signatures.keys import NamedKey, load_trusted_keys
from dockyard.supplychain.signatures.notation import verify_notation

log = logging.getLogger(__name__)


def _guess_kind(candidate: Candidate) -> ArtifactKind | None:
    """The kind of a candidate too broken to classify: its cosign tag says cosign; a
    referrer is labelled by what its bytes mention (it was offered as a signature)."""
    if candidate.via_tag is not None:
        return ArtifactKind.COSIGN if candidate.via_tag.endswith(".sig") else None
    head = candidate.content[:65536]
    if b"notary" in head:
        return ArtifactKind.NOTATION
    if b"sigstore" in head:
        return ArtifactKind.COSIGN_BUNDLE
    if b"cosign" in head:
        return ArtifactKind.COSIGN
    return None


async def _verify_candidate(
    subject_digest: str,
    candidate: Candidate,
    read_blob: ReadBlob,
    trust: TrustPolicy,
    keys: list[NamedKey],
    now: dt.datetime,
) -> list[SignatureResult]:
    kind = classify(candidate.content, candidate.media_type)
    if kind in (ArtifactKind.ATTESTATION, ArtifactKind.SBOM):
        return []
    if kind is None:
        kind = _guess_kind(candidate)
        if kind is None:
            return []
        return [_failed(kind, candidate, Reason.MALFORMED, "not a signature manifest")]
    try:
        manifest = parse_manifest(candidate.content)
    except Rejected as rejected:
        return [_failed(kind, candidate, rejected.reason, rejected.detail)]
    if kind is ArtifactKind.COSIGN:
        return await verify_cosign(subject_digest, candidate, manifest, read_blob, keys)
    if kind is ArtifactKind.COSIGN_BUNDLE:
        return await verify_bundle(subject_digest, candidate, manifest, read_blob, keys)
    return await verify_notation(subject_digest, candidate, manifest, read_blob, trust, now)


def _failed(
    kind: ArtifactKind, candidate: Candidate, reason: Reason, detail: str
) -> SignatureResult:
    return SignatureResult(
        kind=kind,
        signature_digest=candidate.digest,
        verified=False,
        reason=reason,
        detail=detail,
    )


async def verify(
    subject_digest: str,
    candidates: Sequence[Candidate],
    read_blob: ReadBlob,
    trust: TrustPolicy,
    now: dt.datetime | None = None,
) -> Verdict:
    """The verdict for `subject_digest` (see the package docstring)."""
    moment = now or dt.datetime.now(dt.UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    if not valid_digest(subject_digest):
        return Verdict(subject_digest)
    keys = load_trusted_keys(trust.keys)
    results: list[SignatureResult] = []
    seen: set[str] = set()
    for candidate in list(candidates)[:MAX_CANDIDATES]:
        if candidate.digest in seen:
            continue
        seen.add(candidate.digest)
        try:
            found = await _verify_candidate(
                subject_digest, candidate, read_blob, trust, keys, moment
            )
        except Rejected as rejected:
            kind = _guess_kind(candidate) or ArtifactKind.COSIGN
            found = [_failed(kind, candidate, rejected.reason, rejected.detail)]
        except Exception as exc:  # a bug must not turn a hostile candidate into a crash
            log.exception("verifying signature %s of %s", candidate.digest, subject_digest)
            kind = _guess_kind(candidate) or ArtifactKind.COSIGN
            found = [
                _failed(kind, candidate, Reason.MALFORMED, f"unreadable: {type(exc).__name__}")
            ]
        results.extend(found)
    return Verdict(subject_digest, tuple(results))
