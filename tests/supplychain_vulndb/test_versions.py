"""Each ordering against its ecosystem's own documented rules and test lists."""

from __future__ import annotations

import itertools

import pytest
from univers.versions import DebianVersion

from dockyard.supplychain.vulndb import InvalidVersion, UnknownOrdering, compare
from dockyard.supplychain.vulndb.versions import go_semver, key_or_none, ordering_of


def ascending(ordering: str, versions: list[str]) -> None:
    """Every pair of `versions` compares in list order, both ways round."""
    for a, b in itertools.combinations(versions, 2):
        assert compare(ordering, a, b) == -1, (a, b)
        assert compare(ordering, b, a) == 1, (b, a)
    for a in versions:
        assert compare(ordering, a, a) == 0


# -- dpkg --------------------------------------------------------------------------------


def test_dpkg_epochs_tildes_and_letters() -> None:
    assert compare("Debian:12", "1:1.0", "2.0") == 1
    assert compare("dpkg", "0:1.0", "1.0") == 0
    assert compare("dpkg", "1.0~rc1", "1.0") == -1
    assert compare("dpkg", "1.0-1", "1.0") == 1
    assert compare("dpkg", "1.0", "1.0-0") == 0
    assert compare("dpkg", "1.0a", "1.0+") == -1  # letters before non-letters
    assert compare("dpkg", "1.0", "1.0a") == -1  # the end before letters
    assert compare("dpkg", "0", "0~") == 1


def test_dpkg_policy_example_order() -> None:
    # Debian Policy 5.6.12: "~~, ~~a, ~, the empty part, a"
    ascending("dpkg", ["1.0~~", "1.0~~a", "1.0~", "1.0", "1.0a"])


def test_dpkg_real_versions() -> None:
    ascending(
        "Ubuntu:22.04",
        [
            "3.0.2-0ubuntu1",
            "3.0.2-0ubuntu1.10",
            "3.0.2-0ubuntu1.15",
            "3.0.11-1~deb12u1",
            "3.0.11-1~deb12u2",
            "3.0.11-1",
            "3.0.11-1+b1",
            "1:3.0.0-1",
        ],
    )


DPKG_SAMPLE = [
    "1.0~~",
    "1.0~~a",
    "1.0~",
    "1.0",
    "1.0-0",
    "1.0-1",
    "1.0-1+b1",
    "1.0-1.1",
    "1.0a",
    "1.0+dfsg",
    "1.0.1",
    "1.00.1",
    "1.2~beta3-1",
    "2.36-9+deb12u3",
    "2.36-9+deb12u10",
    "20230311",
    "1:0.1",
    "2:0~",
    "1.0-ubuntu0.1",
    "9.8.1-4ubuntu1~0",
]


def test_dpkg_agrees_with_univers_on_every_pair() -> None:
    for a, b in itertools.product(DPKG_SAMPLE, repeat=2):
        ua, ub = DebianVersion(a), DebianVersion(b)
        expected = (ua > ub) - (ua < ub)
        assert compare("dpkg", a, b) == expected, (a, b)


@pytest.mark.parametrize("bad", ["", "a:1.0", "1.0 beta", "-1", "1.0_1", ":1.0"])
def test_dpkg_invalid(bad: str) -> None:
    assert key_or_none("dpkg", bad) is None
    with pytest.raises(InvalidVersion):
        compare("dpkg", bad, "1.0")


# -- apk ---------------------------------------------------------------------------------


def test_apk_suffixes_and_revisions() -> None:
    assert compare("Alpine:v3.19", "1.0_rc1", "1.0") == -1
    assert compare("apk", "1.0", "1.0-r1") == -1
    assert compare("apk", "1.0-r1", "1.0_p1") == -1
    ascending(
        "apk",
        [
            "1.0_alpha1",
            "1.0_alpha2",
            "1.0_beta",
            "1.0_pre1",
            "1.0_rc1",
            "1.0",
            "1.0-r1",
            "1.0-r10",
            "1.0_cvs1",
            "1.0_svn1",
            "1.0_git20240101",
            "1.0_hg1",
            "1.0_p1",
            "1.0_p1-r2",
            "1.0a",
            "1.0b",
            "1.0.1",
        ],
    )


