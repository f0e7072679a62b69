"""read_image over whole images: the packages of the final filesystem, exactly."""

from __future__ import annotations

import pytest

from dockyard.supplychain.model import Distro, Package
from dockyard.supplychain.sbom import Limits
from tests.supplychain_sbom.helpers import names, read
from tests.support import images as im

SITE = "usr/local/lib/python3.11/site-packages"
STATUS = "var/lib/dpkg/status"


def _debian_base() -> bytes:
    return im.layer(
        {
            **im.os_release("debian", "12", "bookworm", path="usr/lib/os-release"),
            **im.dpkg_status(
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
                ]
            ),
            "usr/bin/ls": im.File(b"\x7fELF" + b"\0" * 200, 0o755),  # not a Go binary
            "bin/sh": im.File(b"#!/bin/dash\n" * 10, 0o755),
        },
        symlinks={"etc/os-release": "../usr/lib/os-release"},
    )


async def test_debian_image_with_every_ecosystem() -> None:
    app = im.layer(
        {
            **im.python_dist_info("requests", "2.31.0", "Apache 2.0", site=SITE),
            **im.npm_package("@babel/core", "7.23.9", root="app/node_modules"),
            **im.go_binary(
                "usr/local/bin/app",
                main=("github.com/acme/app", "v1.0.0"),
                deps=[("golang.org/x/text", "v0.14.0")],
            ),
            **im.jar("org.apache.logging.log4j", "log4j-core", "2.17.1"),
        },
        compression="zstd",
    )
    contents = await read(_debian_base(), app)
    assert contents.distro == Distro("debian", "12", "bookworm")
    assert contents.warnings == ()
    assert names(contents) == [
        ("deb", "libc6", "2.36-9+deb12u4"),
        ("deb", "login", "1:4.13+dfsg1-1"),
        ("golang", "github.com/acme/app", "v1.0.0"),
        ("golang", "golang.org/x/text", "v0.14.0"),
        ("golang", "stdlib", "1.22.1"),
        ("maven", "org.apache.logging.log4j:log4j-core", "2.17.1"),
        ("npm", "@babel/core", "7.23.9"),
        ("pypi", "requests", "2.31.0"),
    ]
    by_name = {p.name: p for p in contents.packages}
    assert by_name["login"] == Package(
        "deb",
        "login",
        "1:4.13+dfsg1-1",
        "pkg:deb/debian/login@1:4.13%2Bdfsg1-1?arch=amd64&distro=debian-12",
        STATUS,
        "shadow",
        "1:4.13+dfsg1-1",
    )
    assert by_name["requests"].location == f"{SITE}/requests-2.31.0.dist-info/METADATA"
    assert by_name["requests"].licenses == ("Apache 2.0",)
    assert by_name["stdlib"].location == "usr/local/bin/app"
    assert by_name["@babel/core"].purl == "pkg:npm/%40babel/core@7.23.9"


async def test_alpine_image_uncompressed_layer() -> None:
    base = im.layer(
        {
            **im.os_release("alpine", "3.19.1"),
            **im.apk_installed(
                [
                    {
                        "P": "busybox",
                        "V": "1.36.1-r15",
                        "A": "aarch64",
                        "o": "busybox",
                        "L": "GPL-2.0-only",
                    }
                ]
            ),
        },
        compression="none",
    )
    contents = await read(base)
    assert contents.distro == Distro("alpine", "3.19.1")
    assert contents.packages == (
        Package(
            "apk",
            "busybox",
            "1.36.1-r15",
            "pkg:apk/alpine/busybox@1.36.1-r15?arch=aarch64&distro=alpine-3.19.1",
            "lib/apk/db/installed",
            "busybox",
            "1.36.1-r15",
            ("GPL-2.0-only",),
        ),
    )


