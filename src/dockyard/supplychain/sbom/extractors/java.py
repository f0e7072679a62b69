"""Java archives (.jar, .war, .ear): META-INF/maven/<group>/<artifact>/pom.properties,
else the main section of META-INF/MANIFEST.MF; jars nested one level deep
(Spring Boot's BOOT-INF/lib, WEB-INF/lib) are read too, bounded."""

from __future__ import annotations

import io
import re
import zipfile
from contextlib import suppress
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


def _pom_packages(zf: zipfile.ZipFile, location: str) -> list[Package]:
    """One package per META-INF/maven/<group>/<artifact>/pom.properties (a shaded jar
    carries those of what it bundles)."""
    found: list[Package] = []
    for info in zf.infolist()[:_MAX_ENTRIES]:
        parts = info.filename.split("/")
        if len(parts) != 5 or parts[:2] != ["META-INF", "maven"] or parts[4] != "pom.properties":
            continue
        text = _read_small(zf, info)
        props = _properties(text) if text is not None else {}
        artifact, version = props.get("artifactId", parts[3]), props.get("version", "")
        if artifact and version:
            found.append(_maven(props.get("groupId", parts[2]), artifact, version, location))
    return found


def _own_package(zf: zipfile.ZipFile, location: str, file_name: str) -> Package | None:
    """The archive itself from its name (artifact-version.jar) and MANIFEST.MF."""
    attrs: dict[str, str] = {}
    with suppress(KeyError):
        text = _read_small(zf, zf.getinfo("META-INF/MANIFEST.MF"))
        attrs = _manifest(text) if text is not None else {}
    stem = PurePosixPath(file_name).stem
    match = _FILE_VERSION.match(stem)
    symbolic = attrs.get("Bundle-SymbolicName", "").split(";")[0].strip()
    # the file's name is the best artifact id (a title is prose); an OSGi symbolic name
    # is usually the group plus one segment
    artifact = (
        (match["name"] if match else "")
        or symbolic.rpartition(".")[2]
        or attrs.get("Implementation-Title", "")
        or stem
    )
    version = (  # build tools name jars artifact-version.jar; manifests often say less
        (match["version"] if match else "")
        or attrs.get("Implementation-Version")
        or attrs.get("Bundle-Version")
        or ""
    )
    group = attrs.get("Implementation-Vendor-Id", "") or symbolic.rpartition(".")[0]
    if not artifact.strip() or not version.strip():
        return None
    return _maven(group, artifact.strip(), version.strip(), location)


def _from_zip(zf: zipfile.ZipFile, location: str, file_name: str) -> list[Package]:
    """The pom.properties packages; the archive's own identity from its name and
    manifest when none of them is the archive itself (or there are none)."""
    found = _pom_packages(zf, location)
    named = _FILE_VERSION.match(PurePosixPath(file_name).stem)
    artifacts = {p.name.rpartition(":")[2] for p in found}
    if found and (named is None or named["name"] in artifacts):
        return found
    own = _own_package(zf, location, file_name)
    return [*found, own] if own is not None else found


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
