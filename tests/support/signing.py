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
manifest (by digest for referrers, under `cosign_tag(...)` for the tag forms).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
COSIGN_SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
COSIGN_CERTIFICATE_ANNOTATION = "dev.sigstore.cosign/certificate"
COSIGN_CHAIN_ANNOTATION = "dev.sigstore.cosign/chain"
SIGNATURE_TYPE = "cosign container image signature"
BUNDLE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json"
COSIGN_SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"
INTOTO_PAYLOAD = "application/vnd.in-toto+json"
INTOTO_STATEMENT_V1 = "https://in-toto.io/Statement/v1"
DSSE_LAYER = "application/vnd.dsse.envelope.v1+json"
NOTARY_SIGNATURE = "application/vnd.cncf.notary.signature"
NOTARY_PAYLOAD = "application/vnd.cncf.notary.payload.v1+json"
JWS_MEDIA_TYPE = "application/jose+json"
COSE_MEDIA_TYPE = "application/cose"

EMPTY_CONFIG = b"{}"

Blobs = dict[str, bytes]


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def compact_json(value: Any) -> bytes:
    """JSON as Go's encoding/json writes it (no spaces; keys in the order given)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _descriptor(
    media_type: str, data: bytes, annotations: Mapping[str, str] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "mediaType": media_type,
        "size": len(data),
        "digest": sha256_digest(data),
    }
    if annotations:
        out["annotations"] = dict(annotations)
    return out


def _keys(private_key: PrivateKey | Sequence[PrivateKey]) -> list[PrivateKey]:
    if isinstance(private_key, Sequence):
        return list(private_key)
    return [private_key]


# --- keys -----------------------------------------------------------------------------


def generate_key(kind: str = "p256") -> PrivateKey:
    """p256, p384, p521, rsa2048, rsa3072, rsa4096, ed25519."""
    if kind == "p256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "p384":
        return ec.generate_private_key(ec.SECP384R1())
    if kind == "p521":
        return ec.generate_private_key(ec.SECP521R1())
    if kind.startswith("rsa"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(kind[3:]))
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(kind)


def public_pem(key: PrivateKey) -> str:
    """The PEM public key, as `cosign.pub` holds it."""
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def key_hint(key: PrivateKey) -> str:
    """The Sigstore bundle public-key hint: base64 of SHA-256 of the PKIX DER key."""
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def cosign_sign_raw(key: PrivateKey, data: bytes) -> bytes:
    """A signature as cosign makes it with a key file: ECDSA (ASN.1 DER) with the curve's
    default hash (P-256 SHA-256, P-384 SHA-384, P-521 SHA-512), RSA PKCS#1 v1.5 SHA-256,
    pure Ed25519."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(_curve_hash(key.curve)))
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return key.sign(data)


def _curve_hash(curve: ec.EllipticCurve) -> hashes.HashAlgorithm:
    if isinstance(curve, ec.SECP384R1):
        return hashes.SHA384()
    if isinstance(curve, ec.SECP521R1):
        return hashes.SHA512()
    return hashes.SHA256()


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
        descriptors.append(_descriptor(SIMPLESIGNING, payload, layer_annotations))
    config = _cosign_config([d["digest"] for d in descriptors])
    blobs[sha256_digest(config)] = config
    manifest = compact_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": _descriptor(OCI_CONFIG, config),
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
        descriptors.append(_descriptor(DSSE_LAYER, envelope, {"predicateType": predicate_type}))
    config = _cosign_config([d["digest"] for d in descriptors])
    blobs[sha256_digest(config)] = config
    manifest = compact_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": _descriptor(OCI_CONFIG, config),
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
            "config": _descriptor(OCI_EMPTY, EMPTY_CONFIG),
            "layers": [_descriptor(BUNDLE_V03, bundle, {"org.opencontainers.image.title": title})],
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


# --- x509 -----------------------------------------------------------------------------

_NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


@dataclass(frozen=True)
class Pki:
    """A root CA, optional intermediates, and a code-signing leaf."""

    root_key: PrivateKey
    root: x509.Certificate
    intermediates: tuple[x509.Certificate, ...]
    leaf_key: PrivateKey
    leaf: x509.Certificate

    @property
    def chain(self) -> list[x509.Certificate]:
        """Leaf first, then intermediates, then the root: the order of notation's x5c."""
        return [self.leaf, *self.intermediates, self.root]


def name(**attributes: str) -> x509.Name:
    oids = {
        "C": NameOID.COUNTRY_NAME,
        "ST": NameOID.STATE_OR_PROVINCE_NAME,
        "L": NameOID.LOCALITY_NAME,
        "O": NameOID.ORGANIZATION_NAME,
        "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
        "CN": NameOID.COMMON_NAME,
    }
    return x509.Name([x509.NameAttribute(oids[k], v) for k, v in attributes.items()])


def _signing_hash(key: PrivateKey) -> hashes.HashAlgorithm | None:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return _curve_hash(key.curve)
    return hashes.SHA256()


