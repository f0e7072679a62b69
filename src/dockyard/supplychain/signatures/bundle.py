"""cosign's bundle form (specs/BUNDLE_SPEC.md; cosign v3's default): an OCI 1.1 referrer
whose layer is a Sigstore bundle (v0.3). `cosign sign` writes a DSSE envelope over an
in-toto statement of predicate type https://sigstore.dev/cosign/sign/v1 naming the image
digest; a messageSignature over the manifest (by its SHA-256 digest) is read too. A DSSE
statement of another predicate type is an attestation: no signature result.

Key-based bundles only: the verification material is a public-key hint (unauthenticated,
used to tell an altered signature by a trusted key from another key's) or a certificate,
which counts when its key is a trusted key; Fulcio/Rekor (keyless) verification is left
out.
"""

from __future__ import annotations

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
    Manifest,
    Rejected,
    b64decode,
    fetch_blob,
    get_obj,
    get_str,
    malformed,
    parse_descriptor,
    parse_object,
)
from dockyard.supplychain.signatures.dsse import (
    COSIGN_SIGN_PREDICATE,
    parse_envelope,
    parse_statement,
    require_subject,
)
from dockyard.supplychain.signatures.keys import (
    NamedKey,
    certificate_key,
    cosign_verify,
    cosign_verify_digest,
    key_hint,
    rsa_signed_by,
)

BUNDLE_MEDIA_TYPES = frozenset(
    {
        "application/vnd.dev.sigstore.bundle.v0.3+json",
        "application/vnd.dev.sigstore.bundle+json;version=0.3",
        "application/vnd.dev.sigstore.bundle+json;version=0.2",
        "application/vnd.dev.sigstore.bundle+json;version=0.1",
    }
)


class NotASignature(Exception):
    """The bundle carries an attestation, not an image signature."""


def _material_certificate(material: dict[str, Any]) -> x509.Certificate | None:
    raw: object = None
    if isinstance(material.get("certificate"), dict):
        raw = material["certificate"].get("rawBytes")
    elif isinstance(material.get("x509CertificateChain"), dict):
        certs = material["x509CertificateChain"].get("certificates")
        if isinstance(certs, list) and certs and isinstance(certs[0], dict):
            raw = certs[0].get("rawBytes")
    if raw is None:
        return None
    try:
        return x509.load_der_x509_certificate(b64decode(raw, "bundle certificate"))
    except ValueError:
        raise malformed("the bundle certificate is not valid DER") from None


def _hint(material: dict[str, Any]) -> str | None:
    public_key = material.get("publicKey")
    if isinstance(public_key, dict) and isinstance(public_key.get("hint"), str):
        return str(public_key["hint"])
    return None


def _decide(
    keys: list[NamedKey],
    verifies: Any,
    signatures: list[bytes],
    material: dict[str, Any],
) -> str:
    """The trusted key's name; raises Rejected with an honest reason otherwise."""
    for named in keys:
        if any(verifies(named.key, sig) for sig in signatures):
            return named.name
    cert = _material_certificate(material)
    if cert is not None:
        cert_key = certificate_key(cert)
        if cert_key is None or not any(verifies(cert_key, sig) for sig in signatures):
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
    hint = _hint(material)
    for named in keys:
        if hint == key_hint(named.key) or any(rsa_signed_by(named.key, s) for s in signatures):
            raise Rejected(
                Reason.INVALID_SIGNATURE,
                f"the signature by trusted key {named.name} does not verify (content altered)",
            )
    raise Rejected(Reason.UNTRUSTED_KEY, "no trusted key verifies the signature")


async def _verify(
    subject_digest: str, manifest: Manifest, read_blob: ReadBlob, keys: list[NamedKey]
) -> str:
    if manifest.subject is not None and manifest.subject.digest != subject_digest:
        raise Rejected(Reason.OTHER_DIGEST, "the bundle manifest's subject is another digest")
    layers = [
        raw
        for raw in manifest.layers
        if isinstance(raw, dict) and raw.get("mediaType") in BUNDLE_MEDIA_TYPES
    ]
    if len(layers) != 1:
        raise malformed("a bundle referrer has exactly one bundle layer")
    layer = parse_descriptor(layers[0], "bundle layer")
    bundle = parse_object(await fetch_blob(read_blob, layer, "bundle"), what="bundle")
    if get_str(bundle, "mediaType", "bundle") not in BUNDLE_MEDIA_TYPES:
        raise malformed("unknown bundle mediaType")
    material = get_obj(bundle, "verificationMaterial", "bundle")
    if isinstance(bundle.get("dsseEnvelope"), dict):
        envelope = parse_envelope(bundle["dsseEnvelope"])
        statement = parse_statement(envelope)
        if statement.predicate_type != COSIGN_SIGN_PREDICATE:
            raise NotASignature(statement.predicate_type)
        require_subject(statement, subject_digest)
        message = envelope.message()
        return _decide(
            keys,
            lambda key, sig: cosign_verify(key, sig, message),
            list(envelope.signatures),
            material,
        )
    if isinstance(bundle.get("messageSignature"), dict):
        signed = bundle["messageSignature"]
        digest_info = get_obj(signed, "messageDigest", "messageSignature")
        if digest_info.get("algorithm") != "SHA2_256":
            raise malformed("messageSignature digest is not SHA2_256")
        digest = b64decode(digest_info.get("digest"), "message digest")
        algorithm, _, hexpart = subject_digest.partition(":")
        if algorithm != "sha256" or digest.hex() != hexpart:
            raise Rejected(Reason.OTHER_DIGEST, "the message signature is over another digest")
        signature = b64decode(signed.get("signature"), "message signature")
        return _decide(
            keys, lambda key, sig: cosign_verify_digest(key, sig, digest), [signature], material
        )
    raise malformed("the bundle has neither dsseEnvelope nor messageSignature")


async def verify_bundle(
    subject_digest: str,
    candidate: Candidate,
    manifest: Manifest,
    read_blob: ReadBlob,
    keys: list[NamedKey],
) -> list[SignatureResult]:
    """One result for a signing bundle; none for an attestation bundle."""
    try:
        signer = await _verify(subject_digest, manifest, read_blob, keys)
    except NotASignature:
        return []
    except Rejected as rejected:
        return [
            SignatureResult(
                kind=ArtifactKind.COSIGN_BUNDLE,
                signature_digest=candidate.digest,
                verified=False,
                reason=rejected.reason,
                detail=rejected.detail,
            )
        ]
    return [
        SignatureResult(
            kind=ArtifactKind.COSIGN_BUNDLE,
            signature_digest=candidate.digest,
            verified=True,
            signer=signer,
        )
    ]
