"""Alpine packages: /lib/apk/db/installed (P: name, V: version, A: arch, o: origin,
L: license). Read by hand: apk-tools is C and no maintained Python library reads its
database; the format is one `X:value` line per field, blank-line separated."""

from __future__ import annotations

from packageurl import PackageURL

from dockyard.supplychain.model import Distro, Package
from dockyard.supplychain.sbom.extractors.osrelease import distro_qualifier

INSTALLED = "lib/apk/db/installed"


def _records(text: str) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                out.append(current)
            current = {}
        elif len(line) >= 2 and line[1] == ":":
            # F:/R: (files) repeat; only the single-valued fields matter here.
            current.setdefault(line[0], line[2:].strip())
    if current:
        out.append(current)
    return out


def extract(path: str, data: bytes, distro: Distro | None) -> list[Package]:
    """The packages of an apk installed database."""
    namespace = distro.id if distro is not None else "alpine"
    qualifier = distro_qualifier(distro)
    found: list[Package] = []
    for rec in _records(data.decode("utf-8", "replace")):
        name, version = rec.get("P", ""), rec.get("V", "")
        if not name or not version:
            continue
        qualifiers = {"arch": rec.get("A", "")}
        if qualifier:
            qualifiers["distro"] = qualifier
        purl = PackageURL(
            type="apk",
            namespace=namespace,
            name=name,
            version=version,
            qualifiers={k: v for k, v in qualifiers.items() if v},
        ).to_string()
        license_ = rec.get("L", "")[:256]
        found.append(
            Package(
                type="apk",
                name=name,
                version=version,
                purl=purl,
                location=path,
                source_name=rec.get("o", "") or name,
                source_version=version,
                licenses=(license_,) if license_ else (),
            )
        )
    return found
