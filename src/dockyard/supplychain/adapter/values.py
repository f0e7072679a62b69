"""What the scanner-adapter client takes and returns; pure data, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from dockyard.supplychain.model import Finding, Severity


class AdapterError(Exception):
    """A scanner adapter could not be used; the message is one line naming the adapter and
    what failed (never a credential)."""

    def __init__(self, adapter: str, message: str) -> None:
        self.adapter = adapter
        self.reason = message
        super().__init__(f"scanner adapter {adapter!r}: {message}")


@dataclass(frozen=True, slots=True)
class ScanTarget:
    """The artifact an adapter is asked to scan (ScanRequest.artifact)."""

    repository: str
    digest: str
    mime_type: str
    """the manifest's media type (OCI image manifest or Docker schema 2)"""
    tag: str = ""


@dataclass(frozen=True, slots=True)
class Capability:
    """One ScannerCapability of the adapter's metadata."""

    type: str
    """"vulnerability" or "sbom" (v1.2); "vulnerability" where a v1.1 adapter omits it"""
    consumes_mime_types: tuple[str, ...]
    produces_mime_types: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ScannerInfo:
    name: str
    vendor: str
    version: str


@dataclass(frozen=True, slots=True)
class AdapterMetadata:
    """GET /api/v1/metadata, validated: the adapter can produce a report Dockyard reads."""

    scanner: ScannerInfo
    capabilities: tuple[Capability, ...]
    properties: dict[str, str]
    report_mime_type: str
    """the vulnerability report media type Dockyard will ask for"""
    api_version: str
    """"1.2" when the capabilities carry a type, else "1.1\""""

    def consumes(self, mime_type: str) -> bool:
        """Whether the vulnerability capability accepts artifacts of this media type."""
        return any(
            c.type == "vulnerability" and mime_type in c.consumes_mime_types
            for c in self.capabilities
        )

    @property
    def database_updated_at(self) -> str | None:
        return self.properties.get("harbor.scanner-adapter/vulnerability-database-updated-at")


@dataclass(frozen=True, slots=True)
class AdapterReport:
    """A finished scan: the adapter's findings for one digest."""

    adapter: str
    """the configured adapter name (AdapterSettings.name)"""
    scan_id: str
    digest: str
    scanner: ScannerInfo
    generated_at: datetime | None
    severity: Severity
    """the report's overall severity, or the highest finding's when that is higher"""
    findings: tuple[Finding, ...] = field(default=())
    polls: int = 0
    """report requests made (302s included)"""


@dataclass(frozen=True, slots=True)
class AdapterHealth:
    """The outcome of a metadata probe; never raises."""

    adapter: str
    healthy: bool
    message: str
    metadata: AdapterMetadata | None = None
