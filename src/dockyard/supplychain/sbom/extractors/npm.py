"""npm packages: node_modules/<name>/package.json and node_modules/@scope/<name>/package.json."""

from __future__ import annotations

import json
from typing import Any

from packageurl import PackageURL

from dockyard.supplychain.model import Package

_MAX_LICENSE = 256


def is_manifest(parts: list[str]) -> bool:
    """Path components of a package's own package.json (not a file inside a package)."""
    if len(parts) < 3 or parts[-1] != "package.json":
        return False
    if parts[-3] == "node_modules":
        return not parts[-2].startswith("@")
    return len(parts) >= 4 and parts[-4] == "node_modules" and parts[-3].startswith("@")


def _licenses(doc: dict[str, Any]) -> tuple[str, ...]:
    value = doc.get("license")
    if isinstance(value, dict):
        value = value.get("type")
    if isinstance(value, str) and 0 < len(value) <= _MAX_LICENSE:
        return (value,)
    old = doc.get("licenses")
    if isinstance(old, list):
        names = [e.get("type") if isinstance(e, dict) else e for e in old]
        return tuple(n for n in names if isinstance(n, str) and 0 < len(n) <= _MAX_LICENSE)
    return ()


def extract(path: str, data: bytes) -> list[Package]:
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        return []
    if not isinstance(doc, dict):
        return []
    name, version = doc.get("name"), doc.get("version")
    if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
        return []
    namespace, _, short = name.rpartition("/")
    purl = PackageURL(
        type="npm", namespace=namespace or None, name=short, version=version
    ).to_string()
    return [
        Package(
            type="npm",
            name=name,
            version=version,
            purl=purl,
            location=path,
            licenses=_licenses(doc),
        )
    ]
