"""Strict JSON text (oci.jsontext) and what manifest parsing refuses because of it:
encodings, NaN, duplicate and case-variant names, nesting, schemaVersion, mediaType
against Content-Type and shape, descriptor sizes and platforms."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from dockyard.errors import ManifestInvalid
from dockyard.oci import mediatypes as mt
from dockyard.oci.jsontext import MAX_DEPTH, JSONTextError, depth, loads
from dockyard.oci.manifest import parse_manifest
from tests.unit.test_oci import d, desc, oci_index, oci_manifest, parse

# -- jsontext -----------------------------------------------------------------------


def test_plain_json_parses() -> None:
    assert loads(b'{"a": [1, "x", null, true, 1.5, {"b": {}}]}') == {
        "a": [1, "x", None, True, 1.5, {"b": {}}]
    }
    assert loads('{"é": "\\ud83d\\udc33"}'.encode()) == {"é": "\U0001f433"}


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ('{"a": 1}'.encode("utf-16"), "UTF-16"),
        ('{"a": 1}'.encode("utf-16-le"), "UTF-16"),
        ('{"a": 1}'.encode("utf-16-be"), "UTF-16"),
        ('{"a": 1}'.encode("utf-32"), "UTF-32"),
        (b'\xef\xbb\xbf{"a": 1}', "byte order mark"),
        (b'{"a": "\xff"}', "not UTF-8: byte 7 is 0xff"),
        (b'{"a": "\xed\xa0\x80"}', "not UTF-8"),  # a surrogate, encoded
        (b'{"a": "\\ud800"}', "surrogate"),
        (b'{"a": "\\udc00\\ud800"}', "surrogate"),
        (b'{"a": NaN}', "NaN"),
        (b'{"a": [Infinity]}', "Infinity"),
        (b'{"a": -Infinity}', "-Infinity"),
        (b'{"a": 1, "a": 2}', "name 'a' appears twice"),
        (b'{"x": {"b": 1, "c": 2, "b": 1}}', "name 'b' appears twice"),
        (b'{"a": 1} x', "not valid JSON"),
        (b'{"a": "\n"}', "not valid JSON"),  # a raw control character in a string
    ],
)
def test_not_json_text(data: bytes, words: str) -> None:
    with pytest.raises(JSONTextError, match=words):
        loads(data)


def test_escaped_backslash_before_u_is_no_surrogate() -> None:
    assert loads(b'{"a": "\\\\ud800"}') == {"a": "\\ud800"}


def test_what_names_the_document() -> None:
    with pytest.raises(JSONTextError, match=r"^manifest is not valid JSON"):
        loads(b"{", what="manifest")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"1", 0),
        (b'"[[["', 0),
        (b"{}", 1),
        (b'[[], {"a": [[]]}]', 4),
        (b'{"a": "[[{{", "b": ["]]"]}', 2),
        (b'{"a": "\\"[[[", "b": [1]}', 2),  # an escaped quote does not end the string
        (b'{"a\\\\": [[1]]}', 3),  # nor does an escaped backslash hide the real end
        (b'[[["unterminated', 3),
        (b'["a\\', 1),
    ],
)
def test_depth(data: bytes, expected: int) -> None:
    assert depth(data) == expected


def _nested(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def test_nesting_limit() -> None:
    assert loads(_nested(MAX_DEPTH)) is not None
    assert loads(b'["' + b"[{" * 300 + b'"]') == ["[{" * 300]  # brackets in a string
    for data in (_nested(MAX_DEPTH + 1), _nested(100_000), b"[" * 100_000, b'{"a":' * 5000):
        with pytest.raises(JSONTextError, match=f"more than {MAX_DEPTH} deep"):
            loads(data)


def test_many_shallow_brackets_are_fine() -> None:
    wide = json.dumps([{"a": [1]}] * 10_000).encode()
    assert len(loads(wide)) == 10_000


def test_hostile_escapes_stay_linear() -> None:
    # an unterminated string followed by a million escaped quotes: a naive
    # string-skipping regex rescans from each of them
    data = b"[" * 70 + b'"' + b'\\"' * 1_000_000
    started = time.perf_counter()
    with pytest.raises(JSONTextError):
        loads(data)
    assert time.perf_counter() - started < 2


# -- manifests ------------------------------------------------------------------------


def _raw(body: dict[str, Any]) -> str:
    return json.dumps(body)


def test_manifest_json_errors_are_manifest_invalid() -> None:
    text = _raw(oci_manifest())
    for data in (
        text.encode("utf-16"),
        b"\xef\xbb\xbf" + text.encode(),
        text[:-1].encode() + b', "x": NaN}',
        text[:-1].encode() + b', "layers": []}',
        text[:-1].encode() + b', "x": ' + _nested(MAX_DEPTH) + b"}",
        text[:-1].encode() + b', "x": ' + _nested(10_000) + b"}",
    ):
        with pytest.raises(ManifestInvalid, match=r"^manifest\b"):
            parse_manifest(data, mt.OCI_MANIFEST)
    # the top-level object is one level: MAX_DEPTH - 1 more are allowed
    nested = text[:-1].encode() + b', "x": ' + _nested(MAX_DEPTH - 1) + b"}"
    assert parse_manifest(nested, mt.OCI_MANIFEST).media_type == mt.OCI_MANIFEST


@pytest.mark.parametrize("version", [2.0, 2e0, "2", True, [2], None])
def test_schema_version_must_be_the_integer_2(version: Any) -> None:
    body = _raw(oci_manifest()).replace(
        '"schemaVersion": 2', f'"schemaVersion": {json.dumps(version)}'
    )
    with pytest.raises(ManifestInvalid, match="schemaVersion must be the integer 2"):
        parse(body.encode(), mt.OCI_MANIFEST)


@pytest.mark.parametrize(
    ("where", "field"),
    [
        ("top", "Layers"),
        ("top", "CONFIG"),
        ("top", "schemaversion"),
        ("top", "Manifests"),
        ("top", "\u017fubject"),  # long s: Go's case folding reads it as "subject"
        ("descriptor", "Digest"),
        ("descriptor", "SIZE"),
        ("descriptor", "Platform"),
        ("platform", "OS"),
        ("platform", "Architecture"),
    ],
)
def test_case_variant_names_refused(where: str, field: str) -> None:
    if where == "top":
        body = oci_manifest(**{field: []})
    elif where == "descriptor":
        body = oci_manifest(layers=[desc("l", **{field: 1})])
    else:
        platform = {"os": "linux", "architecture": "amd64", field: "x"}
        body = oci_index(manifests=[desc("c", mt.OCI_MANIFEST, platform=platform)])
    with pytest.raises(ManifestInvalid, match=f"{field!r} differs from"):
        parse(body, body["mediaType"])


def test_other_names_may_differ_in_case() -> None:
    body = oci_manifest(
        annotations={"Org.Example": "1", "org.example": "2"},
        layers=[desc("l", annotations={"A": "1", "a": "2"})],
        **{"x-Extension": 1, "X-extension": 2},
    )
    assert parse(body, mt.OCI_MANIFEST).annotations == {"Org.Example": "1", "org.example": "2"}


def test_docker_types_need_their_media_type_field() -> None:
    docker = {
        "schemaVersion": 2,
        "config": desc("config", "application/vnd.docker.container.image.v1+json"),
        "layers": [desc("l1", "application/vnd.docker.image.rootfs.diff.tar.gzip")],
    }
    with pytest.raises(ManifestInvalid, match="must have its mediaType field"):
        parse(docker, mt.DOCKER_MANIFEST)
    listing = {"schemaVersion": 2, "manifests": []}
    with pytest.raises(ManifestInvalid, match="must have its mediaType field"):
        parse(listing, mt.DOCKER_MANIFEST_LIST)
    # OCI made it optional
    assert parse(oci_manifest(mediaType=None), mt.OCI_MANIFEST).media_type == mt.OCI_MANIFEST
    assert parse(oci_index(mediaType=None), mt.OCI_INDEX).media_type == mt.OCI_INDEX


def test_manifest_and_index_fields_do_not_mix() -> None:
    with pytest.raises(ManifestInvalid, match="'manifests', which indexes have"):
        parse(oci_manifest(manifests=[]), mt.OCI_MANIFEST)
    with pytest.raises(ManifestInvalid, match="must not have"):  # by shape, an index
        parse(oci_manifest(mediaType=None, manifests=[]), None)
    for field in ("config", "layers"):
        with pytest.raises(ManifestInvalid, match=f"{field!r}, which images have"):
            parse(oci_index(**{field: []}), mt.OCI_INDEX)


@pytest.mark.parametrize("size", [2**63, 2**64, -(2**63), 10.0, 1e3, float("inf")])
def test_size_is_an_int64(size: Any) -> None:
    data = _raw(oci_manifest(layers=[desc("l", size=1)])).replace('"size": 1', f'"size": {size!r}')
    data = data.replace("inf", "1e999")  # what overflows a float in JSON
    with pytest.raises(ManifestInvalid, match="size must be an integer from 0 to 2\\^63-1"):
        parse(data.encode(), mt.OCI_MANIFEST)
    assert parse(oci_manifest(layers=[desc("l", size=2**63 - 1)])).blobs[1].size == 2**63 - 1


@pytest.mark.parametrize(
    ("platform", "words"),
    [
        ({"os": "linux"}, "platform.architecture must be a non-empty string"),
        ({"architecture": "amd64"}, "platform.os must be a non-empty string"),
        ({"os": "", "architecture": "amd64"}, "platform.os"),
        ({"os": "linux", "architecture": 64}, "platform.architecture"),
        ({"os": "linux", "architecture": "arm", "variant": 7}, "platform.variant"),
        ({"os": "windows", "architecture": "amd64", "os.version": 10}, "platform.os.version"),
        ({"os": "linux", "architecture": "amd64", "os.features": "x"}, "platform.os.features"),
        ({"os": "linux", "architecture": "amd64", "features": [1]}, "platform.features"),
    ],
)
def test_bad_platform(platform: dict[str, Any], words: str) -> None:
    body = oci_index(manifests=[desc("c", mt.OCI_MANIFEST, platform=platform)])
    with pytest.raises(ManifestInvalid, match=f"manifests\\[0\\]: {words}"):
        parse(body, mt.OCI_INDEX)


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"annotations": {"a": 1}}, "layers\\[0\\].annotations"),
        ({"artifactType": "nope"}, "artifactType"),
        ({"data": 12}, "data must be a base64 string"),
        ({"urls": ""}, "urls"),
    ],
)
def test_bad_optional_descriptor_fields(extra: dict[str, Any], words: str) -> None:
    with pytest.raises(ManifestInvalid, match=words):
        parse(oci_manifest(layers=[desc("l", **extra)]), mt.OCI_MANIFEST)


def test_null_optional_fields_are_absent() -> None:
    layer = desc("l", urls=None, annotations=None, artifactType=None, data=None, platform=None)
    m = parse(oci_manifest(layers=[layer]), mt.OCI_MANIFEST)
    assert m.blobs[1].digest == d("l") and m.blobs[1].urls == () and m.blobs[1].platform is None
