"""Make signatures in the exact formats real clients write, with `cryptography` (and cbor2
for COSE), so tests can push signed images without cosign or notation installed.

- cosign tag form (`cosign sign --new-bundle-format=false`, SIGNATURE_SPEC.md): an OCI
  image manifest pushed under `sha256-<hex>.sig`, one simplesigning layer per signature,
  the base64 signature in the `dev.cosignproject.cosign/signature` layer annotation;
- cosign bundle form (cosign v3 `cosign sign`, BUNDLE_SPEC.md): an OCI 1.1 referrer whose
  one layer is a Sigstore bundle v0.3 holding a DSSE envelope with an in-toto statement of
  predicate type https://sigstore.dev/cosign/sign/v1 (or a messageSignature);
- cosign attestation tag form (`cosign attest`, `.att`): DSSE envelopes as layers;
- notation (notaryproject specs signature-specification / signature-envelope-jws /
  signature-envelope-cose): a referrer of artifactType application/vnd.cncf.notary.signature
  with one JWS (application/jose+json) or COSE_Sign1 (application/cose) layer.

Every function returns `(manifest_bytes, {digest: blob_bytes})`: push the blobs, then the
manifest (by digest for referrers, under `cosign_tag(...)` for the tag forms). Import
everything from here; signing_base.py (media types, keys) and signing_notation.py (x509
PKI, JWS, COSE) hold parts of it.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from tests.support.signing_base import (
    BUNDLE_V03,
    COSE_MEDIA_TYPE,
    COSIGN_CERTIFICATE_ANNOTATION,
    COSIGN_CHAIN_ANNOTATION,
    COSIGN_SIGN_PREDICATE,
    COSIGN_SIGNATURE_ANNOTATION,
    DSSE_LAYER,
    EMPTY_CONFIG,
    INTOTO_PAYLOAD,
    INTOTO_STATEMENT_V1,
    JWS_MEDIA_TYPE,
    NOTARY_PAYLOAD,
    NOTARY_SIGNATURE,
    OCI_CONFIG,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_MANIFEST,
    SIGNATURE_TYPE,
    SIMPLESIGNING,
    Blobs,
    PrivateKey,
    cert_pem,
    compact_json,
    cosign_sign_raw,
    curve_hash,
    descriptor,
    ed25519ph_sign,
    generate_key,
    key_hint,
    public_pem,
    sha256_digest,
)
from tests.support.signing_notation import (
    JWS_ALGORITHMS,
    Pki,
    make_ca_and_leaf,
    name,
    notation_algorithm,
    notation_cose,
    notation_jws,
    notation_payload,
    notation_referrer,
    notation_sign_raw,
    notation_signature,
)

__all__ = [
    "BUNDLE_V03",
    "COSE_MEDIA_TYPE",
    "COSIGN_CERTIFICATE_ANNOTATION",
    "COSIGN_CHAIN_ANNOTATION",
    "COSIGN_SIGNATURE_ANNOTATION",
    "COSIGN_SIGN_PREDICATE",
    "DSSE_LAYER",
    "EMPTY_CONFIG",
    "INTOTO_PAYLOAD",
    "INTOTO_STATEMENT_V1",
    "JWS_ALGORITHMS",
    "JWS_MEDIA_TYPE",
    "NOTARY_PAYLOAD",
    "NOTARY_SIGNATURE",
    "OCI_CONFIG",
    "OCI_EMPTY",
    "OCI_INDEX",
    "OCI_MANIFEST",
    "SIGNATURE_TYPE",
    "SIMPLESIGNING",
    "Blobs",
    "Pki",
    "PrivateKey",
    "bundle_referrer",
    "cert_pem",
    "compact_json",
    "cosign_attestation",
    "cosign_bundle_signature",
    "cosign_sign_raw",
    "cosign_tag_manifest",
    "cosign_tag_signature",
    "curve_hash",
    "descriptor",
    "dsse_envelope",
    "ed25519ph_sign",
    "generate_key",
    "intoto_statement",
    "key_hint",
    "make_ca_and_leaf",
    "name",
    "notation_algorithm",
    "notation_cose",
    "notation_jws",
    "notation_payload",
    "notation_referrer",
    "notation_sign_raw",
    "notation_signature",
    "pae",
    "public_pem",
    "sbom_referrer",
    "sha256_digest",
    "sigstore_bundle",
    "simplesigning_payload",
]


def _keys(private_key: PrivateKey | Sequence[PrivateKey]) -> list[PrivateKey]:
    if isinstance(private_key, Sequence):
        return list(private_key)
    return [private_key]


# --- cosign tag form ------------------------------------------------------------------


def simplesigning_payload(image_digest: str, docker_reference: str) -> bytes:
    """The payload `cosign sign` signs (Go's struct order; `optional` null)."""
    return compact_json(
        {
            "critical": {
                "identity": {"docker-reference": docker_reference},
                "image": {"docker-manifest-digest": image_digest},
                "type": SIGNATURE_TYPE,
            },
            "optional": None,
        }
    )


def _cosign_config(layer_digests: Sequence[str]) -> bytes:
    """The image config cosign writes for a signature image (go-containerregistry's
    empty config with one diff_id per layer)."""
    return compact_json(
        {
            "architecture": "",
            "created": "0001-01-01T00:00:00Z",
            "history": [{"created": "0001-01-01T00:00:00Z"} for _ in layer_digests],
            "os": "",
            "rootfs": {"type": "layers", "diff_ids": list(layer_digests)},
            "config": {},
        }
    )


def cosign_tag_manifest(layers: Sequence[tuple[bytes, Mapping[str, str]]]) -> tuple[bytes, Blobs]:
    """A tag-form signature manifest from (payload, annotations) layers, as-is (tests use
    it to assemble tampered variants)."""
    blobs: Blobs = {}
    descriptors = []
    for payload, layer_annotations in layers:
        blobs[sha256_digest(payload)] = payload
        descriptors.append(descriptor(SIMPLESIGNING, payload, layer_annotations))
    config = _cosign_config([d["digest"] for d in descriptors])
    blobs[sha256_digest(config)] = config
    manifest = compact_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(OCI_CONFIG, config),
            "layers": descriptors,
        }
    )
    return manifest, blobs