def test_apk_leading_zeros_compare_as_strings() -> None:
    ascending("apk", ["1.001", "1.01", "1.1", "1.2", "1.10"])


def test_apk_real_versions() -> None:
    ascending(
        "apk",
        [
            "0_git20230101-r0",
            "0_git20230202-r0",
            "1.36.1-r5",
            "1.36.1-r7",
            "3.1.3-r0",
            "3.1.4-r0",
            "3.1.4-r5",
            "3.1.4-r6",
            "3.1.4~ab12-r0",  # a commit hash sorts after any revision of the bare version
        ],
    )


@pytest.mark.parametrize("bad", ["", "abc", "1.0_foo", "1.0-1", "1.0-r", "1.0a1", "1..0", "1.0~"])
def test_apk_invalid(bad: str) -> None:
    assert key_or_none("apk", bad) is None


# -- PEP 440 -----------------------------------------------------------------------------


def test_pep440_named_cases() -> None:
    assert compare("PyPI", "1.0a1", "1.0") == -1
    assert compare("PyPI", "1.0", "1.0.post1") == -1
    assert compare("PyPI", "1.0.dev1", "1.0a1") == -1
    assert compare("PyPI", "1!1.0", "2.0") == 1
    assert compare("PyPI", "1.0", "1.0.0") == 0


def test_pep440_specification_order() -> None:
    # PEP 440, "Summary of permitted suffixes and relative ordering", plus local versions
    ascending(
        "PyPI",
        [
            "1.0.dev456",
            "1.0a1",
            "1.0a2.dev456",
            "1.0a12.dev456",
            "1.0a12",
            "1.0b1.dev456",
            "1.0b2",
            "1.0b2.post345.dev456",
            "1.0b2.post345",
            "1.0rc1.dev456",
            "1.0rc1",
            "1.0",
            "1.0+abc.5",
            "1.0+abc.7",
            "1.0+5",
            "1.0.post456.dev34",
            "1.0.post456",
            "1.0.15",
            "1.1.dev1",
        ],
    )


def test_pep440_invalid() -> None:
    assert key_or_none("pep440", "not a version") is None


# -- semver, Go --------------------------------------------------------------------------


def test_semver_org_precedence_list() -> None:
    ascending(
        "npm",
        [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "2.0.0",
            "2.1.0",
            "2.1.1",
        ],
    )


def test_semver_build_metadata_does_not_count() -> None:
    assert compare("SEMVER", "1.0.0+build.1", "1.0.0+build.2") == 0
    assert compare("npm", "v1.2.3", "1.2.3") == 0
    assert key_or_none("semver", "1.0") is None


def test_go_versions() -> None:
    assert compare("Go", "v1.2.3", "1.2.3") == 0
    assert compare("Go", "v2.0.0+incompatible", "v2.0.0") == 0
    ascending(
        "Go",
        [
            "v0.0.0-20191109021931-daa7c04131f5",
            "v0.0.1",
            "v1.2.3",
            "v1.2.4-0.20191109021931-daa7c04131f5",
            "v1.2.4",
            "go1.21rc2",
            "go1.21.0",
            "1.21.4",
            "go1.22",
        ],
    )


def test_go_semver_spellings() -> None:
    assert go_semver("go1.21rc2") == "1.21.0-rc.2"
    assert go_semver("go1.21") == "1.21.0"
    assert go_semver("go1.20.11") == "1.20.11"
    assert go_semver("v0.17.0") == "0.17.0"
    assert go_semver("1.21") == "1.21.0"
    assert go_semver("1.21rc2") == "1.21.0-rc.2"  # the SBOM's stdlib drops the "go"
    assert go_semver("1.21.3") == "1.21.3"
    assert go_semver("v2.0.0+incompatible") == "2.0.0+incompatible"


# -- Maven -------------------------------------------------------------------------------