async def test_fedora_rpm_sqlite_in_sysimage() -> None:
    header = {
        im.RPM_NAME: "curl",
        im.RPM_VERSION: "8.2.1",
        im.RPM_RELEASE: "4.fc39",
        im.RPM_ARCH: "x86_64",
        im.RPM_LICENSE: "curl",
        im.RPM_SOURCERPM: "curl-8.2.1-4.fc39.src.rpm",
    }
    base = im.layer(
        {
            **im.os_release("fedora", "39"),
            **im.rpmdb_sqlite([header], path="usr/lib/sysimage/rpm/rpmdb.sqlite"),
            "var/lib/rpm/Packages": b"\0" * 64,  # a BerkeleyDB one beside it
        }
    )
    contents = await read(base)
    assert [p.purl for p in contents.packages] == [
        "pkg:rpm/fedora/curl@8.2.1-4.fc39?arch=x86_64&distro=fedora-39"
    ]
    assert contents.warnings == (
        "var/lib/rpm/Packages: rpm (BerkeleyDB/NDB) not read: "
        "BerkeleyDB/NDB rpm databases are not read",
    )


async def test_whiteout_removes_a_package_database_and_a_later_one_replaces_it() -> None:
    gone = im.layer(
        {
            STATUS: None,
            "var/lib/dpkg/status.d/app": (b"Package: app\nVersion: 2.0\nArchitecture: amd64\n"),
        }
    )
    contents = await read(_debian_base(), gone)
    assert names(contents) == [("deb", "app", "2.0")]
    replaced = im.layer(
        im.dpkg_status(
            [
                {
                    "Package": "libc6",
                    "Version": "2.36-9+deb12u7",
                    "Architecture": "amd64",
                    "Source": "glibc",
                }
            ]
        )
    )
    contents = await read(_debian_base(), replaced)
    assert names(contents) == [("deb", "libc6", "2.36-9+deb12u7")]


async def test_whiteout_of_a_directory_and_an_opaque_directory() -> None:
    base = im.layer(
        {
            **im.python_dist_info("flask", "3.0.0", site=SITE),
            **im.python_dist_info("jinja2", "3.1.3", site=SITE),
            **im.npm_package("left-pad", "1.3.0"),
            **im.npm_package("express", "4.18.2"),
        }
    )
    # the flask dist-info directory whited out; node_modules made opaque, then refilled
    upper = im.layer(
        {f"{SITE}/flask-3.0.0.dist-info": None, **im.npm_package("express", "4.19.2")},
        opaque=["app/node_modules"],
    )
    contents = await read(base, upper)
    assert names(contents) == [("npm", "express", "4.19.2"), ("pypi", "jinja2", "3.1.3")]


async def test_a_symlink_hides_what_lower_layers_had_and_is_not_followed() -> None:
    base = im.layer(im.npm_package("a", "1.0.0"))
    upper = im.layer(
        {"elsewhere/package.json": b'{"name": "evil", "version": "6.6.6"}'},
        symlinks={"app/node_modules/a/package.json": "/elsewhere/package.json"},
    )
    assert names(await read(base, upper)) == []


async def test_hardlink_within_a_layer_is_resolved() -> None:
    meta = im.python_dist_info("idna", "3.6", site=SITE)
    (path,) = (p for p in meta if p.endswith("METADATA"))
    venv = "opt/venv/lib/python3.11/site-packages/idna-3.6.dist-info/METADATA"
    contents = await read(im.layer(meta, hardlinks={venv: path, "x/METADATA": path}))
    assert [(p.name, p.location) for p in contents.packages] == [("idna", venv), ("idna", path)]


async def test_a_go_binary_replaced_by_a_script_is_gone() -> None:
    base = im.layer(im.go_binary("usr/bin/tool"))
    upper = im.layer({"usr/bin/tool": im.File(b"#!/bin/sh\necho hi\n", 0o755)})
    assert names(await read(base)) == [
        ("golang", "example.com/app", "(devel)"),
        ("golang", "stdlib", "1.22.1"),
    ]
    assert names(await read(base, upper)) == []


