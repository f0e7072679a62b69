"""The Pluggable Scanner Adapter API's media types and JSON shapes (goharbor/
pluggable-scanner-spec, api/spec/scanner-adapter-openapi-v1.1.yaml and -v1.2.yaml), and
their translation into the capability's values.

The shapes are pydantic models, lenient where adapters are in practice (Go adapters
marshal empty lists as null, v1.1 sends `vendor_attributes` as a list, v1.2 as an
object) and strict where Dockyard depends on a value (a scan id, a vulnerability id).
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from typing import Any, TypeVar

from packageurl import PackageURL
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dockyard.supplychain.adapter.values import (
    AdapterMetadata,
    Capability,
    ScannerInfo,
)
from dockyard.supplychain.model import Finding, Severity

METADATA_V11 = "application/vnd.scanner.adapter.metadata+json; version=1.1"
METADATA_V10 = "application/vnd.scanner.adapter.metadata+json; version=1.0"
SCAN_REQUEST_V11 = "application/vnd.scanner.adapter.scan.request+json; version=1.1"
SCAN_REQUEST_V10 = "application/vnd.scanner.adapter.scan.request+json; version=1.0"
SCAN_RESPONSE = "application/vnd.scanner.adapter.scan.response+json; version=1.0"
ERROR = "application/vnd.scanner.adapter.error+json; version=1.0"
REPORT_V11 = "application/vnd.security.vulnerability.report; version=1.1"
REPORT_HARBOR_V10 = "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0"
REPORT_RAW = "application/vnd.scanner.adapter.vuln.report.raw"
SBOM_REPORT = "application/vnd.security.sbom.report+json; version=1.0"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"

READABLE_REPORTS = (REPORT_V11, REPORT_HARBOR_V10)
"""The report media types Dockyard parses (both are HarborVulnerabilityReport), preferred
first; the raw report is vendor-specific and not read."""

MAX_TEXT = 16 << 10
"""a description longer than this is cut (it is shown, never matched on)"""
MAX_LINKS = 64

_M = TypeVar("_M", bound=BaseModel)
_PURL_TYPE = re.compile(r"[a-z][a-z0-9.+-]{0,31}")


class WireError(ValueError):
    """A response body that is not the JSON shape the spec gives; one line."""


def normalize_media_type(text: str) -> str:
    """Lower-cased, without the blanks around ';' and '=': how two spellings compare."""
    parts = [p.strip().lower() for p in text.split(";")]
    params = sorted("=".join(s.strip() for s in p.split("=", 1)) for p in parts[1:] if p)
    return ";".join([parts[0], *params])


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def load_json(body: bytes) -> Any:
    """Parse a JSON body; NaN/Infinity, bad UTF-8 and absurd nesting are WireError."""
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise WireError(f"invalid JSON ({one_line(str(exc), 120)})") from None


def one_line(text: str, limit: int = 200) -> str:
    flat = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def error_message(body: bytes) -> str:
    """The adapter's {"error": {"message"}} if the body is one, else the body's start."""
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return one_line(body[:400].decode("utf-8", "replace"))
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return one_line(err["message"])
        for text in (err, data.get("message")):  # {"error": "…"}, {"message": "…"}
            if isinstance(text, str):
                return one_line(text)
    return one_line(body[:400].decode("utf-8", "replace"))


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


def _none_to_empty(value: object) -> object:
    return [] if value is None else value


class WireScanner(_Lenient):
    name: str = ""
    vendor: str = ""
    version: str = ""

    @field_validator("name", "vendor", "version", mode="before")
    @classmethod
    def _null(cls, value: object) -> object:
        return "" if value is None else value

    def info(self) -> ScannerInfo:
        return ScannerInfo(self.name, self.vendor, self.version)


class WireCapability(_Lenient):
    type: str | None = None
    consumes_mime_types: list[str]
    produces_mime_types: list[str]

    _lists = field_validator("consumes_mime_types", "produces_mime_types", mode="before")(
        _none_to_empty
    )


class WireMetadata(_Lenient):
    scanner: WireScanner
    capabilities: list[WireCapability]
    properties: dict[str, str] = Field(default_factory=dict)

    @field_validator("properties", mode="before")
    @classmethod
    def _scalars(cls, value: object) -> object:
        if value is None:
            return {}
        if isinstance(value, dict):  # a property that is a number or a bool: its text
            return {
                k: (v if isinstance(v, str) else json.dumps(v))
                for k, v in value.items()
                if isinstance(k, str) and (v is None or isinstance(v, (str, int, float, bool)))
            }
        return value


class WireScanResponse(_Lenient):
    id: str = Field(min_length=1, max_length=512)


class WireCvss(_Lenient):
    score_v3: float | None = None
    score_v2: float | None = None
    vector_v3: str | None = None
    vector_v2: str | None = None


class WireVulnerability(_Lenient):
    id: str = Field(min_length=1, max_length=512)
    package: str = Field(default="", max_length=4096)
    version: str = Field(default="", max_length=4096)
    fix_version: str | None = None
    severity: str | None = None
    description: str | None = None
    links: list[str] = Field(default_factory=list)
    preferred_cvss: WireCvss | None = None
    cwe_ids: list[str] = Field(default_factory=list)
    vendor_attributes: dict[str, Any] | list[Any] | None = None

    _lists = field_validator("links", "cwe_ids", mode="before")(_none_to_empty)

    @field_validator("package", "version", mode="before")
    @classmethod
    def _null(cls, value: object) -> object:
        return "" if value is None else value


class WireArtifact(_Lenient):
    repository: str | None = None
    digest: str | None = None
    tag: str | None = None
    mime_type: str | None = None


class WireReport(_Lenient):
    generated_at: datetime | None = None
    artifact: WireArtifact | None = None
    scanner: WireScanner | None = None
    severity: str | None = None
    vulnerabilities: list[WireVulnerability] = Field(default_factory=list)

    _lists = field_validator("vulnerabilities", mode="before")(_none_to_empty)

    @field_validator("generated_at", mode="before")
    @classmethod
    def _time(cls, value: object) -> object:
        if not isinstance(value, str):
            return None
        try:  # RFC 3339 as Go writes it (nanoseconds, "Z"); anything else is left out
            return datetime.fromisoformat(value)
        except ValueError:
            return None


def validate(model: type[_M], data: Any, what: str) -> _M:
    """`model` from parsed JSON, or WireError naming the first wrong field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise WireError(f"{what}: {where}: {one_line(first['msg'], 120)}") from None


