"""Package extractors, one module per ecosystem. Each is pure: a file's path and bytes
in, packages out. This module says which paths each one wants (`classify`, called for
every tar member, so it is cheap) and runs them over the final filesystem
(`extract_all`), turning a file that cannot be read into a warning."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from dockyard.supplychain.model import Distro, Package
from dockyard.supplychain.sbom.extractors import apk, dpkg, npm, osrelease, python, rpm
from dockyard.supplychain.sbom.extractors.java import SUFFIXES as JAR_SUFFIXES


class Kind(Enum):
    OS_RELEASE = "os-release"
    DPKG = "dpkg"
    APK = "apk"
    RPM = "rpm"
    RPM_LEGACY = "rpm (BerkeleyDB/NDB)"
    PYTHON = "python"
    NPM = "npm"
    JAR = "java"
    GO = "go"


@dataclass(frozen=True, slots=True)
class Entry:
    """A file kept from a layer: a metadata file's bytes (read at the end, when the
    distro is known) or, for binaries, the packages already read from it."""

    kind: Kind
    data: bytes | None = None
    packages: tuple[Package, ...] = ()


_EXACT: dict[str, Kind] = {
    **dict.fromkeys(osrelease.PATHS, Kind.OS_RELEASE),
    dpkg.STATUS: Kind.DPKG,
    apk.INSTALLED: Kind.APK,
    **dict.fromkeys(rpm.SQLITE_PATHS, Kind.RPM),
    **dict.fromkeys(rpm.LEGACY_PATHS, Kind.RPM_LEGACY),
}


def classify(path: str) -> Kind | None:
    """The extractor that wants this (normalized) path, by name alone."""
    kind = _EXACT.get(path)
    if kind is not None:
        return kind
    base = path.rpartition("/")[2]
    if path.startswith(dpkg.STATUS_D):
        rest = path[len(dpkg.STATUS_D) :]
        return Kind.DPKG if rest and "/" not in rest and not rest.endswith(".md5sums") else None
    if base.endswith(JAR_SUFFIXES):
        return Kind.JAR
    if (base in ("METADATA", "PKG-INFO") or base.endswith(".egg-info")) and python.is_metadata(
        path.split("/")
    ):
        return Kind.PYTHON
    if base == "package.json" and "node_modules/" in path and npm.is_manifest(path.split("/")):
        return Kind.NPM
    return None


DEFERRED = frozenset({Kind.OS_RELEASE, Kind.DPKG, Kind.APK, Kind.RPM, Kind.RPM_LEGACY})
"""kinds whose bytes are kept until the end: their packages' URLs name the distro"""


def extract_now(kind: Kind, path: str, data: bytes) -> list[Package]:
    """The packages of a file that needs no distro (Python, npm)."""
    if kind is Kind.PYTHON:
        return python.extract(path, data)
    if kind is Kind.NPM:
        return npm.extract(path, data)
    raise ValueError(f"{kind.value} is read at the end")


def distro_of(files: Mapping[str, Entry]) -> Distro | None:
    """/etc/os-release, else /usr/lib/os-release (os-release(5)); symlinks not followed."""
    for path in osrelease.PATHS:
        entry = files.get(path)
        if entry is not None and entry.data is not None:
            distro = osrelease.parse_os_release(entry.data)
            if distro is not None:
                return distro
    return None


def _extract(path: str, entry: Entry, distro: Distro | None, warnings: list[str]) -> list[Package]:
    data = entry.data or b""
    match entry.kind:
        case Kind.DPKG:
            return dpkg.extract(path, data, distro)
        case Kind.APK:
            return apk.extract(path, data, distro)
        case Kind.RPM:
            return rpm.extract(path, data, distro, warnings)
        case Kind.RPM_LEGACY:
            raise ValueError("BerkeleyDB/NDB rpm databases are not read")
        case _:
            return list(entry.packages)


def extract_all(
    files: Mapping[str, Entry], distro: Distro | None
) -> tuple[list[Package], list[str]]:
    """The packages of every kept file, and a warning for each file that failed."""
    found: list[Package] = []
    warnings: list[str] = []
    for path in sorted(files):
        entry = files[path]
        if entry.kind is Kind.OS_RELEASE:
            continue
        try:
            found += _extract(path, entry, distro, warnings)
        except Exception as exc:  # hostile bytes: one file's failure is a warning
            warnings.append(f"{path}: {entry.kind.value} not read: {exc}")
    return found, warnings
