"""The values the parts of the capability share: what an SBOM lists (Package), what a
scan finds (Finding), severities. Pure data, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum


class Severity(IntEnum):
    """Ordered: a policy threshold refuses at or above its level."""

    UNKNOWN = 0
    NONE = 1
    LOW = 2
    MEDIUM = 3
    HIGH = 4
    CRITICAL = 5

    @classmethod
    def parse(cls, text: str | None) -> Severity:
        if not text:
            return cls.UNKNOWN
        name = text.strip().upper()
        if name == "MODERATE":  # GitHub advisories' word for MEDIUM
            name = "MEDIUM"
        if name in ("NEGLIGIBLE", "UNIMPORTANT", "INFO"):
            name = "LOW"
        return cls.__members__.get(name, cls.UNKNOWN)

    @classmethod
    def of_score(cls, score: float) -> Severity:
        """CVSS v3/v4 qualitative rating of a base score."""
        if score >= 9.0:
            return cls.CRITICAL
        if score >= 7.0:
            return cls.HIGH
        if score >= 4.0:
            return cls.MEDIUM
        if score > 0.0:
            return cls.LOW
        return cls.NONE


@dataclass(frozen=True, slots=True)
class Distro:
    """The operating system of an image, from /etc/os-release (or /usr/lib/os-release)."""

    id: str
    """ID=: debian, ubuntu, alpine, rhel, rocky, …"""
    version_id: str
    """VERSION_ID=: 12, 22.04, 3.19.1 (empty when the file has none)"""
    codename: str = ""
    """VERSION_CODENAME=: bookworm, jammy (empty when the file has none)"""


@dataclass(frozen=True, slots=True)
class Package:
    """One package found in an image (or read from a client's SBOM)."""

    type: str
    """the package-URL type: deb, apk, rpm, pypi, npm, golang, maven"""
    name: str
    """as the ecosystem spells it (maven: "group:artifact"; golang: the module path)"""
    version: str
    purl: str
    """the package URL (packageurl-python), with the distro qualifier for OS packages"""
    location: str = ""
    """where in the image it was found (the database file or the metadata file)"""
    source_name: str = ""
    """OS packages: the source package (what Debian/Ubuntu advisories name), if different"""
    source_version: str = ""
    licenses: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ImageContents:
    """What the SBOM generator read out of an image's layers."""

    distro: Distro | None
    packages: tuple[Package, ...]
    warnings: tuple[str, ...] = ()
    """what was skipped and why (a member over the size limit, an unreadable database)"""


@dataclass(frozen=True, slots=True)
class Finding:
    """One vulnerability affecting one installed package."""

    id: str
    """the advisory id (OSV id: CVE-…, GHSA-…, DSA-…, ALPINE-CVE-…, PYSEC-…, GO-…)"""
    package: str
    installed_version: str
    ecosystem: str
    """the OSV ecosystem it matched in: Debian:12, Alpine:v3.19, PyPI, npm, Go, Maven, …"""
    purl: str
    severity: Severity
    fixed_versions: tuple[str, ...] = ()
    """the versions that fix it, in the range it matched (empty: no fix known)"""
    aliases: tuple[str, ...] = ()
    """CVE ids and other ids of the same vulnerability"""
    cvss_score: float | None = None
    cvss_vector: str | None = None
    summary: str = ""
    references: tuple[str, ...] = field(default=())

    def names(self) -> tuple[str, ...]:
        """Its id and aliases: what an allowlist entry may name."""
        return (self.id, *self.aliases)