def read_metadata(data: Any) -> AdapterMetadata:
    """ScannerAdapterMetadata → AdapterMetadata; WireError when Dockyard cannot use it."""
    wire = validate(WireMetadata, data, "metadata")
    caps = tuple(
        Capability(
            c.type or "vulnerability",
            tuple(c.consumes_mime_types),
            tuple(c.produces_mime_types),
        )
        for c in wire.capabilities
    )
    report = _report_type(caps)
    if report is None:
        produced = sorted({m for c in caps for m in c.produces_mime_types})
        raise WireError(
            f"does not produce a vulnerability report Dockyard reads ({REPORT_V11} or "
            f"{REPORT_HARBOR_V10}); it produces: {', '.join(produced) or 'nothing'}"
        )
    return AdapterMetadata(
        scanner=wire.scanner.info(),
        capabilities=caps,
        properties=dict(wire.properties),
        report_mime_type=report,
        api_version="1.2" if any(c.type is not None for c in wire.capabilities) else "1.1",
    )


def _report_type(caps: tuple[Capability, ...]) -> str | None:
    """The adapter's own spelling of the most preferred readable report type."""
    offered = {
        normalize_media_type(m): m
        for c in caps
        if c.type == "vulnerability"
        for m in c.produces_mime_types
    }
    for wanted in READABLE_REPORTS:
        if normalize_media_type(wanted) in offered:
            return offered[normalize_media_type(wanted)]
    return None


