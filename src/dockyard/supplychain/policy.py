"""The supply-chain policy document: one per project, and a system default a project
without its own inherits. Three parts: signatures (who must have signed), vulnerabilities
(what may not be pulled), SBOMs (what happens on push). Validated here, stored as JSON
(store.py), cached on the pull path (enforce.py)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from cryptography.hazmat.primitives.serialization import load_pem_public_key
from cryptography.x509 import load_pem_x509_certificate
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from dockyard.supplychain.model import Finding, Severity
from dockyard.supplychain.signatures import (
    KeylessIdentity,
    TrustedCertificate,
    TrustedKey,
    TrustPolicy,
)

Mode = Literal["off", "audit", "enforce"]
SeverityName = Literal["LOW", "MEDIUM", "HIGH", "CRITICAL"]
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
VULN_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{1,127}$"
ROBOT = r"^robot\$[a-z0-9][a-z0-9._+-]{0,254}$"
PEM_LIMIT = 16_384
MAX_ENTRIES = 100


class PublicKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    pem: str = Field(
        min_length=1,
        max_length=PEM_LIMIT,
        json_schema_extra={"format": "pem-public-key"},
        description="a PEM public key (ECDSA, RSA or Ed25519), checked when the policy is set",
    )

    @field_validator("pem")
    @classmethod
    def _loads(cls, pem: str) -> str:
        try:
            load_pem_public_key(pem.encode())
        except (ValueError, TypeError) as exc:
            raise ValueError(f"not a PEM public key this server can read: {exc}") from None
        return pem


class CertificateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    pem: str = Field(
        min_length=1,
        max_length=PEM_LIMIT,
        json_schema_extra={"format": "pem-certificate"},
        description="a PEM X.509 certificate, checked when the policy is set",
    )

    @field_validator("pem")
    @classmethod
    def _loads(cls, pem: str) -> str:
        try:
            load_pem_x509_certificate(pem.encode())
        except ValueError as exc:
            raise ValueError(f"not a PEM certificate this server can read: {exc}") from None
        return pem


class KeylessIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    issuer: str = Field(min_length=1, max_length=512, pattern=r"^https://")
    subject: str = Field(min_length=1, max_length=512)


class SignaturePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Mode = Field(
        default="off",
        description="off; audit (pulls go ahead with a Warning header, verdicts reported); "
        "enforce (a pull of an artifact without a signature that verifies is DENIED)",
    )
    keys: list[PublicKeyIn] = Field(default_factory=list, max_length=MAX_ENTRIES)
    notation_certificates: list[CertificateIn] = Field(default_factory=list, max_length=MAX_ENTRIES)
    notation_identities: list[
        Annotated[str, Field(min_length=1, max_length=1024, pattern=r"^(\*|x509\.subject: .+)$")]
    ] = Field(
        default_factory=lambda: ["*"],
        max_length=MAX_ENTRIES,
        description='"x509.subject: C=US, O=Acme, CN=release" or "*" (any certificate '
        "chaining to the trust store)",
    )
    keyless: list[KeylessIn] = Field(
        default_factory=list,
        max_length=0,
        description="keyless identities (issuer, subject): not verified by this version, "
        "so a policy naming one is refused rather than silently ignored",
    )

    @field_validator("keyless", mode="before")
    @classmethod
    def _no_keyless(cls, value: object) -> object:
        if isinstance(value, list) and value:
            raise ValueError(
                "keyless verification (Fulcio certificates, Rekor) is not supported yet: "
                "trust the signing key itself (signatures.keys)"
            )
        return value

    def trust(self, trusted_root: str | None) -> TrustPolicy:
        return TrustPolicy(
            keys=tuple(TrustedKey(k.name, k.pem) for k in self.keys),
            notation_certificates=tuple(
                TrustedCertificate(c.name, c.pem) for c in self.notation_certificates
            ),
            notation_identities=tuple(self.notation_identities),
            keyless=tuple(KeylessIdentity(k.issuer, k.subject) for k in self.keyless),
            trusted_root=trusted_root,
        )


def _iso8601(value: object) -> object:
    """Only ISO 8601 text (or a datetime) is a time here: pydantic alone would also take
    `0` as a Unix time."""
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value.upper())
        except ValueError:
            raise ValueError("expected an ISO 8601 date-time") from None
    if value is None or isinstance(value, dt.datetime):
        return value
    raise ValueError("expected an ISO 8601 date-time")


class AllowEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=VULN_ID, description="a vulnerability id or alias (CVE-2024-1234)")
    expires_at: Annotated[dt.datetime | None, BeforeValidator(_iso8601)] = Field(
        default=None, description="after this the entry no longer applies"
    )
    reason: str = Field(default="", max_length=512)

    def active(self, now: dt.datetime) -> bool:
        if self.expires_at is None:
            return True
        at = self.expires_at if self.expires_at.tzinfo else self.expires_at.replace(tzinfo=dt.UTC)
        return at > now


class VulnerabilityPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Mode = Field(
        default="off",
        description="off; audit (Warning header); enforce (a pull of an artifact with a "
        "vulnerability at or above `severity`, or not scanned when `block_unscanned`, is DENIED)",
    )
    severity: SeverityName = "CRITICAL"
    block_unscanned: bool = Field(default=False, strict=True)
    allowlist: list[AllowEntry] = Field(default_factory=list, max_length=1000)
    exempt_robots: list[Annotated[str, Field(pattern=ROBOT, max_length=255)]] = Field(
        default_factory=list,
        max_length=MAX_ENTRIES,
        description="robot accounts (full names, robot$…) the policy never refuses: "
        "scanners, replication",
    )

    def threshold(self) -> Severity:
        return Severity[self.severity]


class SbomPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    generate_on_push: bool = Field(
        default=False, strict=True, description="make a CycloneDX SBOM of every image pushed"
    )
    scan_on_push: bool = Field(
        default=False, strict=True, description="scan every image pushed (makes its SBOM first)"
    )


class SupplyChainPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    signatures: SignaturePolicy = Field(default_factory=SignaturePolicy)
    vulnerabilities: VulnerabilityPolicy = Field(default_factory=VulnerabilityPolicy)
    sbom: SbomPolicy = Field(default_factory=SbomPolicy)


def blocking(
    findings: list[Finding],
    threshold: Severity,
    allowlists: list[list[AllowEntry]],
    now: dt.datetime,
) -> list[Finding]:
    """The findings at or above `threshold` that no active allowlist entry names."""
    allowed = {e.id.upper() for entries in allowlists for e in entries if e.active(now)}
    return [
        f
        for f in findings
        if f.severity >= threshold and not any(n.upper() in allowed for n in f.names())
    ]
