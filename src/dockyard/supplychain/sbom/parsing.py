"""parse_sbom: the packages of a CycloneDX or SPDX JSON document, bare or inside an
in-toto statement (cosign attest) or a DSSE envelope. Only packages with a package URL
are kept (the vulnerability matcher needs one). Bounded: 64 MiB, 1,000,000 packages;
anything unreadable is a ValueError with a one-line reason."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from packageurl import PackageURL

from dockyard.supplychain.model import Distro, ImageContents, Package
from dockyard.supplychain.sbom.extractors.python import normalize
from dockyard.supplychain.sbom.extractors.rpm import source_of as rpm_source

MAX_DOCUMENT = 64 << 20
MAX_PACKAGES = 1_000_000
_OS_TYPES = frozenset({"deb", "apk", "rpm", "alpm"})
_OS_PURPOSE = frozenset({"OPERATING-SYSTEM", "OPERATING_SYSTEM"})  # tag-value, JSON spellings


def _json(content: bytes | str) -> Any:
    try:
        return json.loads(content)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    except ValueError as exc:
        raise ValueError(f"not JSON: {exc}") from None


def _unwrap(doc: Any) -> Any:
    """The SBOM inside a DSSE envelope and/or an in-toto statement."""
    for _ in range(3):
        if not isinstance(doc, dict):
            raise ValueError("the document is not a JSON object")
        if isinstance(doc.get("payload"), str) and "payloadType" in doc:
            try:
                doc = _json(base64.b64decode(doc["payload"], validate=True))
            except (binascii.Error, ValueError) as exc:
                raise ValueError(f"unreadable DSSE payload: {exc}") from None
        elif "predicate" in doc and "predicateType" in doc:
            doc = doc["predicate"]
            if isinstance(doc, dict) and isinstance(doc.get("Data"), str):
                doc = doc["Data"]  # cosign's custom-predicate wrapping
            if isinstance(doc, str):
                doc = _json(doc)
        else:
            return doc
    if not isinstance(doc, dict):
        raise ValueError("the document is not a JSON object")
    return doc


def _distro_qualifier(value: str) -> Distro:
    head, _, tail = value.rpartition("-")
    if head and tail[:1].isdigit():
        return Distro(id=head.lower(), version_id=tail)
    return Distro(id=value.lower(), version_id="")


def _package(
    purl_text: Any,
    version: Any,
    licenses: tuple[str, ...],
    location: str = "",
    source: tuple[str, str] = ("", ""),
    display_name: Any = None,
) -> tuple[Package, str] | None:
    """A Package from a purl (and the distro qualifier it carries, or "")."""
    if not isinstance(purl_text, str) or not purl_text.startswith("pkg:"):
        return None
    try:
        purl = PackageURL.from_string(purl_text)
    except ValueError:
        return None
    ns, name = purl.namespace, purl.name
    if purl.type == "maven" and ns:
        name = f"{ns}:{name}"
    elif purl.type in ("npm", "golang") and ns:
        name = f"{ns}/{name}"
    if purl.type == "pypi" and isinstance(display_name, str) and normalize(display_name) == name:
        name = display_name  # the purl's name is normalized; keep the spelling
    ver = purl.version or (version if isinstance(version, str) else "")
    if not name or not ver or purl.type == "oci":
        return None
    qualifiers = purl.qualifiers if isinstance(purl.qualifiers, dict) else {}
    source_name, source_version = source
    upstream = qualifiers.get("upstream", "")
    if not source_name and upstream:
        if purl.type == "rpm":
            source_name, source_version = rpm_source(upstream)
        else:
            source_name, _, source_version = upstream.partition("@")
    if purl.type == "rpm" and qualifiers.get("epoch") and ":" not in ver:
        ver = f"{qualifiers['epoch']}:{ver}"
    pkg = Package(
        type=_safe(purl.type),
        name=_safe(name),
        version=_safe(ver),
        purl=_safe(purl.to_string()),
        location=_safe(location),
        source_name=_safe(source_name),
        source_version=_safe(source_version or (ver if source_name else "")),
        licenses=tuple(_safe(v) for v in licenses),
    )
    distro = qualifiers.get("distro", "") if purl.type in _OS_TYPES else ""
    return pkg, _safe(distro)


def _safe(text: str) -> str:
    """JSON may escape lone surrogates ("\\udce9"): they cannot be encoded, so "?"."""
    return text if text.isascii() else text.encode("utf-8", "replace").decode("utf-8")


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _strings(values: list[Any]) -> tuple[str, ...]:
    return tuple(v for v in values if isinstance(v, str) and v)


def _cdx_licenses(component: dict[str, Any]) -> tuple[str, ...]:
    out: list[Any] = []
    for entry in _list(component.get("licenses")):
        if not isinstance(entry, dict):
            continue
        if "expression" in entry:
            out.append(entry["expression"])
        lic = entry.get("license")
        if isinstance(lic, dict):
            out.append(lic.get("id") or lic.get("name"))
    return _strings(out)


def _cdx_properties(component: dict[str, Any]) -> dict[str, str]:
    props: dict[str, str] = {}
    for prop in _list(component.get("properties")):
        if isinstance(prop, dict) and isinstance(prop.get("name"), str):
            name, value = prop["name"], prop.get("value")
            if isinstance(value, str):
                if name.startswith("syft:location:") and name.endswith(":path"):
                    name = "dockyard:location"
                props.setdefault(name, value)
    return props


def _cyclonedx(doc: dict[str, Any]) -> ImageContents:
    packages: list[Package] = []
    distro: Distro | None = None
    qualifier = ""
    stack: list[Any] = list(reversed(_list(doc.get("components"))))
    seen = 0
    while stack and seen < MAX_PACKAGES:
        comp = stack.pop()
        seen += 1
        if not isinstance(comp, dict):
            continue
        nested = comp.get("components")
        if isinstance(nested, list):
            stack.extend(reversed(nested))
        if comp.get("type") == "operating-system" and distro is None:
            name, version = comp.get("name"), comp.get("version")
            if isinstance(name, str) and name:
                version_id = version if isinstance(version, str) else ""
                codename = _cdx_properties(comp).get("dockyard:codename", "")
                distro = Distro(_safe(name.lower()), _safe(version_id), _safe(codename))
            continue
        props = _cdx_properties(comp)
        found = _package(
            comp.get("purl"),
            comp.get("version"),
            _cdx_licenses(comp),
            props.get("dockyard:location", ""),
            (props.get("dockyard:source-name", ""), props.get("dockyard:source-version", "")),
            comp.get("name"),
        )
        if found is not None:
            packages.append(found[0])
            qualifier = qualifier or found[1]
    if distro is None and qualifier:
        distro = _distro_qualifier(qualifier)
    return ImageContents(distro=distro, packages=tuple(packages))


def _spdx_source(text: Any) -> tuple[str, str]:
    prefix = "built package from:"
    if isinstance(text, str) and text.startswith(prefix):
        name, _, version = text[len(prefix) :].strip().partition(" ")
        return name, version.strip()
    return "", ""


def _spdx(doc: dict[str, Any]) -> ImageContents:
    packages: list[Package] = []
    distro: Distro | None = None
    qualifier = ""
    entries = doc.get("packages") or []
    if not isinstance(entries, list):
        raise ValueError("SPDX packages is not a list")
    for entry in entries[:MAX_PACKAGES]:
        if not isinstance(entry, dict):
            continue
        name, version = entry.get("name"), entry.get("versionInfo")
        purpose = entry.get("primaryPackagePurpose")
        if isinstance(purpose, str) and purpose in _OS_PURPOSE and distro is None:
            if isinstance(name, str) and name:
                version_id = version if isinstance(version, str) else ""
                comment = entry.get("comment")
                codename = ""
                if isinstance(comment, str) and comment.startswith("codename: "):
                    codename = comment[len("codename: ") :]
                distro = Distro(_safe(name.lower()), _safe(version_id), _safe(codename))
            continue
        purls = [
            ref.get("referenceLocator")
            for ref in _list(entry.get("externalRefs"))
            if isinstance(ref, dict)
            and ref.get("referenceType") == "purl"
            and ref.get("referenceCategory") in ("PACKAGE-MANAGER", "PACKAGE_MANAGER")
        ]
        if not purls:
            continue
        licenses = _strings(
            [v for v in (entry.get("licenseDeclared"),) if v not in ("NOASSERTION", "NONE")]
        )
        comment = entry.get("comment")
        location = ""
        if isinstance(comment, str) and comment.startswith("location: "):
            location = comment[len("location: ") :]
        found = _package(
            purls[0], version, licenses, location, _spdx_source(entry.get("sourceInfo")), name
        )
        if found is not None:
            packages.append(found[0])
            qualifier = qualifier or found[1]
    if distro is None and qualifier:
        distro = _distro_qualifier(qualifier)
    return ImageContents(distro=distro, packages=tuple(packages))


def parse_sbom(content: bytes, media_type: str) -> ImageContents:
    """The distro and packages of an SBOM document. Raises ValueError.

    The format is recognized from the document itself (media_type is only a hint:
    clients label attestations in many ways)."""
    if len(content) > MAX_DOCUMENT:
        raise ValueError(f"SBOM of {len(content)} bytes is over the {MAX_DOCUMENT}-byte limit")
    doc = _unwrap(_json(content))
    if doc.get("bomFormat") == "CycloneDX":
        return _cyclonedx(doc)
    if isinstance(doc.get("spdxVersion"), str):
        return _spdx(doc)
    raise ValueError(f"neither CycloneDX nor SPDX JSON (media type {media_type})")
