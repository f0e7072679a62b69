"""Java archives (.jar, .war, .ear): META-INF/maven/<group>/<artifact>/pom.properties,
else the main section of META-INF/MANIFEST.MF; jars nested one level deep
(Spring Boot's BOOT-INF/lib, WEB-INF/lib) are read too, bounded."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import PurePosixPath

from packageurl import PackageURL

from dockyard.supplychain.model import Package

SUFFIXES = (".jar", ".war", ".ear")
_SMALL = 1 << 20  # pom.properties / MANIFEST.MF read at most this big
_MAX_ENTRIES = 100_000
_FILE_VERSION = re.compile(r"^(?P<name>.+?)-(?P<version>\d[\w.+-]*)$")


class JarError(ValueError):
    """A file named like an archive that is not a readable zip."""


def _properties(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        seps = [i for i in (line.find("="), line.find(":")) if i >= 0]
        if not seps:
            continue
        cut = min(seps)
        key, value = line[:cut], line[cut + 1 :]
        out[key.strip()] = value.strip()
    return out


def _manifest(text: str) -> dict[str, str]:
    """The main section of a MANIFEST.MF (72-column continuation lines joined)."""
    out: dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        if not line:
            break
        if line.startswith(" ") and key:
            out[key] += line[1:]
        elif ":" in line:
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out


def _read_small(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> str | None:
    if info.file_size > _SMALL:
        return None
    with zf.open(info) as f:
        return f.read(_SMALL).decode("utf-8", "replace")


def _maven(group: str, artifact: str, version: str, location: str) -> Package:
    purl = PackageURL(
        type="maven", namespace=group or None, name=artifact, version=version
    ).to_string()
    name = f"{group}:{artifact}" if group else artifact
    return Package(type="maven", name=name, version=version, purl=purl, location=location)


def _from_zip(zf: zipfile.ZipFile, location: str, file_name: str) -> list[Package]:
    infos = zf.infolist()[:_MAX_ENTRIES]
    found: list[Package] = []
    for info in infos:
        parts = info.filename.split("/")
        if (
            len(parts) == 5
            and parts[:2] == ["META-INF", "maven"]
            and parts[4] == ("pom.properties")
        ):
            text = _read_small(zf, info)
            props = _properties(text) if text is not None else {}
            group = props.get("groupId", parts[2])
            artifact = props.get("artifactId", parts[3])
            version = props.get("version", "")
            if artifact and version:
                found.append(_maven(group, artifact, version, location))
    if found:
        return found
    try:
        info = zf.getinfo("META-INF/MANIFEST.MF")
    except KeyError:
        return []
    text = _read_small(zf, info)
    attrs = _manifest(text) if text is not None else {}
    stem = PurePosixPath(file_name).stem
    match = _FILE_VERSION.match(stem)
    symbolic = attrs.get("Bundle-SymbolicName", "").split(";")[0].strip()
    artifact = attrs.get("Implementation-Title") or symbolic or (match["name"] if match else stem)
    version = (
        attrs.get("Implementation-Version")
        or attrs.get("Bundle-Version")
        or (match["version"] if match else "")
    )
    group = attrs.get("Implementation-Vendor-Id", "")
    if not artifact or not version:
        return []
    return [_maven(group, artifact.strip(), version.strip(), location)]


def extract(path: str, data: bytes, nested_budget: int) -> list[Package]:
    """The Maven packages of an archive and of the archives nested one level inside it
    (at most nested_budget uncompressed bytes of those). Raises JarError."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            found = _from_zip(zf, path, path)
            for info in zf.infolist()[:_MAX_ENTRIES]:
                if not info.filename.endswith(SUFFIXES) or info.is_dir():
                    continue
                if info.file_size > nested_budget:
                    continue
                nested_budget -= info.file_size
                with zf.open(info) as f:
                    inner = f.read(info.file_size)
                try:
                    with zipfile.ZipFile(io.BytesIO(inner)) as nz:
                        found += _from_zip(nz, f"{path}!/{info.filename}", info.filename)
                except Exception:  # hostile bytes: zipfile raises many kinds
                    continue
            return found
    except Exception as exc:  # hostile bytes: BadZipFile, RuntimeError (encrypted), zlib…
        raise JarError(f"unreadable archive: {exc}") from None
