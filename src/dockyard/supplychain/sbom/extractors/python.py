"""Python distributions: *.dist-info/METADATA and *.egg-info/PKG-INFO under
site-packages or dist-packages (core metadata, RFC 822 headers)."""

from __future__ import annotations

import re
from email.parser import HeaderParser

from packageurl import PackageURL

from dockyard.supplychain.model import Package

_DIRS = ("site-packages", "dist-packages")


def is_metadata(parts: list[str]) -> bool:
    """Path components of a distribution's metadata file (or egg-info file)."""
    n = len(parts)
    if n >= 3 and parts[-1] == "METADATA" and parts[-2].endswith(".dist-info"):
        return parts[-3] in _DIRS
    if n >= 3 and parts[-1] == "PKG-INFO":
        if parts[-2].endswith(".egg-info"):
            return parts[-3] in _DIRS
        return n >= 4 and parts[-2] == "EGG-INFO" and parts[-4] in _DIRS
    return n >= 2 and parts[-1].endswith(".egg-info") and parts[-2] in _DIRS


def normalize(name: str) -> str:
    """PEP 503 normalized name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def headers_only(data: bytes) -> bytes:
    """The header block of a METADATA file (the body after the blank line is README)."""
    for sep in (b"\n\n", b"\r\n\r\n"):
        end = data.find(sep)
        if end >= 0:
            return data[: end + 1]
    return data


def extract(path: str, data: bytes) -> list[Package]:
    """The distribution a metadata file describes (none without Name and Version)."""
    msg = HeaderParser().parsestr(headers_only(data).decode("utf-8", "replace"))
    name, version = (msg.get("Name") or "").strip(), (msg.get("Version") or "").strip()
    if not name or not version:
        return []
    license_ = (msg.get("License-Expression") or msg.get("License") or "").strip()
    if "\n" in license_ or len(license_) > 200 or license_ == "UNKNOWN":
        license_ = ""  # the full license text pasted in, or nothing
    purl = PackageURL(type="pypi", name=normalize(name), version=version).to_string()
    licenses = (license_,) if license_ else ()
    return [
        Package(
            type="pypi", name=name, version=version, purl=purl, location=path, licenses=licenses
        )
    ]
