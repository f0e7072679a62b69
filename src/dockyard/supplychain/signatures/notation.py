"""notation signatures (notaryproject signature-specification, trust-store-trust-policy):
a referrer of artifactType application/vnd.cncf.notary.signature (or, in the older image
form, that config media type) with one JWS or COSE envelope layer.

Checked in notation's order, the first failure deciding: integrity (envelope, signature
with the signing certificate's key, algorithm matching the key), the payload naming the
subject, the signer's expiry, the chain to the trust store at `now`, the trusted identity.
Only the `notary.x509` signing scheme; no revocation or timestamp-authority checks.
"""

from __future__ import annotations

import datetime as dt

from dockyard.supplychain.signatures import (
    ArtifactKind,
    Candidate,
    ReadBlob,
    Reason,
    SignatureResult,
    TrustPolicy,
)
from dockyard.supplychain.signatures.common import (
    Manifest,
    Rejected,
    fetch_blob,
    get_obj,
    malformed,
    parse_descriptor,
    parse_object,
)
from dockyard.supplychain.signatures.envelopes import (
    NOTARY_PAYLOAD,
    NotationEnvelope,
    parse_cose,
    parse_jws,
)
from dockyard.supplychain.signatures.keys import certificate_key, notation_verify
from dockyard.supplychain.signatures.x509chain import (
    identity_matches,
    load_chain,
    load_trust_store,
    subject_text,
    validate_chain,
)

JWS_MEDIA_TYPE = "application/jose+json"
COSE_MEDIA_TYPE = "application/cose"


def _parse_envelope(media_type: str, data: bytes) -> NotationEnvelope:
    if media_type == JWS_MEDIA_TYPE:
        return parse_jws(data)
    if media_type == COSE_MEDIA_TYPE:
        return parse_cose(data)
    raise malformed(f"unsupported notation envelope {media_type[:80]!r}")


def _check_payload(envelope: NotationEnvelope, subject_digest: str) -> None:
    if envelope.content_type != NOTARY_PAYLOAD:
        raise malformed(f"notation payload content type {envelope.content_type[:80]!r}")
    target = get_obj(
        parse_object(envelope.payload, what="notation payload"), "targetArtifact", "payload"
    )
    if target.get("digest") != subject_digest:
        raise Rejected(Reason.OTHER_DIGEST, "the notation payload names another digest")


async def verify_notation(
    subject_digest: str,
    candidate: Candidate,
    manifest: Manifest,
    read_blob: ReadBlob,
    trust: TrustPolicy,
    now: dt.datetime,
) -> list[SignatureResult]:
    """One result: a notation manifest holds exactly one signature envelope."""
    signed_at: dt.datetime | None = None
    try:
        if manifest.subject is not None and manifest.subject.digest != subject_digest:
            raise Rejected(
                Reason.OTHER_DIGEST, "the signature manifest's subject is another digest"
            )
        if len(manifest.layers) != 1:
            raise malformed("a notation signature has exactly one layer")
        layer = parse_descriptor(manifest.layers[0], "notation layer")
        envelope = _parse_envelope(layer.media_type, await fetch_blob(read_blob, layer, "envelope"))
        signed_at = envelope.signing_time
        if envelope.signing_scheme != "notary.x509":
            raise Rejected(
                Reason.UNTRUSTED_KEY,
                f"signing scheme {envelope.signing_scheme[:60]!r} is not supported",
            )
        chain = load_chain(envelope.chain)
        key = certificate_key(chain[0])
        if key is None or not notation_verify(
            key, envelope.alg, envelope.signature, envelope.signed_bytes
        ):
            raise Rejected(
                Reason.INVALID_SIGNATURE,
                f"the {envelope.alg[:16]!r} signature does not verify with the signing certificate",
            )
        _check_payload(envelope, subject_digest)
        if not trust.notation_certificates:
            raise Rejected(Reason.NO_TRUST, "no notation trust store configured")
        if not trust.notation_identities:
            raise Rejected(Reason.NO_TRUST, "no notation trusted identity configured")
        if envelope.expiry is not None and envelope.expiry <= now:
            raise Rejected(
                Reason.EXPIRED_CERTIFICATE, f"the signature expired {envelope.expiry:%Y-%m-%d}"
            )
        anchors = load_trust_store(trust.notation_certificates)
        if not anchors:
            raise Rejected(Reason.NO_TRUST, "no parsable certificate in the notation trust store")
        store_name = validate_chain(chain, anchors, now)
        identity = subject_text(chain[0])
        if not any(identity_matches(i, chain[0]) for i in trust.notation_identities):
            raise Rejected(Reason.UNTRUSTED_KEY, f"identity {identity} is not trusted")
    except Rejected as rejected:
        return [
            SignatureResult(
                kind=ArtifactKind.NOTATION,
                signature_digest=candidate.digest,
                verified=False,
                reason=rejected.reason,
                detail=rejected.detail,
                signed_at=signed_at,
            )
        ]
    return [
        SignatureResult(
            kind=ArtifactKind.NOTATION,
            signature_digest=candidate.digest,
            verified=True,
            signer=identity,
            detail=f"chains to {store_name}",
            signed_at=signed_at,
        )
    ]