def _cert(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: Any,
    issuer_key: PrivateKey,
    *,
    ca: bool,
    not_before: dt.datetime,
    not_after: dt.datetime,
    issuer_cert: x509.Certificate | None,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if issuer_cert is not None:
        ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
    if not ca:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False
        )
    return builder.sign(issuer_key, _signing_hash(issuer_key))  # type: ignore[arg-type]


def make_ca_and_leaf(
    leaf_key: PrivateKey | None = None,
    *,
    root_key: PrivateKey | None = None,
    leaf_subject: x509.Name | None = None,
    root_subject: x509.Name | None = None,
    intermediates: int = 0,
    not_valid_before: dt.datetime | None = None,
    leaf_not_valid_after: dt.datetime | None = None,
    ca_not_valid_after: dt.datetime | None = None,
) -> Pki:
    """A notation-style PKI: a root CA (and `intermediates` CAs below it) and a leaf with
    keyUsage digitalSignature and EKU codeSigning. Validity runs from a day before now to
    a year after, unless given (pass a past `leaf_not_valid_after` for an expired leaf)."""
    root_key = root_key or generate_key("p256")
    leaf_key = leaf_key or generate_key("p256")
    start = not_valid_before or _NOW - dt.timedelta(days=1)
    ca_end = ca_not_valid_after or _NOW + dt.timedelta(days=730)
    leaf_end = leaf_not_valid_after or _NOW + dt.timedelta(days=365)
    root_subject = root_subject or name(C="US", ST="WA", O="Dockyard Test", CN="Test Root CA")
    root = _cert(
        root_subject,
        root_subject,
        root_key.public_key(),
        root_key,
        ca=True,
        not_before=start,
        not_after=ca_end,
        issuer_cert=None,
    )
    issuer_key, issuer = root_key, root
    chain: list[x509.Certificate] = []
    for i in range(intermediates):
        key = generate_key("p256")
        cert = _cert(
            name(C="US", ST="WA", O="Dockyard Test", CN=f"Intermediate {i + 1}"),
            issuer.subject,
            key.public_key(),
            issuer_key,
            ca=True,
            not_before=start,
            not_after=ca_end,
            issuer_cert=issuer,
        )
        chain.insert(0, cert)
        issuer_key, issuer = key, cert
    leaf_subject = leaf_subject or name(
        C="US", ST="WA", L="Seattle", O="acme-rockets.io", OU="Finance", CN="SecureBuilder"
    )
    leaf = _cert(
        leaf_subject,
        issuer.subject,
        leaf_key.public_key(),
        issuer_key,
        ca=False,
        not_before=start,
        not_after=leaf_end,
        issuer_cert=issuer,
    )
    return Pki(root_key, root, tuple(chain), leaf_key, leaf)


# --- notation -------------------------------------------------------------------------

JWS_ALGORITHMS = {"PS256": -37, "PS384": -38, "PS512": -39, "ES256": -7, "ES384": -35, "ES512": -36}


def notation_algorithm(key: PrivateKey) -> str:
    """notation's algorithm for the signing key (signature-specification, Algorithm
    Selection): RSA 2048/3072/4096 → PS256/384/512, EC P-256/384/521 → ES256/384/512."""
    if isinstance(key, rsa.RSAPrivateKey):
        return {2048: "PS256", 3072: "PS384", 4096: "PS512"}[key.key_size]
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {256: "ES256", 384: "ES384", 521: "ES512"}[key.curve.key_size]
    raise ValueError("notation signs with RSA or ECDSA keys")


def _hash_of(alg: str) -> hashes.HashAlgorithm:
    return {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}[alg[2:]]


def notation_sign_raw(key: PrivateKey, alg: str, data: bytes) -> bytes:
    """JWS/COSE signature bytes: RSASSA-PSS (salt = hash length) or ECDSA as raw r||s."""
    digest = _hash_of(alg)
    if isinstance(key, rsa.RSAPrivateKey):
        pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
        return key.sign(data, pss, digest)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        r, s = utils.decode_dss_signature(key.sign(data, ec.ECDSA(digest)))
        size = (key.curve.key_size + 7) // 8
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    raise ValueError("notation signs with RSA or ECDSA keys")


def notation_payload(image_digest: str, media_type: str, size: int) -> bytes:
    return compact_json(
        {"targetArtifact": {"digest": image_digest, "mediaType": media_type, "size": size}}
    )


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def notation_jws(
    payload: bytes,
    leaf_key: PrivateKey,
    cert_chain: Sequence[x509.Certificate],
    *,
    signing_time: dt.datetime | None = None,
    expiry: dt.datetime | None = None,
    alg: str | None = None,
    extra_protected: Mapping[str, Any] | None = None,
) -> bytes:
    """A JWS envelope in flattened JSON serialization, as notation-go writes it."""
    alg = alg or notation_algorithm(leaf_key)
    protected: dict[str, Any] = {
        "alg": alg,
        "crit": ["io.cncf.notary.signingScheme"],
        "cty": NOTARY_PAYLOAD,
        "io.cncf.notary.signingScheme": "notary.x509",
        "io.cncf.notary.signingTime": _rfc3339(signing_time or _NOW),
    }
    if expiry is not None:
        protected["crit"].append("io.cncf.notary.expiry")
        protected["io.cncf.notary.expiry"] = _rfc3339(expiry)
    protected.update(extra_protected or {})
    header = _b64url(compact_json(protected))
    body = _b64url(payload)
    signature = notation_sign_raw(leaf_key, alg, f"{header}.{body}".encode())
    return compact_json(
        {
            "payload": body,
            "protected": header,
            "header": {
                "x5c": [
                    base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()
                    for c in cert_chain
                ],
                "io.cncf.notary.signingAgent": "notation-go/1.3.0",
            },
            "signature": _b64url(signature),
        }
    )


