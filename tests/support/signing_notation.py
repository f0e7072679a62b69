"""notation signatures as notation-go writes them (notaryproject specs
signature-specification, signature-envelope-jws, signature-envelope-cose), and the x509
PKI they need: a root CA, optional intermediates, a code-signing leaf."""

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

from tests.support.signing_base import (
    COSE_MEDIA_TYPE,
    EMPTY_CONFIG,
    JWS_MEDIA_TYPE,
    NOTARY_PAYLOAD,
    NOTARY_SIGNATURE,
    OCI_EMPTY,
    OCI_MANIFEST,
    Blobs,
    PrivateKey,
    compact_json,
    curve_hash,
    descriptor,
    generate_key,
    sha256_digest,
)

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
        return curve_hash(key.curve)
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
    header = _b64url(compact_json(dict(sorted(protected.items()))))  # Go sorts map keys
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
        manifest["config"] = descriptor(NOTARY_SIGNATURE, EMPTY_CONFIG)
    else:
        manifest["artifactType"] = NOTARY_SIGNATURE
        manifest["config"] = descriptor(OCI_EMPTY, EMPTY_CONFIG)
    manifest["layers"] = [descriptor(envelope_media_type, envelope)]
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