# Maven 3.9's ComparableVersionTest: VERSIONS_QUALIFIER, VERSIONS_NUMBER, testVersionsEqual
MAVEN_QUALIFIERS = [
    "1-alpha2snapshot",
    "1-alpha2",
    "1-alpha-123",
    "1-beta-2",
    "1-beta123",
    "1-m2",
    "1-m11",
    "1-rc",
    "1-cr2",
    "1-rc123",
    "1-SNAPSHOT",
    "1",
    "1-sp",
    "1-sp2",
    "1-sp123",
    "1-abc",
    "1-def",
    "1-pom-1",
    "1-1-snapshot",
    "1-1",
    "1-2",
    "1-123",
]
MAVEN_NUMBERS = [
    "2.0",
    "2.0.a",
    "2-1",
    "2.0.2",
    "2.0.123",
    "2.1.0",
    "2.1-a",
    "2.1b",
    "2.1-c",
    "2.1-1",
    "2.1.0.1",
    "2.2",
    "2.123",
    "11.a2",
    "11.a11",
    "11.b2",
    "11.b11",
    "11.m2",
    "11.m11",
    "11",
    "11.a",
    "11b",
    "11c",
    "11m",
]
MAVEN_EQUAL = [
    ("1", "1.0"),
    ("1", "1.0.0"),
    ("1", "1-0"),
    ("1.0", "1.0-0"),
    ("1a", "1-a"),
    ("1a", "1.0.0-a"),
    ("1.0a", "1-a"),
    ("1x", "1.0-x"),
    ("1ga", "1"),
    ("1release", "1"),
    ("1final", "1"),
    ("1cr", "1rc"),
    ("1a1", "1-alpha-1"),
    ("1b2", "1-beta-2"),
    ("1m3", "1-milestone-3"),
    ("1X", "1x"),
    ("1GA", "1"),
    ("1RELEASE", "1"),
    ("1FINAL", "1"),
    ("1Cr", "1Rc"),
    ("1m3", "1MILESTONE3"),
    ("2.0.0.RELEASE", "2.0.0"),
]


def test_maven_qualifier_order() -> None:
    ascending("Maven", MAVEN_QUALIFIERS)


def test_maven_number_order() -> None:
    ascending("Maven", MAVEN_NUMBERS)


@pytest.mark.parametrize(("a", "b"), MAVEN_EQUAL)
def test_maven_equal(a: str, b: str) -> None:
    assert compare("Maven", a, b) == 0


def test_maven_comparing_pairs() -> None:
    # ComparableVersionTest.testVersionComparing
    for a, b in [
        ("1.0-alpha-1", "1.0"),
        ("1.0-alpha-1", "1.0-alpha-2"),
        ("1.0-alpha-2", "1.0-alpha-15"),
        ("1.0-alpha-1", "1.0-beta-1"),
        ("1.0-beta-1", "1.0-SNAPSHOT"),
        ("1.0-SNAPSHOT", "1.0"),
        ("1.0-alpha-1-SNAPSHOT", "1.0-alpha-1"),
        ("1.0", "1.0-1"),
        ("1.0-1", "1.0-2"),
        ("1.0.0", "1.0-1"),
        ("2.0-1", "2.0.1"),
        ("2.0.1-klm", "2.0.1-lmn"),
        ("2.0.1", "2.0.1-xyz"),
        ("2.0.1", "2.0.1-123"),
        ("2.0.1-xyz", "2.0.1-123"),
        ("2.0-beta9", "2.0-rc1"),
    ]:
        assert compare("Maven", a, b) == -1, (a, b)


# -- rpm, the dispatch -------------------------------------------------------------------


def test_rpm_versions() -> None:
    assert compare("Rocky Linux:9", "1:1.0-1", "2.0-1") == 1
    assert compare("AlmaLinux:9", "1.0-1.el9", "1.0-1.el9_1") == -1
    assert compare("rpm", "1.0~rc1", "1.0") == -1
    assert compare("rpm", "1.0^git1", "1.0") == 1
    assert compare("rpm", "1.05", "1.5") == 0


def test_ordering_of_ecosystems() -> None:
    assert ordering_of("Debian:12") == "dpkg"
    assert ordering_of("Ubuntu:22.04:LTS") == "dpkg"
    assert ordering_of("Alpine:v3.19") == "apk"
    assert ordering_of("PyPI") == "pep440"
    assert ordering_of("npm") == "semver"
    assert ordering_of("Go") == "go"
    assert ordering_of("Maven") == "maven"
    assert ordering_of("crates.io") is None
    with pytest.raises(UnknownOrdering):
        compare("crates.io", "1.0.0", "1.0.1")