def notation_cose(
    payload: bytes,
    leaf_key: PrivateKey,
    cert_chain: Sequence[x509.Certificate],
    *,
    signing_time: dt.datetime | None = None,
    expiry: dt.datetime | None = None,
    alg: str | None = None,
) -> bytes:
    """A COSE_Sign1_Tagged envelope (CBOR tag 18), as notation-go writes it."""
    alg = alg or notation_algorithm(leaf_key)
    crit: list[Any] = ["io.cncf.notary.signingScheme"]
    protected: dict[Any, Any] = {
        1: JWS_ALGORITHMS[alg],
        2: crit,
        3: NOTARY_PAYLOAD,
        "io.cncf.notary.signingScheme": "notary.x509",
        "io.cncf.notary.signingTime": cbor2.CBORTag(1, int((signing_time or _NOW).timestamp())),
    }
    if expiry is not None:
        crit.append("io.cncf.notary.expiry")
        protected["io.cncf.notary.expiry"] = cbor2.CBORTag(1, int(expiry.timestamp()))
    body_protected = cbor2.dumps(protected)
    to_be_signed = cbor2.dumps(["Signature1", body_protected, b"", payload])
    signature = notation_sign_raw(leaf_key, alg, to_be_signed)
    unprotected = {
        33: [c.public_bytes(serialization.Encoding.DER) for c in cert_chain],
        "io.cncf.notary.signingAgent": "notation-go/1.3.0",
    }
    return cbor2.dumps(cbor2.CBORTag(18, [body_protected, unprotected, payload, signature]))


def notation_referrer(
    envelope: bytes,
    envelope_media_type: str,
    image_digest: str,
    media_type: str,
    size: int,
    cert_chain: Sequence[x509.Certificate],
    *,
    config_form: bool = False,
) -> tuple[bytes, Blobs]:
    """The signature manifest: artifactType application/vnd.cncf.notary.signature with an
    empty config (notation's default since 1.2), or `config_form` with the config media
    type carrying it (the older image-manifest form)."""
    thumbprints = [
        hashlib.sha256(c.public_bytes(serialization.Encoding.DER)).hexdigest() for c in cert_chain
    ]
    manifest: dict[str, Any] = {"schemaVersion": 2, "mediaType": OCI_MANIFEST}
    if config_form:
        manifest["config"] = _descriptor(NOTARY_SIGNATURE, EMPTY_CONFIG)
    else:
        manifest["artifactType"] = NOTARY_SIGNATURE
        manifest["config"] = _descriptor(OCI_EMPTY, EMPTY_CONFIG)
    manifest["layers"] = [_descriptor(envelope_media_type, envelope)]
    manifest["subject"] = {"mediaType": media_type, "digest": image_digest, "size": size}
    manifest["annotations"] = {
        "io.cncf.notary.x509chain.thumbprint#S256": json.dumps(thumbprints, separators=(",", ":"))
    }
    return compact_json(manifest), {
        sha256_digest(envelope): envelope,
        sha256_digest(EMPTY_CONFIG): EMPTY_CONFIG,
    }


def notation_signature(
    image_digest: str,
    media_type: str,
    size: int,
    leaf_key: PrivateKey,
    cert_chain: Sequence[x509.Certificate],
    envelope: Literal["jws", "cose"] = "jws",
    *,
    signing_time: dt.datetime | None = None,
    expiry: dt.datetime | None = None,
    config_form: bool = False,
) -> tuple[bytes, Blobs]:
    """What `notation sign` pushes for the image: the referrer and its envelope blob."""
    payload = notation_payload(image_digest, media_type, size)
    if envelope == "jws":
        data = notation_jws(payload, leaf_key, cert_chain, signing_time=signing_time, expiry=expiry)
        kind = JWS_MEDIA_TYPE
    else:
        data = notation_cose(
            payload, leaf_key, cert_chain, signing_time=signing_time, expiry=expiry
        )
        kind = COSE_MEDIA_TYPE
    return notation_referrer(
        data, kind, image_digest, media_type, size, cert_chain, config_form=config_form
    )


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
            "config": _descriptor(OCI_EMPTY, EMPTY_CONFIG),
            "layers": [_descriptor(kind, document)],
            "subject": {"mediaType": media_type, "digest": image_digest, "size": size},
        }
    )
    return manifest, {sha256_digest(document): document, sha256_digest(EMPTY_CONFIG): EMPTY_CONFIG}
