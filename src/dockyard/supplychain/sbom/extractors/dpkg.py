"""Debian packages: /var/lib/dpkg/status and distroless /var/lib/dpkg/status.d/*.

The deb822 paragraphs are split here rather than with python-debian's Deb822: tried
on mutated status files it raised (UnicodeDecodeError, ValueError) and logged per
line, so one stray byte would lose every package of the image; this reader decodes
with replacement and skips what it cannot read."""

from __future__ import annotations

from packageurl import PackageURL

from dockyard.supplychain.model import Distro, Package
from dockyard.supplychain.sbom.extractors.osrelease import distro_qualifier

STATUS = "var/lib/dpkg/status"
STATUS_D = "var/lib/dpkg/status.d/"


def paragraphs(text: str) -> list[dict[str, str]]:
    """deb822 paragraphs: `Field: value` with continuation lines, blank-line separated."""
    out: list[dict[str, str]] = []
    current: dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        if not line.strip():
            if current:
                out.append(current)
            current, key = {}, ""
        elif line[0] in " \t":
            if key:
                current[key] += "\n" + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            key = key.strip()
            current[key] = value.strip()
    if current:
        out.append(current)
    return out


def _installed(status: str | None) -> bool:
    if status is None:  # status.d entries carry no Status field
        return True
    words = status.split()
    return len(words) == 3 and words[1] == "ok" and words[2] == "installed"


def extract(path: str, data: bytes, distro: Distro | None) -> list[Package]:
    """The installed packages of a dpkg status file (or a status.d entry)."""
    namespace = distro.id if distro is not None and distro.id == "ubuntu" else "debian"
    qualifier = distro_qualifier(distro)
    found: list[Package] = []
    for para in paragraphs(data.decode("utf-8", "replace")):
        name, version = para.get("Package", ""), para.get("Version", "")
        if not name or not version or not _installed(para.get("Status")):
            continue
        source_name, source_version = name, version
        if source := para.get("Source", "").strip():  # "glibc" or "shadow (1:4.13+dfsg1-1)"
            source_name, _, rest = source.partition(" ")
            rest = rest.strip()
            if rest.startswith("(") and rest.endswith(")"):
                source_version = rest[1:-1].strip()
        qualifiers = {"arch": para.get("Architecture", "")}
        if qualifier:
            qualifiers["distro"] = qualifier
        purl = PackageURL(
            type="deb",
            namespace=namespace,
            name=name,
            version=version,
            qualifiers={k: v for k, v in qualifiers.items() if v},
        ).to_string()
        found.append(
            Package(
                type="deb",
                name=name,
                version=version,
                purl=purl,
                location=path,
                source_name=source_name,
                source_version=source_version,
            )
        )
    return found
