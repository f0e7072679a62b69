"""CycloneDX and SPDX documents: schema-valid, deterministic, and read back exactly."""

from __future__ import annotations

import base64
import json
import random
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL
from spdx_tools.spdx.parser.json.json_parser import parse_from_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

from dockyard.supplychain.model import Distro, ImageContents, Package
from dockyard.supplychain.sbom import (
    CYCLONEDX_JSON,
    SPDX_JSON,
    Subject,
    parse_sbom,
    to_cyclonedx,
    to_spdx,
)

SUBJECT = Subject("acme/web", "sha256:" + "ab" * 32, "1.2")
CONTENTS = ImageContents(
    distro=Distro("debian", "12", "bookworm"),
    packages=(
        Package(
            "deb",
            "libc6",
            "2.36-9+deb12u4",
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12",
            "var/lib/dpkg/status",
            "glibc",
            "2.36-9+deb12u4",
            ("LGPL-2.1-or-later",),
        ),
        Package(
            "pypi",
            "Foo_Bar",
            "1.0",
            "pkg:pypi/foo-bar@1.0",
            "usr/lib/python3/dist-packages/Foo_Bar-1.0.dist-info/METADATA",
            licenses=("MIT OR Apache-2.0",),
        ),
        Package(
            "npm",
            "@babel/core",
            "7.23.9",
            "pkg:npm/%40babel/core@7.23.9",
            "app/node_modules/@babel/core/package.json",
            licenses=("MIT", "ISC"),
        ),
        Package(
            "maven",
            "org.apache:commons-lang3",
            "3.14.0",
            "pkg:maven/org.apache/commons-lang3@3.14.0",
            "opt/a.jar",
            licenses=("Apache Software License",),
        ),
        Package(
            "maven",
            "org.apache:commons-lang3",
            "3.14.0",
            "pkg:maven/org.apache/commons-lang3@3.14.0",
            "opt/b.jar",
        ),
        Package("golang", "stdlib", "1.22.1", "pkg:golang/stdlib@1.22.1", "usr/bin/app"),
        Package(
            "rpm",
            "openssl-libs",
            "1:3.0.7-27.el9",
            "pkg:rpm/rhel/openssl-libs@3.0.7-27.el9?arch=x86_64&distro=rhel-9.3&epoch=1",
            "var/lib/rpm/rpmdb.sqlite",
            "openssl",
            "3.0.7-27.el9",
        ),
    ),
)


def _cdx() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(to_cyclonedx(SUBJECT, CONTENTS))
    return doc


def test_cyclonedx_is_schema_valid_1_6() -> None:
    text = to_cyclonedx(SUBJECT, CONTENTS).decode()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None


def test_cyclonedx_describes_the_image_and_lists_each_package() -> None:
    doc = _cdx()
    assert doc["bomFormat"] == "CycloneDX" and doc["specVersion"] == "1.6"
    root = doc["metadata"]["component"]
    image_purl = "pkg:oci/web@sha256:" + "ab" * 32 + "?repository_url=acme/web&tag=1.2"
    assert (root["type"], root["name"], root["version"], root["purl"], root["bom-ref"]) == (
        "container",
        "acme/web",
        SUBJECT.digest,
        image_purl,
        image_purl,
    )
    listed = [
        (c["type"], c.get("group") or "", c["name"], c.get("version"), c["bom-ref"])
        for c in doc["components"]
    ]
    lang = "pkg:maven/org.apache/commons-lang3@3.14.0"
    assert sorted(listed) == sorted(
        [
            ("operating-system", "", "debian", "12", "os:debian@12"),
            ("library", "", "libc6", "2.36-9+deb12u4", CONTENTS.packages[0].purl),
            ("library", "", "Foo_Bar", "1.0", "pkg:pypi/foo-bar@1.0"),
            ("library", "", "@babel/core", "7.23.9", "pkg:npm/%40babel/core@7.23.9"),
            ("library", "org.apache", "commons-lang3", "3.14.0", f"{lang}#opt/a.jar"),
            ("library", "org.apache", "commons-lang3", "3.14.0", f"{lang}#opt/b.jar"),
            ("library", "", "stdlib", "1.22.1", "pkg:golang/stdlib@1.22.1"),
            ("library", "", "openssl-libs", "1:3.0.7-27.el9", CONTENTS.packages[6].purl),
        ]
    )
    by_ref = {c["bom-ref"]: c for c in doc["components"]}
    libc = by_ref[CONTENTS.packages[0].purl]
    assert libc["licenses"] == [{"license": {"id": "LGPL-2.1-or-later"}}]
    assert libc["properties"] == [
        {"name": "dockyard:location", "value": "var/lib/dpkg/status"},
        {"name": "dockyard:source-name", "value": "glibc"},
        {"name": "dockyard:source-version", "value": "2.36-9+deb12u4"},
    ]
    assert by_ref["pkg:pypi/foo-bar@1.0"]["licenses"] == [{"expression": "MIT OR Apache-2.0"}]
    assert by_ref["pkg:npm/%40babel/core@7.23.9"]["licenses"] == [
        {"license": {"id": "ISC"}},
        {"license": {"id": "MIT"}},
    ] or by_ref["pkg:npm/%40babel/core@7.23.9"]["licenses"] == [
        {"license": {"id": "MIT"}},
        {"license": {"id": "ISC"}},
    ]
    assert by_ref[f"{lang}#opt/a.jar"]["licenses"] == [
        {"license": {"name": "Apache Software License"}}
    ]
    (root_deps,) = [d for d in doc["dependencies"] if d["ref"] == image_purl]
    assert sorted(root_deps["dependsOn"]) == sorted(by_ref)


