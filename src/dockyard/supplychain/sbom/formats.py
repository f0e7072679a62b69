"""The SBOM documents: CycloneDX 1.6 JSON (cyclonedx-python-lib) and SPDX 2.3 JSON
(spdx-tools, which validates the document before writing it). Both list packages in
a sorted order, so two runs differ only in serial number / namespace and timestamps.
Reading documents back is in parsing.py."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator, Sequence
from contextlib import suppress
from datetime import UTC, datetime
from importlib import metadata
from urllib.parse import quote
from uuid import uuid4

from cyclonedx.contrib.license.factories import LicenseFactory
from cyclonedx.model import Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.dependency import Dependency
from cyclonedx.model.license import DisjunctiveLicense, License
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL
from spdx_tools.common.spdx_licensing import spdx_licensing
from spdx_tools.spdx.model.actor import Actor, ActorType
from spdx_tools.spdx.model.document import CreationInfo, Document
from spdx_tools.spdx.model.package import (
    ExternalPackageRef,
    ExternalPackageRefCategory,
    PackagePurpose,
)
from spdx_tools.spdx.model.package import Package as SpdxPackage
from spdx_tools.spdx.model.relationship import Relationship, RelationshipType
from spdx_tools.spdx.model.spdx_no_assertion import SpdxNoAssertion
from spdx_tools.spdx.writer.json.json_writer import write_document_to_stream

from dockyard.supplychain.model import ImageContents, Package
from dockyard.supplychain.sbom import Subject
from dockyard.supplychain.sbom.parsing import parse_sbom

__all__ = ["parse_sbom", "to_cyclonedx", "to_spdx"]

PROP_LOCATION = "dockyard:location"
PROP_SOURCE_NAME = "dockyard:source-name"
PROP_SOURCE_VERSION = "dockyard:source-version"


def _tool_version() -> str:
    try:
        return metadata.version("dockyard")
    except metadata.PackageNotFoundError:
        return "0"


def image_purl(subject: Subject) -> str:
    """pkg:oci/<last path segment>@<digest>?repository_url=<repository>[&tag=]."""
    qualifiers = {"repository_url": subject.repository}
    if subject.tag:
        qualifiers["tag"] = subject.tag
    name = next((part for part in reversed(subject.repository.split("/")) if part), "image")
    attempts = ((name, qualifiers), (name, None), ("image", None))
    for candidate, quals in attempts:  # packageurl refuses some odd names and values
        with suppress(ValueError, TypeError):
            return PackageURL(
                type="oci", name=candidate, version=subject.digest, qualifiers=quals
            ).to_string()
    return f"pkg:oci/image@{quote(subject.digest, safe=':')}"


def _parsed_purl(text: str) -> PackageURL | None:
    try:
        return PackageURL.from_string(text)
    except ValueError:
        return None


def _sorted(packages: Sequence[Package]) -> list[Package]:
    return sorted(set(packages), key=lambda p: (p.purl, p.location, p.name, p.version))


def _refs(packages: Sequence[Package]) -> Iterator[tuple[str, Package]]:
    """A unique, stable reference per package: its purl, plus the location if shared."""
    counts: dict[str, int] = {}
    for pkg in packages:
        counts[pkg.purl] = counts.get(pkg.purl, 0) + 1
    seen: set[str] = set()
    for pkg in packages:
        ref = pkg.purl if counts[pkg.purl] == 1 else f"{pkg.purl}#{pkg.location}"
        while ref in seen:
            ref += "+"
        seen.add(ref)
        yield ref, pkg


def _cdx_licenses(values: Sequence[str]) -> list[License]:
    factory = LicenseFactory()
    if len(values) == 1:
        return [factory.make_from_string(values[0])]
    out: list[License] = []
    for value in values:  # 1.6 allows several licenses, but not expressions beside them
        made = factory.make_from_string(value)
        out.append(made if isinstance(made, DisjunctiveLicense) else factory.make_with_name(value))
    return out


def _cdx_component(ref: str, pkg: Package) -> Component:
    purl = _parsed_purl(pkg.purl)
    props = [Property(name=PROP_LOCATION, value=pkg.location)] if pkg.location else []
    if pkg.source_name:
        props.append(Property(name=PROP_SOURCE_NAME, value=pkg.source_name))
    if pkg.source_version:
        props.append(Property(name=PROP_SOURCE_VERSION, value=pkg.source_version))
    maven = purl is not None and purl.type == "maven"
    return Component(
        type=ComponentType.LIBRARY,
        name=purl.name if purl is not None and maven else pkg.name,
        group=purl.namespace if purl is not None and maven else None,
        version=pkg.version,
        purl=purl,
        bom_ref=ref,
        licenses=_cdx_licenses(pkg.licenses),
        properties=props,
    )


def to_cyclonedx(subject: Subject, contents: ImageContents) -> bytes:
    """A CycloneDX 1.6 JSON BOM: the image as metadata.component, the OS, the packages."""
    root_ref = image_purl(subject)
    root = Component(
        type=ComponentType.CONTAINER,
        name=subject.repository,
        version=subject.digest,
        purl=_parsed_purl(root_ref),
        bom_ref=root_ref,
    )
    bom = Bom()
    bom.metadata.component = root
    bom.metadata.tools.components.add(
        Component(type=ComponentType.APPLICATION, name="dockyard", version=_tool_version())
    )
    components = [_cdx_component(ref, pkg) for ref, pkg in _refs(_sorted(contents.packages))]
    if (distro := contents.distro) is not None:
        props = (
            [Property(name="dockyard:codename", value=distro.codename)] if distro.codename else []
        )
        components.insert(
            0,
            Component(
                type=ComponentType.OPERATING_SYSTEM,
                name=distro.id,
                version=distro.version_id or None,
                bom_ref=f"os:{distro.id}@{distro.version_id}",
                properties=props,
            ),
        )
    bom.components.update(components)
    # the root depends on every component; Bom.register_dependency is quadratic
    bom.dependencies.add(
        Dependency(ref=root.bom_ref, dependencies=[Dependency(ref=c.bom_ref) for c in components])
    )
    return JsonV1Dot6(bom).output_as_string(indent=2).encode()


def _spdx_license(values: Sequence[str]) -> tuple[object, str | None]:
    """(the declared license expression or NOASSERTION, a comment with the raw text)."""
    if not values:
        return SpdxNoAssertion(), None
    text = " AND ".join(f"({v})" if len(values) > 1 and " " in v else v for v in values)
    try:
        info = spdx_licensing.validate(text)
        if not info.errors and not info.invalid_symbols:
            return spdx_licensing.parse(text), None
    except Exception:  # license-expression raises odd errors on odd text
        pass
    return SpdxNoAssertion(), f"declared license: {text}"


def _spdx_id(kind: str, key: str, seen: set[str]) -> str:
    spdx_id = f"SPDXRef-{kind}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"
    while spdx_id in seen:
        spdx_id += "0"
    seen.add(spdx_id)
    return spdx_id


def _purl_ref(purl: str) -> ExternalPackageRef:
    return ExternalPackageRef(ExternalPackageRefCategory.PACKAGE_MANAGER, "purl", purl)


def to_spdx(subject: Subject, contents: ImageContents) -> bytes:
    """An SPDX 2.3 JSON document: the image package DESCRIBED, CONTAINS each package."""
    created = datetime.now(UTC).replace(microsecond=0)
    info = CreationInfo(
        spdx_version="SPDX-2.3",
        spdx_id="SPDXRef-DOCUMENT",
        name=f"{subject.repository}@{subject.digest}",
        document_namespace=(
            f"https://dockyard.invalid/spdx/{quote(subject.repository, safe='/')}/"
            f"{quote(subject.digest, safe=':')}/{uuid4()}"
        ),
        creators=[Actor(ActorType.TOOL, f"dockyard-{_tool_version()}")],
        created=created,
    )
    image = SpdxPackage(
        spdx_id="SPDXRef-Image",
        name=subject.repository,
        download_location=SpdxNoAssertion(),
        version=subject.digest,
        files_analyzed=False,
        primary_package_purpose=PackagePurpose.CONTAINER,
        external_references=[_purl_ref(image_purl(subject))],
    )
    packages = [image]
    relationships = [Relationship("SPDXRef-DOCUMENT", RelationshipType.DESCRIBES, "SPDXRef-Image")]
    seen: set[str] = {"SPDXRef-Image"}
    if (distro := contents.distro) is not None:
        packages.append(
            SpdxPackage(
                spdx_id="SPDXRef-OperatingSystem",
                name=distro.id,
                download_location=SpdxNoAssertion(),
                version=distro.version_id or None,
                files_analyzed=False,
                primary_package_purpose=PackagePurpose.OPERATING_SYSTEM,
                comment=f"codename: {distro.codename}" if distro.codename else None,
            )
        )
    for pkg in _sorted(contents.packages):
        declared, license_comment = _spdx_license(pkg.licenses)
        source = None
        if pkg.source_name:
            source = f"built package from: {pkg.source_name} {pkg.source_version}".strip()
        packages.append(
            SpdxPackage(
                spdx_id=_spdx_id("Package", f"{pkg.purl}\0{pkg.location}", seen),
                name=pkg.name,
                download_location=SpdxNoAssertion(),
                version=pkg.version,
                files_analyzed=False,
                source_info=source,
                license_concluded=SpdxNoAssertion(),
                license_declared=declared,
                license_comment=license_comment,
                comment=f"location: {pkg.location}" if pkg.location else None,
                external_references=[_purl_ref(pkg.purl)],
            )
        )
    for spdx_package in packages[1:]:
        relationships.append(
            Relationship("SPDXRef-Image", RelationshipType.CONTAINS, spdx_package.spdx_id)
        )
    document = Document(info, packages=packages, relationships=relationships)
    out = io.StringIO()
    write_document_to_stream(document, out, validate=True)
    return out.getvalue().encode()
