"""Certificate chains of notation signatures: validated with `cryptography.x509.verification`
(path building to a trust-store certificate, signatures, CA constraints) at the
verification time, the validity windows checked first so an expired certificate is named
as such; and notation's trusted-identity match of the signing certificate's subject.

The chain profile: the Web PKI CA policy for the CAs (basicConstraints, keyUsage
keyCertSign) and any extensions on the leaf (`ExtensionPolicy.permit_all()`): code-signing
certificates carry EKU codeSigning, which the Web PKI leaf policy would refuse.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import (
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from dockyard.supplychain.signatures import Reason, TrustedCertificate
from dockyard.supplychain.signatures.common import Rejected, malformed

_SHORT_NAMES = {
    NameOID.COUNTRY_NAME: "C",
    NameOID.STATE_OR_PROVINCE_NAME: "ST",
    NameOID.LOCALITY_NAME: "L",
    NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.COMMON_NAME: "CN",
    NameOID.EMAIL_ADDRESS: "E",
    NameOID.SERIAL_NUMBER: "SERIALNUMBER",
    NameOID.STREET_ADDRESS: "STREET",
    NameOID.POSTAL_CODE: "POSTALCODE",
    NameOID.DOMAIN_COMPONENT: "DC",
}
_ALIASES = {"S": "ST", "EMAILADDRESS": "E"}


@dataclass(frozen=True, slots=True)
class Anchor:
    name: str
    cert: x509.Certificate


def load_trust_store(certificates: Sequence[TrustedCertificate]) -> list[Anchor]:
    """The parsable certificates of the trust store (a PEM may hold several)."""
    out: list[Anchor] = []
    for trusted in certificates:
        try:
            certs = x509.load_pem_x509_certificates(trusted.pem.encode())
        except ValueError:
            continue
        out.extend(Anchor(trusted.name, c) for c in certs)
    return out


def load_chain(ders: Sequence[bytes]) -> list[x509.Certificate]:
    certs = []
    for der in ders:
        try:
            certs.append(x509.load_der_x509_certificate(der))
        except ValueError:
            raise malformed("a certificate of the chain is not valid DER") from None
    return certs


def _check_validity(cert: x509.Certificate, now: dt.datetime, role: str) -> None:
    if cert.not_valid_after_utc < now:
        raise Rejected(
            Reason.EXPIRED_CERTIFICATE,
            f"{role} certificate {subject_text(cert)} expired {cert.not_valid_after_utc:%Y-%m-%d}",
        )
    if cert.not_valid_before_utc > now:
        raise Rejected(
            Reason.UNTRUSTED_KEY,
            f"{role} certificate {subject_text(cert)} not valid before "
            f"{cert.not_valid_before_utc:%Y-%m-%d}",
        )


def check_signing_certificate(cert: x509.Certificate) -> None:
    """notation's signing-certificate requirements: not a CA, keyUsage digitalSignature
    when keyUsage is present, EKU codeSigning when an EKU is present."""
    try:
        extensions = cert.extensions
    except ValueError:
        raise malformed("the signing certificate has malformed extensions") from None
    try:
        constraints = extensions.get_extension_for_class(x509.BasicConstraints).value
        if constraints.ca:
            raise Rejected(Reason.UNTRUSTED_KEY, "the signing certificate is a CA certificate")
    except x509.ExtensionNotFound:
        pass
    try:
        usage = extensions.get_extension_for_class(x509.KeyUsage).value
        if not usage.digital_signature:
            raise Rejected(
                Reason.UNTRUSTED_KEY, "the signing certificate lacks keyUsage digitalSignature"
            )
    except x509.ExtensionNotFound:
        pass
    try:
        purposes = extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        if ExtendedKeyUsageOID.CODE_SIGNING not in purposes:
            raise Rejected(Reason.UNTRUSTED_KEY, "the signing certificate is not for code signing")
    except x509.ExtensionNotFound:
        pass


def validate_chain(
    chain: Sequence[x509.Certificate], anchors: Sequence[Anchor], now: dt.datetime
) -> str:
    """The name of the trust-store entry the chain leads to; raises Rejected
    (EXPIRED_CERTIFICATE, UNTRUSTED_KEY) otherwise."""
    leaf, rest = chain[0], list(chain[1:])
    _check_validity(leaf, now, "signing")
    check_signing_certificate(leaf)
    for cert in rest:
        _check_validity(cert, now, "chain")
    builder = (
        PolicyBuilder()
        .store(Store([a.cert for a in anchors]))
        .time(now)
        .max_chain_depth(len(chain) + 1)
        .extension_policies(
            ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ExtensionPolicy.permit_all()
        )
    )
    try:
        verified = builder.build_client_verifier().verify(leaf, rest)
    except VerificationError as exc:
        raise Rejected(
            Reason.UNTRUSTED_KEY, f"certificate chain not trusted: {str(exc)[:160]}"
        ) from None
    except ValueError as exc:
        raise Rejected(Reason.UNTRUSTED_KEY, f"certificate chain unusable: {exc}") from None
    root = verified.chain[-1]
    for anchor in anchors:
        if anchor.cert == root:
            return anchor.name
    return "trust store"


def subject_text(cert: x509.Certificate) -> str:
    """The subject as notation writes trusted identities: `C=US, ST=WA, O=…, CN=…`."""
    parts = []
    for attribute in cert.subject:
        label = _SHORT_NAMES.get(attribute.oid, attribute.oid.dotted_string)
        value = attribute.value if isinstance(attribute.value, str) else attribute.value.hex()
        parts.append(f"{label}={value}")
    text = ", ".join(parts)
    return "".join(c if c.isprintable() else "?" for c in text[:256])


def parse_dn(text: str) -> list[tuple[str, str]] | None:
    """`C=US, ST=WA, O=acme` → [("C","US"), …] with notation's escapes (\\, \\; \\\\ and
    an escaped leading/trailing space); None when it is not a DN."""
    parts: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            # an escaped space survives the strip below (kept as NUL until then)
            current.append("\x00" if text[i + 1] == " " else text[i + 1])
            i += 2
            continue
        if ch in ",;":
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    pairs: list[tuple[str, str]] = []
    for raw in parts:
        key, sep, value = raw.partition("=")
        label = key.strip().upper()
        label = _ALIASES.get(label, label)
        value = value.strip(" ").replace("\x00", " ")
        if not sep or not label or not value:
            return None
        pairs.append((label, value))
    return pairs


def identity_matches(identity: str, cert: x509.Certificate) -> bool:
    """notation's trustedIdentities: "*", or "x509.subject: <DN>" whose RDNs are all in the
    signing certificate's subject (a full or partial list)."""
    identity = identity.strip()
    if identity == "*":
        return True
    prefix, sep, dn = identity.partition(":")
    if not sep or prefix.strip() != "x509.subject":
        return False
    wanted = parse_dn(dn)
    if wanted is None:
        return False
    have = set()
    for attribute in cert.subject:
        label = _SHORT_NAMES.get(attribute.oid, attribute.oid.dotted_string)
        if isinstance(attribute.value, str):
            have.add((label, attribute.value))
    return all(pair in have for pair in wanted)
