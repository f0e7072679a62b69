"""Each extractor on the bytes its ecosystem writes (built by tests/support/images.py)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping

import pytest

from dockyard.supplychain.model import Distro, Package
from dockyard.supplychain.sbom.extractors import (
    Kind,
    apk,
    classify,
    dpkg,
    golang,
    java,
    npm,
    osrelease,
    rpm,
)
from dockyard.supplychain.sbom.extractors import python as py
from tests.support import images as im

DEBIAN = Distro("debian", "12", "bookworm")


def only(files: Mapping[str, object]) -> bytes:
    (value,) = files.values()
    assert isinstance(value, bytes)
    return value


def test_os_release_quotes_comments_and_case() -> None:
    data = (
        b'# comment\nNAME="Debian GNU/Linux"\nID=Debian\nVERSION_ID="12"\n'
        b"VERSION_CODENAME=bookworm\n"
    )
    assert osrelease.parse_os_release(data) == Distro("debian", "12", "bookworm")
    assert osrelease.parse_os_release(b"ID='alpine'\nVERSION_ID=3.19.1\n") == Distro(
        "alpine", "3.19.1"
    )
    assert osrelease.parse_os_release(b"NAME=nothing\n") is None
    assert osrelease.parse_os_release(b'ID="unterminated\n') == Distro("unterminated", "")


def test_dpkg_epochs_source_and_status() -> None:
    data = only(
        im.dpkg_status(
            [
                {
                    "Package": "libc6",
                    "Version": "2.36-9+deb12u4",
                    "Source": "glibc",
                    "Architecture": "amd64",
                },
                {
                    "Package": "login",
                    "Version": "1:4.13+dfsg1-1",
                    "Architecture": "amd64",
                    "Source": "shadow (1:4.13+dfsg1-1)",
                },
                {
                    "Package": "held",
                    "Version": "1.0",
                    "Architecture": "all",
                    "Status": "hold ok installed",
                },
                {
                    "Package": "gone",
                    "Version": "2.0",
                    "Architecture": "amd64",
                    "Status": "deinstall ok config-files",
                },
                {"Package": "tzdata", "Version": "2024a-0+deb12u1", "Architecture": "all"},
            ]
        )
    )
    got = dpkg.extract("var/lib/dpkg/status", data, DEBIAN)
    assert got == [
        Package(
            "deb",
            "libc6",
            "2.36-9+deb12u4",
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12",
            "var/lib/dpkg/status",
            "glibc",
            "2.36-9+deb12u4",
        ),
        Package(
            "deb",
            "login",
            "1:4.13+dfsg1-1",
            "pkg:deb/debian/login@1:4.13%2Bdfsg1-1?arch=amd64&distro=debian-12",
            "var/lib/dpkg/status",
            "shadow",
            "1:4.13+dfsg1-1",
        ),
        Package(
            "deb",
            "held",
            "1.0",
            "pkg:deb/debian/held@1.0?arch=all&distro=debian-12",
            "var/lib/dpkg/status",
            "held",
            "1.0",
        ),
        Package(
            "deb",
            "tzdata",
            "2024a-0+deb12u1",
            "pkg:deb/debian/tzdata@2024a-0%2Bdeb12u1?arch=all&distro=debian-12",
            "var/lib/dpkg/status",
            "tzdata",
            "2024a-0+deb12u1",
        ),
    ]


def test_dpkg_ubuntu_namespace_and_no_distro() -> None:
    data = only(
        im.dpkg_status([{"Package": "bash", "Version": "5.1-6ubuntu1", "Architecture": "amd64"}])
    )
    (ubuntu,) = dpkg.extract("s", data, Distro("ubuntu", "22.04", "jammy"))
    assert ubuntu.purl == "pkg:deb/ubuntu/bash@5.1-6ubuntu1?arch=amd64&distro=ubuntu-22.04"
    (bare,) = dpkg.extract("s", data, None)
    assert bare.purl == "pkg:deb/debian/bash@5.1-6ubuntu1?arch=amd64"


def test_dpkg_status_d_entry_without_status_field() -> None:
    data = b"Package: libssl3\nVersion: 3.0.11-1~deb12u2\nArchitecture: amd64\nSource: openssl\n"
    (pkg,) = dpkg.extract("var/lib/dpkg/status.d/libssl3", data, DEBIAN)
    assert (pkg.name, pkg.version, pkg.source_name, pkg.source_version) == (
        "libssl3",
        "3.0.11-1~deb12u2",
        "openssl",
        "3.0.11-1~deb12u2",
    )
    assert classify("var/lib/dpkg/status.d/libssl3") is Kind.DPKG
    assert classify("var/lib/dpkg/status.d/libssl3.md5sums") is None
    assert classify("var/lib/dpkg/status-old") is None


def test_apk_installed() -> None:
    data = only(
        im.apk_installed(
            [
                {"P": "musl", "V": "1.2.4_git20230717-r4", "A": "x86_64", "o": "musl", "L": "MIT"},
                {
                    "P": "libcrypto3",
                    "V": "3.1.4-r5",
                    "A": "x86_64",
                    "o": "openssl",
                    "L": "Apache-2.0",
                },
                {"V": "no-name"},
            ]
        )
    )
    got = apk.extract("lib/apk/db/installed", data, Distro("alpine", "3.19.1"))
    assert got == [
        Package(
            "apk",
            "musl",
            "1.2.4_git20230717-r4",
            "pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64&distro=alpine-3.19.1",
            "lib/apk/db/installed",
            "musl",
            "1.2.4_git20230717-r4",
            ("MIT",),
        ),
        Package(
            "apk",
            "libcrypto3",
            "3.1.4-r5",
            "pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=x86_64&distro=alpine-3.19.1",
            "lib/apk/db/installed",
            "openssl",
            "3.1.4-r5",
            ("Apache-2.0",),
        ),
    ]


def _rpm(name: str, version: str, release: str, **extra: str | int) -> dict[int, str | int]:
    tags: dict[int, str | int] = {
        im.RPM_NAME: name,
        im.RPM_VERSION: version,
        im.RPM_RELEASE: release,
        im.RPM_ARCH: "x86_64",
        im.RPM_SUMMARY: f"the {name} package",
        im.RPM_LICENSE: "MIT",
        im.RPM_SOURCERPM: f"{name}-{version}-{release}.src.rpm",
    }
    if "epoch" in extra:
        tags[im.RPM_EPOCH] = extra["epoch"]
    if "source" in extra:
        tags[im.RPM_SOURCERPM] = extra["source"]
    return tags


def test_rpm_sqlite_headers() -> None:
    db = only(
        im.rpmdb_sqlite(
            [
                _rpm("bash", "5.1.8", "9.el9"),
                _rpm(
                    "openssl-libs",
                    "3.0.7",
                    "27.el9",
                    epoch=1,
                    source="openssl-3.0.7-27.el9.src.rpm",
                ),
                _rpm("gpg-pubkey", "fd431d51", "4ae0493b"),
            ]
        )
    )
    got = rpm.extract("var/lib/rpm/rpmdb.sqlite", db, Distro("rhel", "9.3"))
    assert got == [
        Package(
            "rpm",
            "bash",
            "5.1.8-9.el9",
            "pkg:rpm/rhel/bash@5.1.8-9.el9?arch=x86_64&distro=rhel-9.3",
            "var/lib/rpm/rpmdb.sqlite",
            "bash",
            "5.1.8-9.el9",
            ("MIT",),
        ),
        Package(
            "rpm",
            "openssl-libs",
            "1:3.0.7-27.el9",
            "pkg:rpm/rhel/openssl-libs@3.0.7-27.el9?arch=x86_64&distro=rhel-9.3&epoch=1",
            "var/lib/rpm/rpmdb.sqlite",
            "openssl",
            "3.0.7-27.el9",
            ("MIT",),
        ),
    ]


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"\0\0\0\x05\0\0\0\x10",
        b"\xff\xff\xff\xff\0\0\0\0" + b"\0" * 64,
        b"\0\0\0\x01\0\0\0\x04" + b"\0\0\x03\xe8\0\0\0\x06\0\0\0\0\0\0\0\x01" + b"abcd",
    ],
)
def test_rpm_header_garbage_is_an_rpm_error(blob: bytes) -> None:
    with pytest.raises(rpm.RpmError):
        rpm.parse_header(blob)


def test_rpm_not_sqlite_is_an_rpm_error() -> None:
    with pytest.raises(rpm.RpmError, match=r"unreadable rpmdb\.sqlite"):
        rpm.extract("var/lib/rpm/rpmdb.sqlite", b"SQLite format 3\0" + b"\x01" * 200, None)


def test_python_dist_info_egg_info_and_paths() -> None:
    files = {
        **im.python_dist_info("Foo_Bar", "1.0.post1", "MIT"),
        **im.python_egg_info("six", "1.16.0"),
        **im.python_egg_info("chardet", "5.1.0", as_file=True),
    }
    got = []
    for path, data in files.items():
        if classify(path) is Kind.PYTHON:
            assert isinstance(data, bytes)
            got += py.extract(path, py.headers_only(data))
    assert [(p.name, p.version, p.purl, p.licenses) for p in got] == [
        ("Foo_Bar", "1.0.post1", "pkg:pypi/foo-bar@1.0.post1", ("MIT",)),
        ("six", "1.16.0", "pkg:pypi/six@1.16.0", ("BSD",)),
        ("chardet", "5.1.0", "pkg:pypi/chardet@5.1.0", ("BSD",)),
    ]
    assert classify("usr/lib/python3/dist-packages/x-1.dist-info/RECORD") is None
    assert classify("src/x-1.dist-info/METADATA") is None
    assert classify("usr/lib/python3.12/site-packages/x-1.0-py3.12.egg/EGG-INFO/PKG-INFO") is (
        Kind.PYTHON
    )


def test_python_license_text_and_missing_fields() -> None:
    meta = b"Name: x\nVersion: 2\nLicense: line one\n        line two\n\nbody\n"
    (pkg,) = py.extract("p", meta)
    assert pkg.licenses == ()
    assert py.extract("p", b"Name: x\n\n") == []
    expr = b"Name: y\nVersion: 3\nLicense-Expression: MIT OR Apache-2.0\nLicense: MIT\n"
    assert py.extract("p", expr)[0].licenses == ("MIT OR Apache-2.0",)


def test_npm_scoped_and_not_packages() -> None:
    files = {
        **im.npm_package("@types/node", "20.11.5"),
        **im.npm_package("lodash", "4.17.21", license=None),
    }
    files["app/package.json"] = b'{"name": "app", "version": "1.0.0"}'
    files["app/node_modules/broken/package.json"] = b"{not json"
    files["app/node_modules/nover/package.json"] = b'{"name": "nover"}'
    got = []
    for path, data in files.items():
        if classify(path) is Kind.NPM:
            assert isinstance(data, bytes)
            got += npm.extract(path, data)
    assert got == [
        Package(
            "npm",
            "@types/node",
            "20.11.5",
            "pkg:npm/%40types/node@20.11.5",
            "app/node_modules/@types/node/package.json",
            licenses=("MIT",),
        ),
        Package(
            "npm",
            "lodash",
            "4.17.21",
            "pkg:npm/lodash@4.17.21",
            "app/node_modules/lodash/package.json",
        ),
    ]
    assert npm.extract("p", b'{"name":"a","version":"1","licenses":[{"type":"MIT"},"ISC"]}')[
        0
    ].licenses == ("MIT", "ISC")


def _scan(binary: bytes, chunk: int = 1 << 20) -> golang.BuildInfo | None:
    pos = 0

    def read(n: int) -> bytes:
        nonlocal pos
        out = binary[pos : pos + min(n, chunk)]
        pos += len(out)
        return out

    return golang.find_buildinfo(read)


def test_go_buildinfo_modules_replacements_and_stdlib() -> None:
    binary = im.go_binary_bytes(
        "go1.22.1",
        ("github.com/acme/app", "v1.4.0"),
        [
            ("golang.org/x/net", "v0.17.0"),
            ("github.com/old/lib", "v1.0.0"),
            ("github.com/local/lib", "v0.1.0"),
        ],
        {
            "github.com/old/lib": ("github.com/new/lib", "v1.1.0"),
            "github.com/local/lib": ("../lib", ""),
        },
    )
    info = _scan(binary, chunk=4096)  # the blob straddles reads
    assert info is not None and info.go_version == "go1.22.1"
    got = golang.packages(info, "usr/bin/app")
    assert [(p.name, p.version, p.purl) for p in got] == [
        ("github.com/acme/app", "v1.4.0", "pkg:golang/github.com/acme/app@v1.4.0"),
        ("golang.org/x/net", "v0.17.0", "pkg:golang/golang.org/x/net@v0.17.0"),
        ("github.com/new/lib", "v1.1.0", "pkg:golang/github.com/new/lib@v1.1.0"),
        ("github.com/local/lib", "(devel)", "pkg:golang/github.com/local/lib@%28devel%29"),
        ("stdlib", "1.22.1", "pkg:golang/stdlib@1.22.1"),
    ]


def test_go_buildinfo_absent_old_and_garbage() -> None:
    assert _scan(b"\x7fELF" + b"\0" * 10_000) is None
    with pytest.raises(golang.BuildInfoError):
        _scan(im.go_binary_bytes(inline=False))
    # a magic at an aligned offset followed by garbage is not taken; the real one is
    decoy = golang.MAGIC + bytes([8, 2]) + b"\0" * 16 + b"\x05junk!" + b"\xff" * 10
    blob = b"\x7fELF" + b"\0" * 12 + decoy + b"\0" * (-len(decoy) % 16)
    real = im.go_buildinfo_blob("go1.21.0", im.go_modinfo(("m", "v1.0.0")))
    info = _scan(blob + real + b"\0" * 100)
    assert info is not None and info.go_version == "go1.21.0"
    truncated = im.go_buildinfo_blob("go1.21.0", im.go_modinfo(("m", "v1.0.0")))[:40]
    assert _scan(b"\0" * 16 + truncated) is None


def test_jar_pom_manifest_fallback_and_nested() -> None:
    inner = im.jar_bytes("com.fasterxml.jackson.core", "jackson-core", "2.16.1")
    plain = im.jar_bytes(
        "",
        "x",
        "",
        pom=False,
        manifest={
            "Implementation-Title": "guava",
            "Implementation-Version": "33.0.0-jre",
            "Implementation-Vendor-Id": "com.google.guava",
        },
    )
    outer = im.jar_bytes(
        "org.springframework.boot",
        "demo",
        "3.2.1",
        nested={
            "BOOT-INF/lib/jackson-core-2.16.1.jar": inner,
            "BOOT-INF/lib/guava.jar": plain,
            "BOOT-INF/lib/broken.jar": b"PK\x03\x04garbage",
        },
    )
    got = java.extract("app.jar", outer, nested_budget=1 << 20)
    assert [(p.name, p.version, p.purl, p.location) for p in got] == [
        (
            "org.springframework.boot:demo",
            "3.2.1",
            "pkg:maven/org.springframework.boot/demo@3.2.1",
            "app.jar",
        ),
        (
            "com.fasterxml.jackson.core:jackson-core",
            "2.16.1",
            "pkg:maven/com.fasterxml.jackson.core/jackson-core@2.16.1",
            "app.jar!/BOOT-INF/lib/jackson-core-2.16.1.jar",
        ),
        (
            "com.google.guava:guava",
            "33.0.0-jre",
            "pkg:maven/com.google.guava/guava@33.0.0-jre",
            "app.jar!/BOOT-INF/lib/guava.jar",
        ),
    ]
    # nested archives past the budget are not opened
    assert len(java.extract("app.jar", outer, nested_budget=10)) == 1


def test_jar_name_version_from_file_name_and_garbage() -> None:
    bare = im.jar_bytes("", "", "", pom=False)
    (pkg,) = java.extract("opt/lib/commons-io-2.15.1.jar", bare, nested_budget=0)
    assert (pkg.name, pkg.version, pkg.purl) == (
        "commons-io",
        "2.15.1",
        "pkg:maven/commons-io@2.15.1",
    )
    with pytest.raises(java.JarError):
        java.extract("x.jar", b"not a zip", nested_budget=0)


def test_go_scan_of_many_fake_candidates_is_bounded_and_fast() -> None:
    fake = golang.MAGIC + bytes([8, 2]) + b"\0" * 16 + b"\x02xx" + b"\x80" * 13
    assert len(fake) == 48
    started = time.monotonic()
    assert _scan(b"\x7fELF" + b"\0" * 12 + fake * 100_000) is None
    long_claim = golang.MAGIC + bytes([8, 2]) + b"\0" * 16 + b"\x03go1" + b"\xff\xff\x7f"
    assert _scan(b"\0" * 16 + (long_claim + b"\0" * (-len(long_claim) % 16)) * 10_000) is None
    assert time.monotonic() - started < 2


def test_rpm_one_bad_header_is_skipped_and_counted() -> None:
    db = only(im.rpmdb_sqlite([_rpm("bash", "5.1.8", "9.el9"), _rpm("zlib", "1.2.11", "40.el9")]))
    conn = sqlite3.connect(":memory:")
    conn.deserialize(db)
    conn.execute("UPDATE Packages SET blob = ? WHERE hnum = 2", (b"\0\0\0\x09\0\0\0\x01",))
    conn.commit()
    broken = conn.serialize()
    warnings: list[str] = []
    got = rpm.extract("var/lib/rpm/rpmdb.sqlite", broken, None, warnings)
    assert [(p.name, p.purl) for p in got] == [("bash", "pkg:rpm/bash@5.1.8-9.el9?arch=x86_64")]
    assert warnings == ["var/lib/rpm/rpmdb.sqlite: 1 unreadable package headers skipped"]
    long_string = rpm.parse_header(im.rpm_header({im.RPM_NAME: "x" * 10_000}))
    assert long_string == {im.RPM_NAME: "x" * 10_000}


def test_rpm_a_view_named_packages_is_refused() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute(
        "CREATE VIEW Packages AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1"
        " FROM c) SELECT randomblob(1000000) AS blob FROM c"
    )
    conn.commit()
    data = conn.serialize()
    with pytest.raises(rpm.RpmError, match="no Packages table"):
        rpm.extract("var/lib/rpm/rpmdb.sqlite", data, None)


def test_rpm_work_is_bounded_by_a_progress_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    db = only(im.rpmdb_sqlite([_rpm(f"p{i}", "1", "1") for i in range(2000)]))
    monkeypatch.setattr(rpm, "_MAX_PROGRESS_CALLS", 1)
    with pytest.raises(rpm.RpmError, match="interrupted"):
        rpm.extract("var/lib/rpm/rpmdb.sqlite", db, None)


def test_a_shaded_jar_lists_what_it_bundles_and_itself() -> None:
    shaded = im.jar_bytes("org.jctools", "jctools-core", "4.0.5")  # only the bundled pom
    got = java.extract("opt/opentelemetry-sdk-trace-1.44.1.jar", shaded, nested_budget=0)
    assert [(p.name, p.version) for p in got] == [
        ("org.jctools:jctools-core", "4.0.5"),
        ("opentelemetry-sdk-trace", "1.44.1"),
    ]
    osgi = im.jar_bytes(
        "",
        "",
        "",
        pom=False,
        manifest={
            "Bundle-SymbolicName": "com.diffplug.durian.collect;singleton:=true",
            "Bundle-Version": "1.2.0",
            "Implementation-Version": '"1.2"',
        },
    )
    (pkg,) = java.extract("lib/durian-collect-1.2.0.jar", osgi, nested_budget=0)
    assert (pkg.name, pkg.version, pkg.purl) == (
        "com.diffplug.durian:durian-collect",
        "1.2.0",
        "pkg:maven/com.diffplug.durian/durian-collect@1.2.0",
    )


def test_go_gopath_mode_binary_has_only_the_standard_library() -> None:
    modinfo = "path\tgithub.com/containers/skopeo/cmd/skopeo\nbuild\t-compiler=gc\n"
    blob = im.go_buildinfo_blob("go1.19.8", modinfo)
    info = _scan(b"\x7fELF" + b"\0" * 12 + blob)
    assert info is not None
    assert [(p.name, p.version) for p in golang.packages(info, "usr/bin/skopeo")] == [
        ("stdlib", "1.19.8")
    ]


def test_dpkg_stray_bytes_lose_only_what_they_touch() -> None:
    data = only(
        im.dpkg_status(
            [
                {"Package": "a", "Version": "1", "Architecture": "all"},
                {"Package": "b", "Version": "2", "Architecture": "all"},
            ]
        )
    )
    broken = b"\xff\xfe garbage line\n\x00\n" + data.replace(b"Priority: optional", b"\xff\xff")
    got = dpkg.extract("s", broken, None)
    assert [(p.name, p.version) for p in got] == [("a", "1"), ("b", "2")]