async def test_members_over_their_limits_are_warned_and_skipped() -> None:
    layer = im.layer(
        {
            **im.dpkg_status([{"Package": "a", "Version": "1", "Architecture": "all"}]),
            **im.go_binary("usr/bin/big"),
            **im.jar("g", "big", "1.0", path="opt/big.jar"),
        }
    )
    limits = Limits(max_member_bytes=64, max_binary_bytes=256)
    contents = await read(layer, limits=limits)
    assert contents.packages == ()
    status = im.dpkg_status([{"Package": "a", "Version": "1", "Architecture": "all"}])[STATUS]
    assert isinstance(status, bytes)
    status_size = len(status)
    binary_size = len(im.go_binary_bytes())
    jar_size = len(im.jar_bytes("g", "big", "1.0"))
    assert contents.warnings == (
        f"{STATUS}: {status_size} bytes, over the 64-byte limit; skipped",
        f"usr/bin/big: ELF binary of {binary_size} bytes, over the 256-byte limit; skipped",
        f"opt/big.jar: {jar_size} bytes, over the 256-byte limit; skipped",
    )


async def test_non_layer_media_types_are_skipped_and_empty_blobs_are_empty() -> None:
    image = im.image(
        [b"{}", b""], media_types=["application/vnd.cncf.helm.chart.content.v1.tar+gzip", im.MT_TAR]
    )
    from dockyard.supplychain.sbom import read_image

    contents = await read_image(image.layers(), image.open_layer)
    assert contents.packages == ()
    (warning,) = contents.warnings
    assert warning.endswith(
        "media type 'application/vnd.cncf.helm.chart.content.v1.tar+gzip' skipped"
    )


async def test_unreadable_files_are_warnings_not_failures() -> None:
    layer = im.layer(
        {
            "var/lib/rpm/rpmdb.sqlite": b"SQLite format 3\0" + b"\x07" * 500,
            "opt/app/broken.jar": b"PK\x03\x04 but not a zip",
            **im.npm_package("ok", "1.0.0"),
        }
    )
    contents = await read(layer)
    assert names(contents) == [("npm", "ok", "1.0.0")]
    assert len(contents.warnings) == 2
    assert contents.warnings[0].startswith("opt/app/broken.jar: unreadable archive")
    assert contents.warnings[1].startswith("var/lib/rpm/rpmdb.sqlite: rpm not read: unreadable")


async def test_empty_layers_of_every_kind() -> None:
    blobs = [im.layer({}, compression=c) for c in ("gzip", "zstd", "none")]
    blobs += [b"", im.compress(b"", "gzip"), im.compress(b"", "zstd")]
    contents = await read(*blobs, im.layer(im.npm_package("after", "1.0.0")))
    assert names(contents) == [("npm", "after", "1.0.0")]
    assert contents.warnings == ()


async def test_many_whiteouts_over_many_files_stay_fast() -> None:
    import time

    base = im.layer(
        {
            f"app/node_modules/p{i}/package.json": b'{"name": "p%d", "version": "1.0.0"}' % i
            for i in range(3000)
        }
    )
    upper = im.layer(
        {f"gone/f{i}": None for i in range(20_000)} | {"app/node_modules/p7": None},
        opaque=["app/node_modules/p8", "x/y"],
    )
    started = time.monotonic()
    contents = await read(base, upper)
    assert len(contents.packages) == 2998
    assert {p.name for p in contents.packages}.isdisjoint({"p7", "p8"})
    assert time.monotonic() - started < 10


async def test_an_opaque_root_hides_everything_below() -> None:
    base = im.layer(im.npm_package("a", "1.0.0"))
    upper = im.layer({"x": b"", **im.npm_package("b", "2.0.0")})
    opaque_root = im.compress(im.tar_bytes({}, opaque=[""], raw_names=True))
    contents = await read(base, upper, opaque_root)
    assert names(contents) == []


async def test_the_number_of_kept_files_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from dockyard.supplychain.sbom import layers

    monkeypatch.setattr(layers, "_MAX_KEPT", 3)
    files: im.Files = {}
    for i in range(5):
        files |= im.npm_package(f"p{i}", "1.0.0")
    contents = await read(im.layer(files))
    assert names(contents) == [
        ("npm", "p0", "1.0.0"),
        ("npm", "p1", "1.0.0"),
        ("npm", "p2", "1.0.0"),
    ]
    assert contents.warnings == ("more than 3 package files; the rest skipped",)