def scan_request(
    repository: str,
    digest: str,
    tag: str,
    mime_type: str,
    registry_url: str,
    registry_authorization: str | None,
    metadata: AdapterMetadata,
) -> tuple[str, dict[str, Any]]:
    """The ScanRequest body and its Content-Type for this adapter's API version."""
    registry: dict[str, str] = {"url": registry_url}
    if registry_authorization is not None:
        registry["authorization"] = registry_authorization
    artifact = {"repository": repository, "digest": digest, "mime_type": mime_type}
    if tag:
        artifact["tag"] = tag
    body: dict[str, Any] = {"registry": registry, "artifact": artifact}
    if metadata.api_version == "1.2":
        body["enabled_capabilities"] = [
            {"type": "vulnerability", "produces_mime_types": [metadata.report_mime_type]}
        ]
        return SCAN_REQUEST_V11, body
    return SCAN_REQUEST_V10, body


def read_scan_id(data: Any) -> str:
    scan_id = validate(WireScanResponse, data, "scan response").id
    if not scan_id.isprintable():
        raise WireError("scan response: id: not printable")
    return scan_id


def read_report(data: Any) -> WireReport:
    return validate(WireReport, data, "report")


def finding(item: WireVulnerability, adapter: str) -> Finding:
    """One VulnerabilityItem as a Finding of the adapter's ecosystem."""
    ptype = _attribute(item, "package_type") or _attribute(item, "pkg_type")
    if ptype is not None and not _PURL_TYPE.fullmatch(ptype):
        ptype = None
    purl = _given_purl(item) or _build_purl(ptype or "generic", item.package, item.version)
    score, vector = _cvss(item.preferred_cvss)
    severity = Severity.parse(item.severity)
    if severity is Severity.UNKNOWN and score is not None:
        severity = Severity.of_score(score)
    fixes = dict.fromkeys(v.strip() for v in (item.fix_version or "").split(",") if v.strip())
    return Finding(
        id=item.id,
        package=item.package,
        installed_version=item.version,
        ecosystem=ptype or f"adapter:{adapter}",
        purl=purl,
        severity=severity,
        fixed_versions=tuple(fixes),
        cvss_score=score,
        cvss_vector=vector,
        summary=(item.description or "")[:MAX_TEXT],
        references=tuple(item.links[:MAX_LINKS]),
    )


def _attribute(item: WireVulnerability, key: str) -> str | None:
    """A string vendor attribute (v1.2: an object; v1.1: a list of {key, value})."""
    attrs = item.vendor_attributes
    value: object = None
    if isinstance(attrs, dict):
        value = attrs.get(key)
    elif isinstance(attrs, list):
        for entry in attrs:
            if isinstance(entry, dict) and entry.get("key") == key:
                value = entry.get("value")
                break
    return value if isinstance(value, str) and 0 < len(value) <= 4096 else None


def _given_purl(item: WireVulnerability) -> str | None:
    text = _attribute(item, "purl")
    if text is None:
        return None
    try:
        return PackageURL.from_string(text).to_string()
    except ValueError:
        return None


def _build_purl(ptype: str, name: str, version: str) -> str:
    if not name:
        return ""
    try:
        return PackageURL(type=ptype, name=name, version=version or None).to_string()
    except ValueError:
        return PackageURL(type="generic", name=name, version=version or None).to_string()


def _cvss(cvss: WireCvss | None) -> tuple[float | None, str | None]:
    if cvss is None:
        return None, None
    for score, vector in ((cvss.score_v3, cvss.vector_v3), (cvss.score_v2, cvss.vector_v2)):
        if score is not None and math.isfinite(score) and 0.0 <= score <= 10.0:
            return score, (vector or None)
    return None, (cvss.vector_v3 or cvss.vector_v2 or None)