def test_documents_are_deterministic_but_for_serial_and_time() -> None:
    def stable_cdx() -> dict[str, Any]:
        doc = _cdx()
        del doc["serialNumber"], doc["metadata"]["timestamp"]
        return doc

    def stable_spdx() -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(to_spdx(SUBJECT, CONTENTS))
        del doc["documentNamespace"], doc["creationInfo"]["created"]
        return doc

    assert json.dumps(stable_cdx()) == json.dumps(stable_cdx())
    assert json.dumps(stable_spdx()) == json.dumps(stable_spdx())
    reordered = ImageContents(CONTENTS.distro, tuple(reversed(CONTENTS.packages)))
    again = json.loads(to_spdx(SUBJECT, reordered))
    del again["documentNamespace"], again["creationInfo"]["created"]
    assert json.dumps(again) == json.dumps(stable_spdx())


def test_spdx_is_valid_2_3(tmp_path: Any) -> None:
    path = tmp_path / "doc.spdx.json"
    path.write_bytes(to_spdx(SUBJECT, CONTENTS))
    document = parse_from_file(str(path))
    assert validate_full_spdx_document(document) == []
    doc = json.loads(path.read_bytes())
    assert doc["spdxVersion"] == "SPDX-2.3"
    assert (
        doc.get("documentDescribes") == ["SPDXRef-Image"]
        or {
            "spdxElementId": "SPDXRef-DOCUMENT",
            "relationshipType": "DESCRIBES",
            "relatedSpdxElement": "SPDXRef-Image",
        }
        in doc["relationships"]
    )
    contains = [r for r in doc["relationships"] if r["relationshipType"] == "CONTAINS"]
    assert len(contains) == len(CONTENTS.packages) + 1  # the packages and the OS
    by_name = {p["name"]: p for p in doc["packages"] if p["name"] == "libc6"}
    assert by_name["libc6"]["sourceInfo"] == "built package from: glibc 2.36-9+deb12u4"
    assert by_name["libc6"]["licenseDeclared"] == "LGPL-2.1-or-later"


def _licenses_sorted(packages: tuple[Package, ...]) -> list[Package]:
    return sorted(
        (
            Package(
                p.type,
                p.name,
                p.version,
                p.purl,
                p.location,
                p.source_name,
                p.source_version,
                tuple(sorted(p.licenses)),
            )
            for p in packages
        ),
        key=repr,
    )


def test_cyclonedx_round_trip() -> None:
    parsed = parse_sbom(to_cyclonedx(SUBJECT, CONTENTS), CYCLONEDX_JSON)
    assert parsed.distro == CONTENTS.distro
    # CycloneDX lists a component's licenses sorted
    assert _licenses_sorted(parsed.packages) == _licenses_sorted(CONTENTS.packages)


def test_spdx_round_trip() -> None:
    parsed = parse_sbom(to_spdx(SUBJECT, CONTENTS), SPDX_JSON)
    # SPDX joins several declared licenses into one expression
    fixed = tuple(
        p
        if p.name != "@babel/core"
        else Package(p.type, p.name, p.version, p.purl, p.location, licenses=("MIT AND ISC",))
        for p in CONTENTS.packages
    )
    # a license name that is not an SPDX id is not declared (NOASSERTION)
    fixed = tuple(
        Package(p.type, p.name, p.version, p.purl, p.location, p.source_name, p.source_version)
        if p.licenses == ("Apache Software License",)
        else p
        for p in fixed
    )
    assert parsed.distro == CONTENTS.distro
    assert sorted(parsed.packages, key=repr) == sorted(fixed, key=repr)


def _statement(predicate_type: str, predicate: Any) -> dict[str, Any]:
    return {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "acme/web", "digest": {"sha256": "ab" * 32}}],
        "predicateType": predicate_type,
        "predicate": predicate,
    }


