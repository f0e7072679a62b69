"""The images the scanning tests push: known package versions, each named in
tests/support/osv/README.md as a hit or a miss of the shipped OSV dataset."""

from __future__ import annotations

from tests.support import images


def debian_image() -> images.Image:
    base = {
        **images.os_release("debian", "12", "bookworm"),
        **images.dpkg_status(
            [
                {
                    "Package": "libssl3",
                    "Version": "3.0.11-1~deb12u1",
                    "Source": "openssl",
                    "Architecture": "amd64",
                },
                {
                    "Package": "libnghttp2-14",
                    "Version": "1.52.0-1+deb12u2",
                    "Source": "nghttp2",
                    "Architecture": "amd64",
                },
                {"Package": "tildepkg", "Version": "2.0~rc1-1", "Architecture": "all"},
                {"Package": "bash", "Version": "5.2.15-2+b2", "Architecture": "amd64"},
            ]
        ),
    }
    apps = {
        **images.python_dist_info("requests", "2.28.1"),
        **images.python_dist_info("PyYAML", "5.4"),
        **images.npm_package("lodash", "4.17.20"),
    }
    binaries = {
        **images.go_binary(
            go_version="go1.21.3",
            main=("example.com/app", "v1.0.0"),
            deps=[("golang.org/x/net", "v0.15.0")],
        ),
        **images.jar("org.apache.logging.log4j", "log4j-core", "2.14.1"),
    }
    return images.image([images.layer(base), images.layer(apps), images.layer(binaries)])


def alpine_image() -> images.Image:
    files = {
        **images.os_release("alpine", "3.18.4"),
        **images.apk_installed(
            [
                {
                    "P": "libcrypto3",
                    "V": "3.1.3-r0",
                    "A": "x86_64",
                    "o": "openssl",
                    "L": "Apache-2.0",
                },
                {
                    "P": "busybox",
                    "V": "1.36.1-r7",
                    "A": "x86_64",
                    "o": "busybox",
                    "L": "GPL-2.0-only",
                },
            ]
        ),
    }
    return images.image([images.layer(files, compression="zstd")])