def cosign_tag_signature(
    image_digest: str,
    docker_reference: str,
    private_key: PrivateKey | Sequence[PrivateKey],
    *,
    certificate: x509.Certificate | None = None,
    chain: Sequence[x509.Certificate] = (),
) -> tuple[bytes, Blobs]:
    """The `sha256-<hex>.sig` manifest: one simplesigning layer per key."""
    payload = simplesigning_payload(image_digest, docker_reference)
    layers = []
    for key in _keys(private_key):
        annotations = {
            COSIGN_SIGNATURE_ANNOTATION: base64.b64encode(cosign_sign_raw(key, payload)).decode()
        }
        if certificate is not None:
            annotations[COSIGN_CERTIFICATE_ANNOTATION] = cert_pem(certificate)
            if chain:
                annotations[COSIGN_CHAIN_ANNOTATION] = "".join(cert_pem(c) for c in chain)
        layers.append((payload, annotations))
    return cosign_tag_manifest(layers)


# --- DSSE / in-toto -------------------------------------------------------------------


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def intoto_statement(
    image_digest: str,
    name: str,
    predicate_type: str = COSIGN_SIGN_PREDICATE,
    predicate: Mapping[str, Any] | None = None,
) -> bytes:
    algorithm, _, hexpart = image_digest.partition(":")
    return compact_json(
        {
            "_type": INTOTO_STATEMENT_V1,
            "subject": [{"name": name, "digest": {algorithm: hexpart}}],
            "predicateType": predicate_type,
            "predicate": dict(predicate or {}),
        }
    )


def dsse_envelope(
    statement: bytes, keys: Sequence[PrivateKey], payload_type: str = INTOTO_PAYLOAD
) -> dict[str, Any]:
    """The DSSE envelope in its JSON form (standard base64, as protojson writes bytes)."""
    message = pae(payload_type, statement)
    return {
        "payload": base64.b64encode(statement).decode(),
        "payloadType": payload_type,
        "signatures": [
            {"sig": base64.b64encode(cosign_sign_raw(key, message)).decode()} for key in keys
        ],
    }


def cosign_attestation(
    image_digest: str,
    docker_reference: str,
    private_key: PrivateKey | Sequence[PrivateKey],
    predicate_type: str = "https://slsa.dev/provenance/v1",
    predicate: Mapping[str, Any] | None = None,
) -> tuple[bytes, Blobs]:
    """The `sha256-<hex>.att` manifest `cosign attest --new-bundle-format=false` pushes:
    one layer per attestation, the DSSE envelope JSON as the blob."""
    name = docker_reference.rsplit("@", 1)[0]
    statement = intoto_statement(image_digest, name, predicate_type, predicate)
    blobs: Blobs = {}
    descriptors = []
    for key in _keys(private_key):
        envelope = compact_json(dsse_envelope(statement, [key]))
        blobs[sha256_digest(envelope)] = envelope
        descriptors.append(descriptor(DSSE_LAYER, envelope, {"predicateType": predicate_type}))
    config = _cosign_config([d["digest"] for d in descriptors])
    blobs[sha256_digest(config)] = config
    manifest = compact_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(OCI_CONFIG, config),
            "layers": descriptors,
        }
    )
    return manifest, blobs