def _dsse(statement: dict[str, Any]) -> bytes:
    payload = base64.b64encode(json.dumps(statement).encode()).decode()
    return json.dumps(
        {
            "payloadType": "application/vnd.in-toto+json",
            "payload": payload,
            "signatures": [{"keyid": "", "sig": "MEUCIQ=="}],
        }
    ).encode()


def test_wrapped_in_in_toto_statements_and_dsse_envelopes() -> None:
    cdx = json.loads(to_cyclonedx(SUBJECT, CONTENTS))
    spdx = json.loads(to_spdx(SUBJECT, CONTENTS))
    cases = [
        json.dumps(_statement("https://cyclonedx.org/bom", cdx)).encode(),
        _dsse(_statement("https://cyclonedx.org/bom", cdx)),
        _dsse(_statement("https://spdx.dev/Document", spdx)),
        json.dumps(_statement("https://spdx.dev/Document", json.dumps(spdx))).encode(),
        json.dumps(
            _statement("https://cosign.sigstore.dev/attestation/v1", {"Data": json.dumps(cdx)})
        ).encode(),
    ]
    for content in cases:
        parsed = parse_sbom(content, "application/vnd.dsse.envelope.v1+json")
        assert parsed.distro == CONTENTS.distro
        assert {p.purl for p in parsed.packages} == {p.purl for p in CONTENTS.packages}


def test_a_syft_style_cyclonedx_with_nested_components() -> None:
    doc = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "components": [
            {
                "type": "library",
                "name": "libssl3",
                "version": "3.0.11-1~deb12u2",
                "purl": "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&upstream=openssl"
                "&distro=debian-12",
                "properties": [
                    {"name": "syft:location:0:path", "value": "/var/lib/dpkg/status.d/libssl3"}
                ],
                "licenses": [{"expression": "Apache-2.0"}],
            },
            {
                "type": "application",
                "name": "app",
                "components": [
                    {
                        "type": "library",
                        "name": "jackson-core",
                        "version": "2.16.1",
                        "purl": "pkg:maven/com.fasterxml.jackson.core/jackson-core@2.16.1",
                    },
                    {"type": "library", "name": "no-purl", "version": "1"},
                    {"type": "library", "name": "bad-purl", "version": "1", "purl": "pkg:"},
                    "not a component",
                ],
            },
            {
                "type": "library",
                "name": "curl",
                "version": "8.2.1-4.fc39",
                "purl": "pkg:rpm/fedora/curl@8.2.1-4.fc39?upstream=curl-8.2.1-4.fc39.src.rpm",
            },
        ],
    }
    parsed = parse_sbom(json.dumps(doc).encode(), CYCLONEDX_JSON)
    assert parsed.distro == Distro("debian", "12")
    assert parsed.packages == (
        Package(
            "deb",
            "libssl3",
            "3.0.11-1~deb12u2",
            "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12&upstream=openssl",
            "/var/lib/dpkg/status.d/libssl3",
            "openssl",
            "3.0.11-1~deb12u2",
            ("Apache-2.0",),
        ),
        Package(
            "maven",
            "com.fasterxml.jackson.core:jackson-core",
            "2.16.1",
            "pkg:maven/com.fasterxml.jackson.core/jackson-core@2.16.1",
        ),
        Package(
            "rpm",
            "curl",
            "8.2.1-4.fc39",
            "pkg:rpm/fedora/curl@8.2.1-4.fc39?upstream=curl-8.2.1-4.fc39.src.rpm",
            "",
            "curl",
            "8.2.1-4.fc39",
        ),
    )


def test_a_syft_style_spdx() -> None:
    doc = {
        "spdxVersion": "SPDX-2.3",
        "packages": [
            {
                "name": "musl",
                "versionInfo": "1.2.4-r2",
                "licenseDeclared": "NOASSERTION",
                "externalRefs": [
                    {
                        "referenceCategory": "SECURITY",
                        "referenceType": "cpe23Type",
                        "referenceLocator": "cpe:2.3:a:musl:musl:1.2.4-r2:*:*:*:*:*:*:*",
                    },
                    {
                        "referenceCategory": "PACKAGE-MANAGER",
                        "referenceType": "purl",
                        "referenceLocator": "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64"
                        "&distro=alpine-3.19.1",
                    },
                ],
            },
            {"name": "nothing", "versionInfo": "1"},
            7,
        ],
    }
    parsed = parse_sbom(json.dumps(doc).encode(), SPDX_JSON)
    assert parsed.distro == Distro("alpine", "3.19.1")
    assert parsed.packages == (
        Package(
            "apk",
            "musl",
            "1.2.4-r2",
            "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=alpine-3.19.1",
        ),
    )


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"hello": "world"}', "neither CycloneDX nor SPDX"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"payloadType": "x", "payload": "!!!not base64"}', "unreadable DSSE payload"),
        (b'{"predicateType": "x", "predicate": 5}', "not a JSON object"),
        (b'{"spdxVersion": "SPDX-2.3", "packages": {"a": 1}}', "packages is not a list"),
        (b" " * ((64 << 20) + 1), "over the 67108864-byte limit"),
    ],
    ids=["text", "array", "other", "deep", "dsse", "predicate", "spdx-packages", "huge"],
)
def test_unreadable_documents_are_one_line_value_errors(content: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason) as caught:
        parse_sbom(content, CYCLONEDX_JSON)
    assert "\n" not in str(caught.value)


