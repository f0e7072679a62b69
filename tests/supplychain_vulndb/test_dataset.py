"""Every hit and miss tests/support/osv/README.md promises, checked against the dataset."""

from __future__ import annotations

import pytest

from dockyard.supplychain.model import Distro, ImageContents, Package
from tests.supplychain_vulndb.test_matcher import DATASET_INDEX

D12, D11 = Distro("debian", "12"), Distro("debian", "11")
U22, U23 = Distro("ubuntu", "22.04"), Distro("ubuntu", "23.10")
A18, A19 = Distro("alpine", "3.18.4"), Distro("alpine", "3.19.1")
LOG4J = "org.apache.logging.log4j:log4j-core"
JACKSON = "com.fasterxml.jackson.core:jackson-databind"

CASES: list[tuple[Distro | None, str, str, str, set[str]]] = [
    (D12, "deb", "openssl", "3.0.11-1~deb12u1", {"DSA-5532-1"}),
    (D12, "deb", "openssl", "3.0.11-1~deb12u2", set()),
    (D12, "deb", "glibc", "2.36-9+deb12u1", {"DEBIAN-CVE-2023-4911"}),
    (D12, "deb", "glibc", "2.36-9+deb12u2", {"DEBIAN-CVE-2023-4911"}),
    (D12, "deb", "glibc", "2.36-9+deb12u3", set()),
    (D12, "deb", "glibc", "2.36-9+deb12u4", set()),
    (D12, "deb", "nghttp2", "1.52.0-1+deb12u1", {"DEBIAN-CVE-2024-28182"}),
    (D12, "deb", "nghttp2", "1.52.0-1+deb12u2", set()),
    (D12, "deb", "tildepkg", "2.0~rc1-1", {"DEBIAN-CVE-2022-0001"}),
    (D12, "deb", "tildepkg", "2.0~rc2-1", set()),
    (D12, "deb", "tildepkg", "2.0-1", set()),
    (D11, "deb", "openssl", "1.1.1n-0+deb11u4", {"DLA-3449-1"}),
    (D12, "deb", "openssl", "1.1.1n-0+deb11u4", {"DSA-5532-1"}),
    (D12, "deb", "bash", "5.2.15-2+b2", set()),
    (U22, "deb", "openssl", "3.0.2-0ubuntu1.10", {"UBUNTU-CVE-2024-2511"}),
    (U22, "deb", "openssl", "3.0.2-0ubuntu1.16", set()),
    (U22, "deb", "glibc", "2.35-0ubuntu3.1", {"UBUNTU-CVE-2023-4911"}),
    (U22, "deb", "glibc", "2.35-0ubuntu3.4", set()),
    (U23, "deb", "shadow", "1:4.13+dfsg1-1ubuntu1", {"UBUNTU-CVE-2023-29383"}),
    (U22, "deb", "shadow", "1:4.13+dfsg1-1ubuntu1", set()),
    (A18, "apk", "openssl", "3.1.3-r0", {"ALPINE-CVE-2023-5363"}),
    (A18, "apk", "openssl", "3.1.4-r0", set()),
    (A18, "apk", "busybox", "1.36.1-r5", {"ALPINE-CVE-2023-42363"}),
    (A18, "apk", "busybox", "1.36.1-r7", set()),
    (A19, "apk", "openssl", "3.1.4-r4", {"ALPINE-CVE-2024-0727"}),
    (A18, "apk", "openssl", "3.1.4-r4", set()),
    (None, "pypi", "requests", "2.28.1", {"PYSEC-2023-74"}),
    (None, "pypi", "requests", "2.31.0", set()),
    (None, "pypi", "requests", "2.2.1", set()),
    (None, "pypi", "Jinja2", "3.1.2", {"GHSA-h5c8-rqwp-cp95"}),
    (None, "pypi", "Jinja2", "3.1.3", set()),
    (None, "pypi", "PyYAML", "5.3.1", {"PYSEC-2021-142"}),
    (None, "pypi", "PyYAML", "5.1", {"PYSEC-2021-142"}),
    (None, "pypi", "PyYAML", "5.4", set()),
    (None, "pypi", "cryptography", "41.0.7", {"GHSA-6vqw-3v5j-54x4"}),
    (None, "pypi", "cryptography", "41.0.6", set()),
    (None, "pypi", "cryptography", "42.0.2", set()),
    (None, "npm", "lodash", "4.17.20", {"GHSA-35jh-r3h4-6jhm"}),
    (None, "npm", "lodash", "4.17.21", set()),
    (None, "npm", "semver", "5.7.1", {"GHSA-c2qf-rxjj-qqgw"}),
    (None, "npm", "semver", "6.3.0", {"GHSA-c2qf-rxjj-qqgw"}),
    (None, "npm", "semver", "7.5.1", {"GHSA-c2qf-rxjj-qqgw"}),
    (None, "npm", "semver", "5.7.2", set()),
    (None, "npm", "semver", "6.3.1", set()),
    (None, "npm", "semver", "7.5.2", set()),
    (None, "npm", "body-parser", "1.20.2", {"GHSA-qwcr-r2fm-qrc7"}),
    (None, "npm", "body-parser", "1.20.3", set()),
    (None, "golang", "golang.org/x/net", "v0.15.0", {"GO-2023-2102"}),
    (None, "golang", "golang.org/x/net", "v0.17.0", set()),
    (None, "golang", "stdlib", "go1.21.3", {"GO-2023-2185"}),
    (None, "golang", "stdlib", "1.21.3", {"GO-2023-2185"}),  # as the SBOM spells it
    (None, "golang", "stdlib", "1.21rc2", {"GO-2023-2185"}),
    (None, "golang", "stdlib", "1.21.4", set()),
    (None, "golang", "stdlib", "go1.20.10", {"GO-2023-2185"}),
    (None, "golang", "stdlib", "go1.20.11", set()),
    (None, "golang", "stdlib", "go1.21.4", set()),
    (None, "golang", "golang.org/x/crypto", "v0.0.0-20220722155217-630584e8d5aa", {"GO-2023-2402"}),
    (None, "golang", "golang.org/x/crypto", "v0.16.0", {"GO-2023-2402"}),
    (None, "golang", "golang.org/x/crypto", "v0.17.0", set()),
    (None, "maven", LOG4J, "2.14.1", {"GHSA-jfh8-c2jp-5v3q"}),
    (None, "maven", LOG4J, "2.0-rc1", {"GHSA-jfh8-c2jp-5v3q"}),
    (None, "maven", LOG4J, "2.15.0", set()),
    (None, "maven", LOG4J, "2.0-beta8", set()),
    (None, "maven", LOG4J, "2.12.2", set()),
    (None, "maven", JACKSON, "2.13.2", {"GHSA-57j2-w4cx-62h2"}),
    (None, "maven", JACKSON, "2.12.6", {"GHSA-57j2-w4cx-62h2"}),
    (None, "maven", JACKSON, "2.13.2.1", set()),
    (None, "maven", JACKSON, "2.12.6.1", set()),
]


@pytest.mark.parametrize(("distro", "type", "name", "version", "expected"), CASES)
def test_readme_promise(
    distro: Distro | None, type: str, name: str, version: str, expected: set[str]
) -> None:
    package = Package(type, name, version, f"pkg:{type}/{name}@{version}")
    found = DATASET_INDEX.match(ImageContents(distro, (package,)))
    assert {f.id for f in found} == expected