# --- cosign bundle form ---------------------------------------------------------------


def sigstore_bundle(
    content: dict[str, Any],
    private_key: PrivateKey,
    certificate: x509.Certificate | None = None,
) -> bytes:
    """A Sigstore bundle v0.3 (protobuf JSON field names) for key-based signing: the
    verification material is the public-key hint (or the certificate)."""
    material: dict[str, Any]
    if certificate is not None:
        der = certificate.public_bytes(serialization.Encoding.DER)
        material = {"certificate": {"rawBytes": base64.b64encode(der).decode()}}
    else:
        material = {"publicKey": {"hint": key_hint(private_key)}}
    return compact_json({"mediaType": BUNDLE_V03, "verificationMaterial": material, **content})


def bundle_referrer(
    bundle: bytes,
    image_digest: str,
    image_media_type: str,
    image_size: int,
    annotations: Mapping[str, str],
) -> tuple[bytes, Blobs]:
    """The OCI 1.1 referrer manifest that attaches a bundle to the image (BUNDLE_SPEC)."""
    bundle_digest = sha256_digest(bundle)
    title = bundle_digest.replace(":", "-") + ".sigstore.json"
    manifest = compact_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": BUNDLE_V03,
            "config": descriptor(OCI_EMPTY, EMPTY_CONFIG),
            "layers": [descriptor(BUNDLE_V03, bundle, {"org.opencontainers.image.title": title})],
            "subject": {"mediaType": image_media_type, "digest": image_digest, "size": image_size},
            "annotations": dict(annotations),
        }
    )
    return manifest, {bundle_digest: bundle, sha256_digest(EMPTY_CONFIG): EMPTY_CONFIG}


def cosign_bundle_signature(
    image_digest: str,
    image_media_type: str,
    image_size: int,
    private_key: PrivateKey,
    *,
    docker_reference: str = "registry.test/project/app",
    content: Literal["dsse", "message"] = "dsse",
    predicate_type: str = COSIGN_SIGN_PREDICATE,
    predicate: Mapping[str, Any] | None = None,
    statement: bytes | None = None,
    created: str = "2026-01-01T00:00:00Z",
) -> tuple[bytes, Blobs]:
    """What cosign v3 `cosign sign --key` pushes by default: a DSSE envelope over an
    in-toto statement of predicate type https://sigstore.dev/cosign/sign/v1 whose subject
    is the image digest. content="message" makes a messageSignature bundle instead (the
    signature over the image manifest, by its digest)."""
    annotations = {"org.opencontainers.image.created": created}
    if content == "dsse":
        name = docker_reference.rsplit("@", 1)[0]
        if statement is None:
            statement = intoto_statement(image_digest, name, predicate_type, predicate)
        body = {"dsseEnvelope": dsse_envelope(statement, [private_key])}
        annotations["dev.sigstore.bundle.content"] = "dsse-envelope"
        annotations["dev.sigstore.bundle.predicateType"] = predicate_type
    else:
        hexpart = image_digest.partition(":")[2]
        digest = bytes.fromhex(hexpart)
        body = {
            "messageSignature": {
                "messageDigest": {
                    "algorithm": "SHA2_256",
                    "digest": base64.b64encode(digest).decode(),
                },
                "signature": base64.b64encode(_sign_prehashed(private_key, digest)).decode(),
            }
        }
        annotations["dev.sigstore.bundle.content"] = "message-signature"
    bundle = sigstore_bundle(body, private_key)
    return bundle_referrer(bundle, image_digest, image_media_type, image_size, annotations)


def _sign_prehashed(key: PrivateKey, digest: bytes) -> bytes:
    prehashed = utils.Prehashed(hashes.SHA256())
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(digest, ec.ECDSA(prehashed))
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(digest, padding.PKCS1v15(), prehashed)
    raise ValueError("Ed25519 cannot sign a message digest")


# --- SBOM referrers (for classify) ---------------------------------------------------


def sbom_referrer(
    image_digest: str, media_type: str, size: int, document: bytes, kind: str
) -> tuple[bytes, Blobs]:
    """An SBOM attached as a referrer the way `oras attach --artifact-type` does."""
    manifest = compact_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": kind,
            "config": descriptor(OCI_EMPTY, EMPTY_CONFIG),
            "layers": [descriptor(kind, document)],
            "subject": {"mediaType": media_type, "digest": image_digest, "size": size},
        }
    )
    return manifest, {sha256_digest(document): document, sha256_digest(EMPTY_CONFIG): EMPTY_CONFIG}
