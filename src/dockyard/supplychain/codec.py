"""How SBOM contents and findings are kept in the database: compact JSON, zlib'd."""

from __future__ import annotations

import json
import zlib
from dataclasses import asdict, fields
from typing import Any

from dockyard.supplychain.model import Distro, Finding, ImageContents, Package, Severity

MAX_INFLATED = 256 << 20


def _pack(value: Any) -> bytes:
    return zlib.compress(json.dumps(value, separators=(",", ":")).encode(), 6)


def _unpack(blob: bytes) -> Any:
    inflater = zlib.decompressobj()
    data = inflater.decompress(blob, MAX_INFLATED)
    if inflater.unconsumed_tail:
        raise ValueError("stored document inflates past the limit")
    return json.loads(data)


_PACKAGE_FIELDS = tuple(f.name for f in fields(Package))
_FINDING_FIELDS = tuple(f.name for f in fields(Finding))


def _shallow(value: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """A flat dataclass as a dict (dataclasses.asdict deep-copies: ten times slower)."""
    out = {}
    for name in names:
        v = getattr(value, name)
        out[name] = list(v) if isinstance(v, tuple) else v
    return out


def pack_contents(contents: ImageContents) -> bytes:
    return _pack(
        {
            "distro": None if contents.distro is None else asdict(contents.distro),
            "packages": [_shallow(p, _PACKAGE_FIELDS) for p in contents.packages],
            "warnings": list(contents.warnings),
        }
    )


def unpack_contents(blob: bytes) -> ImageContents:
    raw = _unpack(blob)
    distro = raw.get("distro")
    return ImageContents(
        distro=None if distro is None else Distro(**distro),
        packages=tuple(
            Package(**{**p, "licenses": tuple(p.get("licenses", ()))}) for p in raw["packages"]
        ),
        warnings=tuple(raw.get("warnings", ())),
    )


def finding_json(f: Finding) -> dict[str, Any]:
    out = _shallow(f, _FINDING_FIELDS)
    out["severity"] = f.severity.name
    return out


def pack_findings(findings: list[Finding]) -> bytes:
    return _pack([finding_json(f) for f in findings])


def unpack_findings(blob: bytes) -> list[Finding]:
    out = []
    for raw in _unpack(blob):
        out.append(
            Finding(
                **{
                    **raw,
                    "severity": Severity[raw["severity"]],
                    "fixed_versions": tuple(raw.get("fixed_versions", ())),
                    "aliases": tuple(raw.get("aliases", ())),
                    "references": tuple(raw.get("references", ())),
                }
            )
        )
    return out


def summary_of(findings: list[Finding]) -> dict[str, int]:
    counts = {s.name: 0 for s in Severity if s is not Severity.NONE}
    for f in findings:
        name = f.severity.name if f.severity is not Severity.NONE else "UNKNOWN"
        counts[name] += 1
    return counts
