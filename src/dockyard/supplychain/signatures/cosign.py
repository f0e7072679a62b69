"""cosign's tag form (specs/SIGNATURE_SPEC.md): the `sha256-<hex>.sig` manifest (or the
same manifest as an OCI 1.1 referrer) with one simplesigning layer per signature, the
base64 signature in the `dev.cosignproject.cosign/signature` layer annotation, over the
exact payload blob bytes.

Untrusted or invalid: a signature no trusted key verifies cannot, in general, be told
apart from one by another key. It is INVALID_SIGNATURE when provably altered (the payload
blob does not hash to its descriptor; an embedded certificate's key, or an RSA trusted
key, made the signature over other bytes), UNTRUSTED_KEY otherwise.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from cryptography import x509

from dockyard.supplychain.signatures import (
    ArtifactKind,
    Candidate,
    ReadBlob,
    Reason,
    SignatureResult,
)
from dockyard.supplychain.signatures.common import (
    MAX_LAYERS,
    Manifest,
    Rejected,
    b64decode,
    fetch_blob,
    malformed,
    parse_descriptor,
    parse_object,
)
from dockyard.supplychain.signatures.keys import (
    NamedKey,
    certificate_key,
    cosign_verify,
    rsa_signed_by,
)

SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
CERTIFICATE_ANNOTATION = "dev.sigstore.cosign/certificate"
SIGNATURE_TYPE = "cosign container image signature"


def _lookup(obj: dict[str, Any], key: str) -> object:
    """A field as Go's encoding/json finds it: exact name first, else case-insensitively
    (cosign's own spec example spells it Docker-manifest-digest)."""
    if key in obj:
        return obj[key]
    matches = [v for k, v in obj.items() if isinstance(k, str) and k.lower() == key]
    return matches[0] if len(matches) == 1 else None


def payload_claims(payload: bytes) -> tuple[str, dt.datetime | None]:
    """The signed digest (and the optional timestamp) of a simplesigning payload."""
    doc = parse_object(payload, what="simplesigning payload")
    critical = _lookup(doc, "critical")
    if not isinstance(critical, dict):
        raise malformed("simplesigning payload: critical missing or not an object")
    if _lookup(critical, "type") != SIGNATURE_TYPE:
        raise malformed("critical.type is not 'cosign container image signature'")
    image = _lookup(critical, "image")
    if not isinstance(image, dict):
        raise malformed("critical.image missing")
    digest = _lookup(image, "docker-manifest-digest")
    if not isinstance(digest, str):
        raise malformed("critical.image.docker-manifest-digest missing")
    signed_at = None
    optional = _lookup(doc, "optional")
    if isinstance(optional, dict):
        stamp = optional.get("timestamp")
        if isinstance(stamp, int) and not isinstance(stamp, bool) and 0 < stamp < 1 << 40:
            signed_at = dt.datetime.fromtimestamp(stamp, dt.UTC)
    return digest, signed_at


def _certificate(annotations: dict[str, str]) -> x509.Certificate | None:
    pem = annotations.get(CERTIFICATE_ANNOTATION)
    if not pem:
        return None
    if len(pem) > 64 * 1024:
        raise malformed("certificate annotation too large")
    try:
        return x509.load_pem_x509_certificate(pem.encode())
    except ValueError:
        raise malformed("certificate annotation is not a PEM certificate") from None


def check_signature(
    keys: list[NamedKey], signature: bytes, data: bytes, cert: x509.Certificate | None
) -> str:
    """The name of the trusted key that verifies; raises Rejected otherwise."""
    for named in keys:
        if cosign_verify(named.key, signature, data):
            return named.name
    if cert is not None:
        cert_key = certificate_key(cert)
        if cert_key is None or not cosign_verify(cert_key, signature, data):
            raise Rejected(
                Reason.INVALID_SIGNATURE, "the signature does not verify with its certificate"
            )
        raise Rejected(
            Reason.UNTRUSTED_KEY,
            "signed by a certificate key that is not trusted (keyless verification is not "
            "supported)",
        )
    if not keys:
        raise Rejected(Reason.NO_TRUST, "no cosign public key configured")
    for named in keys:
        if rsa_signed_by(named.key, signature):
            raise Rejected(
                Reason.INVALID_SIGNATURE,
                f"made by trusted key {named.name} over other content (payload altered)",
            )
    raise Rejected(Reason.UNTRUSTED_KEY, "no trusted key verifies the signature")


async def _verify_layer(
    subject_digest: str, raw: object, read_blob: ReadBlob, keys: list[NamedKey]
) -> tuple[str, dt.datetime | None]:
    layer = parse_descriptor(raw, "signature layer")
    encoded = layer.annotations.get(SIGNATURE_ANNOTATION)
    if encoded is None:
        raise malformed(f"the layer has no {SIGNATURE_ANNOTATION} annotation")
    if len(encoded) > 16 * 1024:
        raise malformed("signature annotation too large")
    signature = b64decode(encoded, "signature annotation")
    cert = _certificate(layer.annotations)
    payload = await fetch_blob(read_blob, layer, "payload")
    digest, signed_at = payload_claims(payload)
    if digest != subject_digest:
        raise Rejected(Reason.OTHER_DIGEST, f"the payload signs {digest[:80]!r}")
    return check_signature(keys, signature, payload, cert), signed_at


def is_simplesigning(raw: object) -> bool:
    return isinstance(raw, dict) and raw.get("mediaType") == SIMPLESIGNING


async def verify_cosign(
    subject_digest: str,
    candidate: Candidate,
    manifest: Manifest,
    read_blob: ReadBlob,
    keys: list[NamedKey],
) -> list[SignatureResult]:
    """One result per simplesigning layer (at most MAX_LAYERS)."""

    def result(**fields: Any) -> SignatureResult:
        return SignatureResult(
            kind=ArtifactKind.COSIGN, signature_digest=candidate.digest, **fields
        )

    if manifest.subject is not None and manifest.subject.digest != subject_digest:
        return [
            result(
                verified=False,
                reason=Reason.OTHER_DIGEST,
                detail="the signature manifest's subject is another digest",
            )
        ]
    layers = [raw for raw in manifest.layers if is_simplesigning(raw)][:MAX_LAYERS]
    if not layers:
        return [result(verified=False, reason=Reason.MALFORMED, detail="no simplesigning layer")]
    results = []
    for raw in layers:
        try:
            signer, signed_at = await _verify_layer(subject_digest, raw, read_blob, keys)
        except Rejected as rejected:
            results.append(result(verified=False, reason=rejected.reason, detail=rejected.detail))
            continue
        results.append(result(verified=True, signer=signer, signed_at=signed_at))
    return results
