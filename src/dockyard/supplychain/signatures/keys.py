"""Public keys and the signature schemes cosign and notation use, over `cryptography`.

cosign (sigstore/sigstore's algorithm registry): ECDSA with SHA-256, or with the curve's
default hash (P-384 SHA-384, P-521 SHA-512, which cosign v3 picks; v2 used SHA-256 for
all); RSA PKCS#1 v1.5 SHA-256 (the default) or RSA-PSS SHA-256; Ed25519ph (cosign's
default for Ed25519 keys since it uploads hashedrekord entries; RFC 8032 with SHA-512 and
an empty context, through PyNaCl's libsodium binding since `cryptography` has no
Ed25519ph) or pure Ed25519 (older cosign). notation: the JWS/COSE algorithm of the
protected header, which must match the certificate key.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from nacl import bindings as nacl_bindings
from nacl.exceptions import BadSignatureError

from dockyard.supplychain.signatures import TrustedKey

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey


@dataclass(frozen=True, slots=True)
class NamedKey:
    name: str
    key: PublicKey


def load_public_key(pem: str) -> PublicKey | None:
    """A PEM public key of a supported type (None: unparsable or another type)."""
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None
    if isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        return key
    return None


def load_trusted_keys(keys: Sequence[TrustedKey]) -> list[NamedKey]:
    out = []
    for trusted in keys:
        key = load_public_key(trusted.pem)
        if key is not None:
            out.append(NamedKey(trusted.name, key))
    return out


def certificate_key(cert: x509.Certificate) -> PublicKey | None:
    try:
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm):
        return None
    if isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        return key
    return None


def key_der(key: PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_hint(key: PublicKey) -> str:
    """The Sigstore bundle hint of a key: base64 of SHA-256 of its PKIX DER."""
    return base64.b64encode(hashlib.sha256(key_der(key)).digest()).decode()


def _curve_hash(curve: ec.EllipticCurve) -> hashes.HashAlgorithm:
    if isinstance(curve, ec.SECP384R1):
        return hashes.SHA384()
    if isinstance(curve, ec.SECP521R1):
        return hashes.SHA512()
    return hashes.SHA256()


def cosign_verify(key: PublicKey, signature: bytes, data: bytes) -> bool:
    """Whether `signature` over `data` verifies with `key` under a scheme cosign signs with."""
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            try:
                key.verify(signature, data)
                return True
            except InvalidSignature:
                return ed25519ph_verify(key, signature, data)
        if isinstance(key, ec.EllipticCurvePublicKey):
            candidates: list[hashes.HashAlgorithm] = [hashes.SHA256()]
            if not isinstance(key.curve, ec.SECP256R1):
                candidates.insert(0, _curve_hash(key.curve))
            for algorithm in candidates:
                try:
                    key.verify(signature, data, ec.ECDSA(algorithm))
                    return True
                except InvalidSignature:
                    continue
            return False
        try:
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
            return True
        except InvalidSignature:
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
            key.verify(signature, data, pss, hashes.SHA256())
            return True
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False


def ed25519ph_verify(key: ed25519.Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
    """Ed25519ph (RFC 8032 §5.1, SHA-512 prehash, empty context), as Go's crypto/ed25519
    and cosign make it."""
    if len(signature) != 64:
        return False
    state = nacl_bindings.crypto_sign_ed25519ph_state()
    nacl_bindings.crypto_sign_ed25519ph_update(state, data)
    try:
        return bool(
            nacl_bindings.crypto_sign_ed25519ph_final_verify(
                state, signature, key.public_bytes_raw()
            )
        )
    except (BadSignatureError, ValueError, TypeError):
        return False


def cosign_verify_digest(key: PublicKey, signature: bytes, digest: bytes) -> bool:
    """A signature over a SHA-256 message digest (a bundle's messageSignature)."""
    if len(digest) != 32 or isinstance(key, ed25519.Ed25519PublicKey):
        return False
    prehashed = utils.Prehashed(hashes.SHA256())
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, digest, ec.ECDSA(prehashed))
            return True
        try:
            key.verify(signature, digest, padding.PKCS1v15(), prehashed)
            return True
        except InvalidSignature:
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
            key.verify(signature, digest, pss, prehashed)
            return True
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False


def rsa_signed_by(key: PublicKey, signature: bytes) -> bool:
    """Whether an RSA PKCS#1 v1.5 signature was made by `key`, whatever it signed (the
    signature opens to a well-formed DigestInfo): tells a tampered payload apart from a
    signature by another key."""
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    try:
        key.recover_data_from_signature(signature, padding.PKCS1v15(), None)
        return True
    except (InvalidSignature, ValueError, TypeError):
        return False


NOTATION_ALGORITHMS = ("PS256", "PS384", "PS512", "ES256", "ES384", "ES512")


def notation_algorithm_of(key: PublicKey) -> str | None:
    """The one algorithm notation allows for a certificate key (signature-specification,
    Algorithm Selection)."""
    if isinstance(key, rsa.RSAPublicKey):
        return {2048: "PS256", 3072: "PS384", 4096: "PS512"}.get(key.key_size)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return {256: "ES256", 384: "ES384", 521: "ES512"}.get(key.curve.key_size)
    return None


def notation_verify(key: PublicKey, alg: str, signature: bytes, data: bytes) -> bool:
    """A JWS/COSE signature: RSASSA-PSS with salt = hash length, or ECDSA as raw r||s."""
    if alg not in NOTATION_ALGORITHMS or notation_algorithm_of(key) != alg:
        return False
    digest: hashes.HashAlgorithm = {
        "256": hashes.SHA256(),
        "384": hashes.SHA384(),
        "512": hashes.SHA512(),
    }[alg[2:]]
    try:
        if isinstance(key, rsa.RSAPublicKey):
            pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
            key.verify(signature, data, pss, digest)
            return True
        if isinstance(key, ec.EllipticCurvePublicKey):
            size = (key.curve.key_size + 7) // 8
            if len(signature) != 2 * size:
                return False
            r = int.from_bytes(signature[:size], "big")
            s = int.from_bytes(signature[size:], "big")
            key.verify(utils.encode_dss_signature(r, s), data, ec.ECDSA(digest))
            return True
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return False
