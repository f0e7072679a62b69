"""Signature verification: cosign (the tag form `sha256-<hex>.sig` and the Sigstore
bundle form stored as an OCI 1.1 referrer) and notation (JWS and COSE envelopes).

The interface the rest of the capability uses (enforce.py, service.py):

- `classify(manifest)`: whether a manifest is itself a signature, an attestation or an
  SBOM (those stay pullable whatever the policy, so clients can verify on their side);
- `verify(subject_digest, candidates, read_blob, trust, now)`: the verdict for one
  artifact, from the signature manifests found for it (its referrers and its cosign
  tag), reading their blobs through `read_blob`.

Pure verification: no database, no HTTP; the caller finds the candidates and caches
the verdict. Implemented in cosign.py, bundle.py and notation.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class ArtifactKind(StrEnum):
    COSIGN = "cosign"
    """cosign tag form: layer application/vnd.dev.cosign.simplesigning.v1+json"""
    COSIGN_BUNDLE = "cosign-bundle"
    """Sigstore bundle (application/vnd.dev.sigstore.bundle.v0.3+json) as a referrer"""
    NOTATION = "notation"
    """artifactType application/vnd.cncf.notary.signature"""
    ATTESTATION = "attestation"
    """in-toto / DSSE (cosign .att, bundles carrying an attestation)"""
    SBOM = "sbom"
    """CycloneDX / SPDX documents (as referrers or cosign .sbom)"""


class Reason(StrEnum):
    """Why an artifact does not count as signed (the DENIED message names it)."""

    NO_SIGNATURE = "no signature"
    UNTRUSTED_KEY = "signed by an untrusted key"
    OTHER_DIGEST = "signature for another digest"
    EXPIRED_CERTIFICATE = "expired certificate"
    INVALID_SIGNATURE = "invalid signature"
    MALFORMED = "malformed signature"
    NO_TRUST = "no trusted key or identity configured"


@dataclass(frozen=True, slots=True)
class TrustedKey:
    name: str
    pem: str
    """a PEM public key: ECDSA P-256/P-384, RSA, Ed25519"""


@dataclass(frozen=True, slots=True)
class TrustedCertificate:
    name: str
    pem: str
    """a PEM CA or signing certificate of a notation trust store"""


@dataclass(frozen=True, slots=True)
class KeylessIdentity:
    issuer: str
    """the OIDC issuer in the Fulcio certificate (https://token.actions.githubusercontent.com)"""
    subject: str
    """the certificate identity (an email or a workflow URI); fnmatch glob allowed"""


@dataclass(frozen=True, slots=True)
class TrustPolicy:
    keys: tuple[TrustedKey, ...] = ()
    """cosign public keys"""
    notation_certificates: tuple[TrustedCertificate, ...] = ()
    """notation trust store"""
    notation_identities: tuple[str, ...] = ()
    """trusted identities of the notation signing certificate: "x509.subject: C=US, O=…"
    as notation's trust policy writes them, or "*" for any certificate chaining to the store"""
    keyless: tuple[KeylessIdentity, ...] = ()
    trusted_root: str | None = None
    """a Sigstore trusted_root.json (content) for offline keyless verification"""

    def empty(self) -> bool:
        return not (self.keys or self.notation_certificates or self.keyless)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A manifest that may sign the subject: one of its referrers, or its cosign tag."""

    digest: str
    media_type: str
    content: bytes
    """the manifest's bytes"""
    via_tag: str | None = None
    """the cosign tag it was found under (sha256-<hex>.sig), None for a referrer"""


ReadBlob = Callable[[str, int], Awaitable[bytes]]
"""read_blob(digest, limit): the blob's bytes (refuses one larger than limit)"""


@dataclass(frozen=True, slots=True)
class SignatureResult:
    kind: ArtifactKind
    signature_digest: str
    """the signature manifest's digest"""
    verified: bool
    signer: str | None = None
    """the trusted key's name or the certificate identity that verified"""
    reason: Reason | None = None
    """why it did not verify"""
    detail: str = ""
    signed_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    digest: str
    results: tuple[SignatureResult, ...] = field(default=())

    @property
    def signed(self) -> bool:
        return any(r.verified for r in self.results)

    @property
    def reason(self) -> Reason:
        """The most telling reason none verified (untrusted key over no signature…)."""
        order = [
            Reason.OTHER_DIGEST,
            Reason.EXPIRED_CERTIFICATE,
            Reason.UNTRUSTED_KEY,
            Reason.INVALID_SIGNATURE,
            Reason.MALFORMED,
            Reason.NO_TRUST,
        ]
        found = {r.reason for r in self.results if r.reason is not None}
        for reason in order:
            if reason in found:
                return reason
        return Reason.NO_SIGNATURE

    @property
    def signers(self) -> tuple[str, ...]:
        return tuple(r.signer for r in self.results if r.verified and r.signer)


SIGNATURE_ARTIFACT_TYPES = frozenset(
    {
        "application/vnd.dev.sigstore.bundle.v0.3+json",
        "application/vnd.dev.sigstore.bundle+json;version=0.3",
        "application/vnd.cncf.notary.signature",
        "application/vnd.dev.cosign.artifact.sig.v1+json",
    }
)
"""artifactTypes of referrers worth reading as candidates (classify decides the rest)"""


def cosign_tag(digest: str, suffix: str = "sig") -> str:
    """The cosign tag of a digest: sha256:abc… → sha256-abc….sig"""
    algorithm, _, hexpart = digest.partition(":")
    return f"{algorithm}-{hexpart}.{suffix}"


def classify(manifest: bytes, media_type: str) -> ArtifactKind | None:
    """Whether the manifest is a signature / attestation / SBOM artifact (None: an image
    or another artifact). Implemented by the signatures helper."""
    from dockyard.supplychain.signatures.detect import classify as _classify

    return _classify(manifest, media_type)


async def verify(
    subject_digest: str,
    candidates: Sequence[Candidate],
    read_blob: ReadBlob,
    trust: TrustPolicy,
    now: dt.datetime | None = None,
) -> Verdict:
    """The verdict for `subject_digest`: one SignatureResult per signature found in the
    candidates (a candidate may hold several: cosign's tag form has one layer per
    signature). Never raises on hostile input: a malformed candidate is a result with
    reason MALFORMED."""
    from dockyard.supplychain.signatures.verifier import verify as _verify

    return await _verify(subject_digest, candidates, read_blob, trust, now)
