"""Signed bearer tokens (Docker token authentication) and refresh tokens.

One signing key serves every replica: an operator-provided PEM file, or a key the
first server generates and keeps in the metadata database. Verification accepts
exactly the configured algorithm with that key, so `alg: none`, HMAC-with-the-public-
key tricks, other keys and tampered claims all fail.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from dockyard.config.auth import TokenSettings

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
_CACHE_SIZE = 4096


class TokenInvalid(Exception):
    """The token is malformed, expired, not ours, or not for this service."""


def generate_key_pem(algorithm: str) -> str:
    key: PrivateKey
    if algorithm == "RS256":
        key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    else:
        key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def load_key(pem: str, algorithm: str) -> PrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if algorithm == "ES256":
        if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1":
            return key
        raise ValueError("ES256 needs a P-256 EC private key")
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size >= 2048:
        return key
    raise ValueError("RS256 needs an RSA private key of at least 2048 bits")


def key_id(key: PrivateKey) -> str:
    """libtrust-style key id (what Docker's own token servers put in `kid`): the SHA-256
    of the DER public key, first 240 bits, base32, in twelve groups of four."""
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    b32 = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode()
    return ":".join(b32[i : i + 4] for i in range(0, 48, 4))


def read_key_file(path: Path) -> str:
    return path.read_text()


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_in: int
    issued_at: str


class TokenService:
    def __init__(self, settings: TokenSettings, pem: str) -> None:
        self.settings = settings
        self.algorithm = settings.algorithm
        self._key = load_key(pem, self.algorithm)
        self._public = self._key.public_key()
        self.kid = key_id(self._key)
        self._verified: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def _sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(
            claims, self._key, algorithm=self.algorithm, headers={"kid": self.kid, "typ": "JWT"}
        )

    def issue(self, subject: str, access: list[dict[str, Any]], kind: str) -> IssuedToken:
        now = int(time.time())
        ttl = self.settings.expiry_seconds
        claims = {
            "iss": self.settings.issuer,
            "sub": subject,
            "aud": self.settings.service,
            "exp": now + ttl,
            "nbf": now - 5,
            "iat": now,
            "jti": secrets.token_urlsafe(16),
            "access": access,
            "dky_kind": kind,
        }
        issued = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
        return IssuedToken(self._sign(claims), ttl, issued)

    def issue_refresh(self, subject: str, kind: str, fingerprint: str) -> str:
        now = int(time.time())
        return self._sign(
            {
                "iss": self.settings.issuer,
                "sub": subject,
                "aud": self.settings.service + "#refresh",
                "exp": now + int(self.settings.refresh_expiry_hours * 3600),
                "iat": now,
                "jti": secrets.token_urlsafe(16),
                "dky_kind": kind,
                "dky_fp": fingerprint,
            }
        )

    def _decode(self, token: str, audience: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
            if header.get("kid") != self.kid:
                raise TokenInvalid("token signed by an unknown key")
            claims: dict[str, Any] = jwt.decode(
                token,
                self._public,
                algorithms=[self.algorithm],
                audience=audience,
                issuer=self.settings.issuer,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
                leeway=5,
            )
        except jwt.ExpiredSignatureError:
            raise TokenInvalid("token expired") from None
        except jwt.PyJWTError as exc:
            raise TokenInvalid(f"invalid token: {exc}") from None
        return claims

    def verify(self, token: str) -> dict[str, Any]:
        """Claims of a valid access token; verified tokens are remembered until they expire."""
        claims = self._verified.get(token)
        if claims is not None:
            if claims["exp"] + 5 >= time.time():
                return claims
            self._verified.pop(token, None)
            raise TokenInvalid("token expired")
        claims = self._decode(token, self.settings.service)
        if not isinstance(claims.get("access", []), list):
            raise TokenInvalid("invalid token: malformed access claim")
        self._verified[token] = claims
        if len(self._verified) > _CACHE_SIZE:
            self._verified.popitem(last=False)
        return claims

    def verify_refresh(self, token: str) -> dict[str, Any]:
        return self._decode(token, self.settings.service + "#refresh")