def test_hostile_shapes_inside_a_valid_document_are_skipped() -> None:
    doc = {
        "bomFormat": "CycloneDX",
        "components": [
            {"purl": 5},
            {
                "purl": "pkg:npm/x@1",
                "licenses": [5, {"license": "x"}],
                "properties": [{"name": 1}, "p"],
                "components": {"a": 1},
            },
            None,
        ],
    }
    parsed = parse_sbom(json.dumps(doc).encode(), CYCLONEDX_JSON)
    assert parsed.packages == (Package("npm", "x", "1", "pkg:npm/x@1"),)


def _mutate(node: Any, rng: random.Random) -> Any:
    """Replace random values of a JSON tree with values of other types."""
    odd: list[Any] = [None, 5, -1.5, "", "pkg:", [], {}, [None], {"a": None}, True, "x" * 50]
    if rng.random() < 0.08:
        return rng.choice(odd)
    if isinstance(node, dict):
        return {k: _mutate(v, rng) for k, v in node.items()}
    if isinstance(node, list):
        return [_mutate(v, rng) for v in node]
    return node


def test_structurally_mutated_documents_never_crash() -> None:
    rng = random.Random(5)
    originals = [
        json.loads(to_cyclonedx(SUBJECT, CONTENTS)),
        json.loads(to_spdx(SUBJECT, CONTENTS)),
    ]
    for original in originals:
        for _ in range(200):
            content = json.dumps(_mutate(original, rng)).encode()
            try:
                parsed = parse_sbom(content, CYCLONEDX_JSON)
            except ValueError:
                continue
            assert all(p.name and p.version and p.purl.startswith("pkg:") for p in parsed.packages)


def test_escaped_lone_surrogates_are_replaced() -> None:
    doc = (
        b'{"bomFormat": "CycloneDX", "components": [{"type": "operating-system", "name":'
        b' "deb\\udce9", "version": "1"}, {"purl": "pkg:npm/x@1", "name": "x", "properties":'
        b' [{"name": "dockyard:location", "value": "a\\ud800b"}]}]}'
    )
    parsed = parse_sbom(doc, CYCLONEDX_JSON)
    assert parsed.distro == Distro("deb?", "1")
    assert parsed.packages[0].location == "a?b"
    assert to_cyclonedx(SUBJECT, parsed) and to_spdx(SUBJECT, parsed)


def test_odd_strings_everywhere_still_make_valid_documents_that_read_back() -> None:
    rng = random.Random(9)
    alphabet = 'aZ09 -_.:/@+~%#?&="\\\n\téü中\ufffd'

    def text(n: int = 10) -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, n)))

    validator = JsonStrictValidator(SchemaVersion.V1_6)
    for _ in range(40):
        packages = []
        for _ in range(4):
            kind = rng.choice(["deb", "npm", "maven", "pypi", "golang", "rpm", "apk"])
            name, version = text(), text()
            try:
                purl = PackageURL(
                    type=kind,
                    namespace=rng.choice([None, text()]),
                    name=name,
                    version=version,
                    qualifiers={"arch": text()},
                ).to_string()
                PackageURL.from_string(purl)
            except (ValueError, TypeError):  # packageurl refuses some
                continue
            packages.append(
                Package(
                    kind,
                    name,
                    version,
                    purl,
                    text(30),
                    text(),
                    text(),
                    tuple(text(20) for _ in range(rng.randint(0, 3))),
                )
            )
        contents = ImageContents(
            rng.choice([None, Distro(text(), text(), text())]), tuple(packages)
        )
        subject = Subject(text(), "sha256:" + "0" * 64, rng.choice([None, text()]))
        cdx = to_cyclonedx(subject, contents)
        assert validator.validate_str(cdx.decode()) is None
        expected = len({(p.purl, p.location) for p in packages})
        assert len(parse_sbom(cdx, CYCLONEDX_JSON).packages) == expected
        assert len(parse_sbom(to_spdx(subject, contents), SPDX_JSON).packages) == expected
