"""Every extractor on mutated copies of the bytes its ecosystem writes: it returns
well-formed packages or raises its own error, never anything else."""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from typing import Any

import pytest
from packageurl import PackageURL

from dockyard.supplychain.model import Distro, Package
from dockyard.supplychain.sbom.extractors import apk, dpkg, golang, java, npm, osrelease, rpm
from dockyard.supplychain.sbom.extractors import python as py
from tests.support import images as im

DEBIAN = Distro("debian", "12")
OWN_ERRORS = (rpm.RpmError, golang.BuildInfoError, java.JarError)


def _one(files: im.Files) -> bytes:
    (value,) = files.values()
    assert isinstance(value, bytes)
    return value


def _go(data: bytes) -> list[Package]:
    info = golang.find_buildinfo(io.BytesIO(data).read)
    return golang.packages(info, "bin/app") if info is not None else []


RPM: dict[int, str | int] = {
    im.RPM_NAME: "a",
    im.RPM_VERSION: "1",
    im.RPM_RELEASE: "2",
    im.RPM_EPOCH: 1,
    im.RPM_ARCH: "x86_64",
    im.RPM_SOURCERPM: "a-1-2.src.rpm",
    im.RPM_LICENSE: "MIT",
}
CASES: dict[str, tuple[Callable[[bytes], Any], bytes]] = {
    "dpkg": (
        lambda d: dpkg.extract("s", d, DEBIAN),
        _one(
            im.dpkg_status(
                [{"Package": "a", "Version": "1", "Source": "s (2)", "Architecture": "all"}] * 3
            )
        ),
    ),
    "apk": (
        lambda d: apk.extract("i", d, DEBIAN),
        _one(im.apk_installed([{"P": "a", "V": "1", "A": "x86_64", "o": "o", "L": "MIT"}] * 3)),
    ),
    "rpm": (lambda d: rpm.extract("r", d, DEBIAN, []), _one(im.rpmdb_sqlite([RPM] * 3))),
    "rpm-header": (rpm.parse_header, im.rpm_header(RPM)),
    "python": (
        lambda d: py.extract("m", d),
        _one(
            {
                k: v
                for k, v in im.python_dist_info("a", "1", "MIT").items()
                if k.endswith("METADATA")
            }
        ),
    ),
    "npm": (
        lambda d: npm.extract("p", d),
        b'{"name": "@a/b", "version": "1.0.0", "license": {"type": "MIT"}}',
    ),
    "os-release": (osrelease.parse_os_release, _one(im.os_release("debian", "12", "bookworm"))),
    "go": (_go, im.go_binary_bytes(deps=[("a/b", "v1.0.0")], replace={"a/b": ("c/d", "v2.0.0")})),
    "jar": (
        lambda d: java.extract("x-1.0.jar", d, 1 << 20),
        im.jar_bytes("g", "a", "1", nested={"lib/n-2.jar": im.jar_bytes("h", "n", "2")}),
    ),
}


def _mutated(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 10)):
        pos = rng.randrange(len(out))
        roll = rng.random()
        if roll < 0.7:
            out[pos] = rng.randrange(256)
        elif roll < 0.85:
            del out[pos : pos + rng.randint(1, 20)]
        else:
            out[pos:pos] = rng.randbytes(rng.randint(1, 20))
    return bytes(out)


@pytest.mark.parametrize("case", sorted(CASES))
def test_mutated_inputs(case: str) -> None:
    extract, pristine = CASES[case]
    rng = random.Random(case)
    for _ in range(150):
        try:
            result = extract(_mutated(pristine, rng))
        except OWN_ERRORS:
            continue
        for pkg in result if isinstance(result, list) else []:
            assert pkg.name and pkg.version
            assert PackageURL.from_string(pkg.purl).type == pkg.type
