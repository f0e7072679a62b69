"""The shared parts of the signature makers: media types, digests, Go-style JSON, keys."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from nacl import bindings as nacl_bindings

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


def descriptor(
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


def cosign_sign_raw(key: PrivateKey, data: bytes, *, pure_ed25519: bool = False) -> bytes:
    """A signature as cosign makes it with a key file: ECDSA (ASN.1 DER) with the curve's
    default hash (P-256 SHA-256, P-384 SHA-384, P-521 SHA-512), RSA PKCS#1 v1.5 SHA-256,
    Ed25519ph (cosign's default for Ed25519 keys; `pure_ed25519` for older cosign)."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(curve_hash(key.curve)))
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    if pure_ed25519:
        return key.sign(data)
    return ed25519ph_sign(key, data)


def ed25519ph_sign(key: ed25519.Ed25519PrivateKey, data: bytes) -> bytes:
    """Ed25519ph (RFC 8032, SHA-512 prehash, empty context), through libsodium."""
    _, secret = nacl_bindings.crypto_sign_seed_keypair(key.private_bytes_raw())
    state = nacl_bindings.crypto_sign_ed25519ph_state()
    nacl_bindings.crypto_sign_ed25519ph_update(state, data)
    return bytes(nacl_bindings.crypto_sign_ed25519ph_final_create(state, secret))


def curve_hash(curve: ec.EllipticCurve) -> hashes.HashAlgorithm:
    if isinstance(curve, ec.SECP384R1):
        return hashes.SHA384()
    if isinstance(curve, ec.SECP521R1):
        return hashes.SHA512()
    return hashes.SHA256()
