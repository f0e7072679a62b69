"""notation's two signature envelopes, parsed from untrusted bytes into one shape: JWS in
flattened JSON serialization (signature-envelope-jws.md) and COSE_Sign1_Tagged
(signature-envelope-cose.md, RFC 9052).

COSE is read with cbor2 and verified with `cryptography`, not pycose: pycose 1.1.0
(2023) pulls certvalidator (2016), oscrypto and ecdsa into the tree for features not
used here, and a COSE_Sign1 check is only its Sig_structure encoded and one signature
verified — done in notation.py.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cbor2

from dockyard.supplychain.signatures.common import (
    MAX_CHAIN,
    b64decode,
    malformed,
    parse_object,
)

NOTARY_PAYLOAD = "application/vnd.cncf.notary.payload.v1+json"
SIGNING_SCHEME = "io.cncf.notary.signingScheme"
SIGNING_TIME = "io.cncf.notary.signingTime"
AUTHENTIC_SIGNING_TIME = "io.cncf.notary.authenticSigningTime"
EXPIRY = "io.cncf.notary.expiry"
VERIFICATION_PLUGIN = "io.cncf.notary.verificationPlugin"
VERIFICATION_PLUGIN_MIN = "io.cncf.notary.verificationPluginMinVersion"
KNOWN_CRITICAL = frozenset({SIGNING_SCHEME, AUTHENTIC_SIGNING_TIME, EXPIRY})
"""critical headers this verifier processes (a plugin requirement it cannot honour)"""

COSE_ALGORITHMS = {
    -37: "PS256",
    -38: "PS384",
    -39: "PS512",
    -7: "ES256",
    -35: "ES384",
    -36: "ES512",
}
JWS_TOP_LEVEL = frozenset({"payload", "protected", "header", "signature"})


@dataclass(frozen=True, slots=True)
class NotationEnvelope:
    alg: str
    content_type: str
    signing_scheme: str
    signing_time: dt.datetime | None
    expiry: dt.datetime | None
    critical: tuple[str, ...]
    payload: bytes
    signed_bytes: bytes
    """what the signature is over (JWS signing input, COSE Sig_structure)"""
    signature: bytes
    chain: tuple[bytes, ...]
    """DER certificates, the signing certificate first"""


def _check_critical(critical: tuple[str, ...], present: set[str]) -> None:
    if SIGNING_SCHEME not in critical:
        raise malformed("crit does not list io.cncf.notary.signingScheme")
    for name in critical:
        if name not in KNOWN_CRITICAL:
            raise malformed(f"unsupported critical header {name[:80]!r}")
        if name not in present:
            raise malformed(f"critical header {name[:80]!r} is absent")


def _rfc3339(value: object, what: str) -> dt.datetime:
    if not isinstance(value, str) or len(value) > 64:
        raise malformed(f"{what} is not an RFC 3339 time")
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise malformed(f"{what} is not an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise malformed(f"{what} has no time zone")
    return moment


def parse_jws(data: bytes) -> NotationEnvelope:
    doc = parse_object(data, what="JWS envelope")
    if set(doc) - JWS_TOP_LEVEL:
        raise malformed("JWS envelope has fields besides payload/protected/header/signature")
    protected_b64 = doc.get("protected")
    payload_b64 = doc.get("payload")
    if not isinstance(protected_b64, str) or not isinstance(payload_b64, str):
        raise malformed("JWS envelope lacks protected or payload")
    headers = parse_object(b64decode(protected_b64, "JWS protected header", urlsafe=True))
    payload = b64decode(payload_b64, "JWS payload", urlsafe=True)
    signature = b64decode(doc.get("signature"), "JWS signature", urlsafe=True)
    unprotected = doc.get("header")
    if not isinstance(unprotected, dict):
        raise malformed("JWS envelope has no unprotected header")
    x5c = unprotected.get("x5c")
    if not isinstance(x5c, list) or not x5c or len(x5c) > MAX_CHAIN:
        raise malformed("JWS x5c missing, empty or too long")
    chain = tuple(b64decode(c, "x5c certificate") for c in x5c)
    alg = headers.get("alg")
    cty = headers.get("cty")
    scheme = headers.get(SIGNING_SCHEME)
    crit = headers.get("crit")
    if not isinstance(alg, str) or not isinstance(cty, str) or not isinstance(scheme, str):
        raise malformed("JWS protected header lacks alg, cty or signingScheme")
    if not isinstance(crit, list) or not all(isinstance(c, str) for c in crit):
        raise malformed("JWS protected header lacks crit")
    critical = tuple(crit)
    _check_critical(critical, set(headers))
    signing_time = None
    if SIGNING_TIME in headers:
        signing_time = _rfc3339(headers[SIGNING_TIME], "signingTime")
    expiry = _rfc3339(headers[EXPIRY], "expiry") if EXPIRY in headers else None
    return NotationEnvelope(
        alg=alg,
        content_type=cty,
        signing_scheme=scheme,
        signing_time=signing_time,
        expiry=expiry,
        critical=critical,
        payload=payload,
        signed_bytes=f"{protected_b64}.{payload_b64}".encode(),
        signature=signature,
        chain=chain,
    )


def _cbor(data: bytes, what: str) -> Any:
    try:
        decoder = cbor2.CBORDecoder(io.BytesIO(data), max_depth=16, allow_duplicate_keys=False)
        value = decoder.decode()
    except Exception as exc:  # cbor2 raises CBORDecodeError, ValueError, OverflowError, …
        raise malformed(f"{what} is not valid CBOR: {type(exc).__name__}") from None
    return value


def _cbor_time(value: object, what: str) -> dt.datetime:
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value
    if isinstance(value, cbor2.CBORTag) and value.tag == 1:
        value = value.value
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return dt.datetime.fromtimestamp(value, dt.UTC)
        except (OverflowError, OSError, ValueError):
            pass
    raise malformed(f"{what} is not an epoch date/time")


def _chain(value: object) -> tuple[bytes, ...]:
    if isinstance(value, bytes):
        return (value,)
    if (
        isinstance(value, list | tuple)
        and 0 < len(value) <= MAX_CHAIN
        and all(isinstance(c, bytes) for c in value)
    ):
        return tuple(value)
    raise malformed("COSE x5chain missing or not a list of certificates")


def parse_cose(data: bytes) -> NotationEnvelope:
    if len(data) > 1 << 20:
        raise malformed("COSE envelope too large")
    message = _cbor(data, "COSE envelope")
    if not isinstance(message, cbor2.CBORTag) or message.tag != 18:
        raise malformed("not a COSE_Sign1_Tagged message")
    body = message.value
    if not isinstance(body, list | tuple) or len(body) != 4:
        raise malformed("COSE_Sign1 is not a 4-element array")
    protected_bytes, unprotected, payload, signature = body
    if not isinstance(protected_bytes, bytes) or not isinstance(unprotected, Mapping):
        raise malformed("COSE_Sign1 headers malformed")
    if not isinstance(payload, bytes) or not isinstance(signature, bytes):
        raise malformed("COSE_Sign1 payload or signature missing")
    protected = _cbor(protected_bytes, "COSE protected header")
    if not isinstance(protected, Mapping):
        raise malformed("COSE protected header is not a map")
    alg_id = protected.get(1)
    alg = COSE_ALGORITHMS.get(alg_id) if isinstance(alg_id, int) else None
    if alg is None:
        raise malformed("COSE alg missing or not one notation allows")
    cty = protected.get(3)
    scheme = protected.get(SIGNING_SCHEME)
    crit = protected.get(2)
    if not isinstance(cty, str) or not isinstance(scheme, str):
        raise malformed("COSE protected header lacks content type or signingScheme")
    if not isinstance(crit, list | tuple) or not all(isinstance(c, str) for c in crit):
        raise malformed("COSE protected header lacks crit")
    critical = tuple(crit)
    _check_critical(critical, {k for k in protected if isinstance(k, str)})
    signing_time = None
    if SIGNING_TIME in protected:
        signing_time = _cbor_time(protected[SIGNING_TIME], "signingTime")
    expiry = _cbor_time(protected[EXPIRY], "expiry") if EXPIRY in protected else None
    chain = _chain(protected[33] if 33 in protected else unprotected.get(33))
    signed = cbor2.dumps(["Signature1", protected_bytes, b"", payload])
    return NotationEnvelope(
        alg=alg,
        content_type=cty,
        signing_scheme=scheme,
        signing_time=signing_time,
        expiry=expiry,
        critical=critical,
        payload=payload,
        signed_bytes=signed,
        signature=signature,
        chain=chain,
    )
