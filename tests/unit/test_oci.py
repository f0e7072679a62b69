"""Pure spec code: digests, repository names, tags, manifest parsing."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from dockyard.errors import DigestInvalid, ManifestInvalid, NameInvalid
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import Digest, digest_of, is_digest, parse_digest
from dockyard.oci.manifest import Descriptor, ParsedManifest, parse_manifest
from dockyard.oci.names import is_tag, validate_name, validate_tag

SHA256 = hashlib.sha256(b"x").hexdigest()
SHA512 = hashlib.sha512(b"x").hexdigest()
EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"


def d(name: str) -> str:
    return digest_of(name.encode())


# -- digests -----------------------------------------------------------------------


def test_parse_sha256() -> None:
    assert parse_digest(f"sha256:{SHA256}") == Digest("sha256", SHA256)
    assert str(parse_digest(f"sha256:{SHA256}")) == f"sha256:{SHA256}"


def test_parse_sha512() -> None:
    parsed = parse_digest(f"sha512:{SHA512}")
    assert parsed.algorithm == "sha512"
    assert parsed.hasher().name == "sha512"


def test_digest_of() -> None:
    assert digest_of(b"x") == f"sha256:{SHA256}"
    assert digest_of(b"x", "sha512") == f"sha512:{SHA512}"
    assert parse_digest(digest_of(b""))  # round-trips


def test_uppercase_hex_rejected() -> None:
    with pytest.raises(DigestInvalid):
        parse_digest(f"sha256:{SHA256.upper()}")
    with pytest.raises(DigestInvalid):
        parse_digest(f"SHA256:{SHA256}")


@pytest.mark.parametrize(
    "value",
    [
        f"md5:{hashlib.md5(b'x').hexdigest()}",
        f"sha1:{hashlib.sha1(b'x').hexdigest()}",
        f"blake3:{SHA256}",
        f"sha384:{hashlib.sha384(b'x').hexdigest()}",
    ],
)
def test_unknown_algorithm(value: str) -> None:
    with pytest.raises(DigestInvalid, match="unsupported"):
        parse_digest(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "sha256",
        "sha256:",
        f":{SHA256}",
        f"sha256:{SHA256[:-1]}",
        f"sha256:{SHA256}0",
        "sha256:" + "g" * 64,
        f"sha256:{SHA256} ",
        f" sha256:{SHA256}",
        f"sha256:{SHA256}\n",
        f"sha256::{SHA256}",
        f"sha256/{SHA256}",
        "latest",
        "../../etc/passwd",
        f"sha256:{SHA256[:32]}/../{SHA256[:29]}",
        f"sha512:{SHA256}",
        f"sha256:{SHA512}",
    ],
)
def test_garbage_rejected(value: str) -> None:
    with pytest.raises(DigestInvalid):
        parse_digest(value)


def test_overlong_rejected() -> None:
    with pytest.raises(DigestInvalid):
        parse_digest("sha256:" + "a" * 1000)
    with pytest.raises(DigestInvalid) as exc:
        parse_digest("a" * 100_000 + ":" + SHA256)
    assert len(str(exc.value)) < 300  # the message does not echo the whole input


def test_is_digest() -> None:
    assert is_digest(f"sha256:{SHA256}")
    assert not is_digest("latest")


# -- repository names ---------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "a",
        "0",
        "library/ubuntu",
        "a/b/c/d/e",
        "foo.bar",
        "foo_bar",
        "foo__bar",
        "foo-bar",
        "foo---bar",
        "a0/b1.c2-d3_e4",
        "registry.example.com/team/app",
        "a" * 255,
        "/".join(["abc"] * 60),
    ],
)
def test_valid_names(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "..",
        ".",
        "/a",
        "a//b",
        "a/",
        "A",
        "Library/ubuntu",
        "a" * 256,
        "a/../b",
        "a/./b",
        "../a",
        "%2e%2e",
        "a/%2e%2e/b",
        "a%2fb",
        "-a",
        "a-",
        "a.",
        ".a",
        "_a",
        "a_",
        "a___b",
        "a..b",
        "a._b",
        "a b",
        "a:b",
        "a@b",
        "a\\b",
        "a\nb",
        "a\x00b",
        "é",
    ],
)
def test_invalid_names(name: str) -> None:
    with pytest.raises(NameInvalid):
        validate_name(name)


# -- tags ------------------------------------------------------------------------------


@pytest.mark.parametrize("tag", ["latest", "v1.0", "1", "_x", "A_b-c.D", "a" * 128, "x--y..z"])
def test_valid_tags(tag: str) -> None:
    assert validate_tag(tag) == tag
    assert is_tag(tag)


@pytest.mark.parametrize(
    "tag", ["", ".x", "-x", "a" * 129, "a/b", "a:b", "a b", "a@b", "é", "v1\n", f"sha256:{SHA256}"]
)
def test_invalid_tags(tag: str) -> None:
    with pytest.raises(ManifestInvalid):
        validate_tag(tag)
    assert not is_tag(tag)


# -- manifests ------------------------------------------------------------------------


def desc(
    name: str,
    media_type: str = "application/vnd.oci.image.layer.v1.tar+gzip",
    size: int = 10,
    **extra: Any,
) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": d(name), "size": size, **extra}


def oci_manifest(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": desc("config", "application/vnd.oci.image.config.v1+json"),
        "layers": [desc("layer1"), desc("layer2")],
    }
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


def oci_index(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [
            desc("amd64", mt.OCI_MANIFEST, platform={"architecture": "amd64", "os": "linux"}),
            desc("arm64", mt.OCI_MANIFEST, platform={"architecture": "arm64", "os": "linux"}),
        ],
    }
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


def parse(body: Any, content_type: str | None = None) -> ParsedManifest:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return parse_manifest(data, content_type)


def test_oci_manifest() -> None:
    m = parse(oci_manifest(), mt.OCI_MANIFEST)
    assert m.media_type == mt.OCI_MANIFEST
    assert not m.is_index
    assert [b.digest for b in m.blobs] == [d("config"), d("layer1"), d("layer2")]
    assert m.blobs[0] == Descriptor("application/vnd.oci.image.config.v1+json", d("config"), 10)
    assert m.children == ()
    assert m.subject is None
    # no artifactType: referrers report the config's media type
    assert m.artifact_type == "application/vnd.oci.image.config.v1+json"


def test_oci_manifest_annotations() -> None:
    m = parse(oci_manifest(annotations={"org.opencontainers.image.created": "2026"}))
    assert m.annotations == {"org.opencontainers.image.created": "2026"}


def test_oci_manifest_content_type_with_parameters() -> None:
    m = parse(oci_manifest(), f"{mt.OCI_MANIFEST}; charset=utf-8")
    assert m.media_type == mt.OCI_MANIFEST


def test_oci_manifest_without_media_type_field() -> None:
    # mediaType in the body is optional in image-spec; Content-Type decides
    body = oci_manifest(mediaType=None)
    assert "mediaType" not in body
    assert parse(body, mt.OCI_MANIFEST).media_type == mt.OCI_MANIFEST
    # and with no usable Content-Type either, the shape does
    assert parse(body, None).media_type == mt.OCI_MANIFEST
    assert parse(body, "application/octet-stream").media_type == mt.OCI_MANIFEST


def test_oci_manifest_no_layers() -> None:
    m = parse(oci_manifest(layers=[]), mt.OCI_MANIFEST)
    assert [b.digest for b in m.blobs] == [d("config")]


def test_oci_index() -> None:
    m = parse(oci_index(), mt.OCI_INDEX)
    assert m.media_type == mt.OCI_INDEX
    assert m.is_index
    assert m.blobs == ()
    assert [c.digest for c in m.children] == [d("amd64"), d("arm64")]
    assert m.children[0].platform == {"architecture": "amd64", "os": "linux"}


def test_oci_index_by_shape() -> None:
    body = oci_index(mediaType=None)
    assert parse(body, None).media_type == mt.OCI_INDEX


def test_empty_index() -> None:
    m = parse(oci_index(manifests=[]), mt.OCI_INDEX)
    assert m.children == ()


def test_docker_schema2() -> None:
    body = {
        "schemaVersion": 2,
        "mediaType": mt.DOCKER_MANIFEST,
        "config": desc("config", "application/vnd.docker.container.image.v1+json"),
        "layers": [desc("l1", "application/vnd.docker.image.rootfs.diff.tar.gzip")],
    }
    m = parse(body, mt.DOCKER_MANIFEST)
    assert m.media_type == mt.DOCKER_MANIFEST
    assert [b.digest for b in m.blobs] == [d("config"), d("l1")]
    # Content-Type missing: the body's mediaType decides
    assert parse(body, None).media_type == mt.DOCKER_MANIFEST


def test_docker_manifest_list() -> None:
    body = {
        "schemaVersion": 2,
        "mediaType": mt.DOCKER_MANIFEST_LIST,
        "manifests": [
            desc("amd64", mt.DOCKER_MANIFEST, platform={"architecture": "amd64", "os": "linux"})
        ],
    }
    m = parse(body, mt.DOCKER_MANIFEST_LIST)
    assert m.media_type == mt.DOCKER_MANIFEST_LIST
    assert m.is_index
    assert [c.digest for c in m.children] == [d("amd64")]


def test_artifact_with_empty_config() -> None:
    body = oci_manifest(
        artifactType="application/vnd.example.sbom.v1",
        config={"mediaType": mt.OCI_EMPTY, "digest": EMPTY_DIGEST, "size": 2, "data": "e30="},
        layers=[desc("sbom", "application/spdx+json")],
    )
    m = parse(body, mt.OCI_MANIFEST)
    assert m.artifact_type == "application/vnd.example.sbom.v1"
    assert m.blobs[0] == Descriptor(mt.OCI_EMPTY, EMPTY_DIGEST, 2)
    assert [b.digest for b in m.blobs] == [EMPTY_DIGEST, d("sbom")]


def test_index_artifact_type() -> None:
    m = parse(oci_index(artifactType="application/vnd.example.bundle"), mt.OCI_INDEX)
    assert m.artifact_type == "application/vnd.example.bundle"


def test_subject() -> None:
    subject = desc("image", mt.OCI_MANIFEST, size=1234)
    m = parse(oci_manifest(subject=subject, artifactType="application/vnd.example.sig"))
    assert m.subject == Descriptor(mt.OCI_MANIFEST, d("image"), 1234)
    m = parse(oci_index(subject=subject), mt.OCI_INDEX)
    assert m.subject is not None and m.subject.digest == d("image")


def test_foreign_layers_are_not_blobs() -> None:
    body = {
        "schemaVersion": 2,
        "mediaType": mt.DOCKER_MANIFEST,
        "config": desc("config", "application/vnd.docker.container.image.v1+json"),
        "layers": [
            desc(
                "windows-base",
                "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                urls=["https://mcr.microsoft.com/v2/windows/blobs/x"],
            ),
            desc("oci-nondist", "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"),
            desc("with-urls", urls=["https://example.com/layer"]),
            desc("ours", "application/vnd.docker.image.rootfs.diff.tar.gzip"),
        ],
    }
    m = parse(body, mt.DOCKER_MANIFEST)
    assert [b.digest for b in m.blobs] == [d("config"), d("ours")]


# -- malformed manifests --------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"{", b"not json", b"\xff\xfe", b'{"a":1}garbage'])
def test_not_json(data: bytes) -> None:
    with pytest.raises(ManifestInvalid, match="JSON"):
        parse_manifest(data, mt.OCI_MANIFEST)


@pytest.mark.parametrize("body", [[], [oci_manifest()], "manifest", 2, None, True])
def test_not_an_object(body: Any) -> None:
    with pytest.raises(ManifestInvalid, match="object"):
        parse(json.dumps(body).encode(), mt.OCI_MANIFEST)


@pytest.mark.parametrize("version", [None, 1, 3, "2", 2.5, True])
def test_schema_version(version: Any) -> None:
    body = oci_manifest()
    if version is None:
        del body["schemaVersion"]
    else:
        body["schemaVersion"] = version
    with pytest.raises(ManifestInvalid, match="schemaVersion"):
        parse(body, mt.OCI_MANIFEST)


@pytest.mark.parametrize(
    "bad",
    [
        {"digest": "sha256:nothex"},
        {"digest": f"sha256:{SHA256.upper()}"},
        {"digest": f"md5:{hashlib.md5(b'x').hexdigest()}"},
        {"digest": 42},
        {"digest": None},
        {"size": -1},
        {"size": 1.5},
        {"size": "10"},
        {"size": True},
        {"size": None},
        {"mediaType": None},
        {"mediaType": "not a media type"},
        {"mediaType": "noslash"},
        {"mediaType": "a/b/c"},
        {"urls": "https://x"},
        {"urls": [1]},
        {"platform": "linux/amd64"},
    ],
)
@pytest.mark.parametrize("where", ["config", "layers", "manifests", "subject"])
def test_bad_descriptor(bad: dict[str, Any], where: str) -> None:
    descriptor = {**desc("x"), **bad}
    descriptor = {k: v for k, v in descriptor.items() if v is not None}
    if where == "config":
        body, ct = oci_manifest(config=descriptor), mt.OCI_MANIFEST
    elif where == "layers":
        body, ct = oci_manifest(layers=[desc("ok"), descriptor]), mt.OCI_MANIFEST
    elif where == "manifests":
        body, ct = oci_index(manifests=[descriptor]), mt.OCI_INDEX
    else:
        body, ct = oci_manifest(subject=descriptor), mt.OCI_MANIFEST
    with pytest.raises(ManifestInvalid) as exc:
        parse(body, ct)
    assert where in str(exc.value)


@pytest.mark.parametrize("descriptor", ["a string", 1, [], None])
def test_descriptor_not_an_object(descriptor: Any) -> None:
    with pytest.raises(ManifestInvalid, match="config"):
        parse(oci_manifest(config=descriptor))
    with pytest.raises(ManifestInvalid, match="layers"):
        parse(oci_manifest(layers=[desc("ok"), descriptor]))


def test_layers_not_a_list() -> None:
    with pytest.raises(ManifestInvalid, match="layers"):
        parse(oci_manifest(layers={"0": desc("l")}))


def test_index_manifests_missing_or_not_a_list() -> None:
    with pytest.raises(ManifestInvalid, match="manifests"):
        parse({"schemaVersion": 2, "mediaType": mt.OCI_INDEX}, mt.OCI_INDEX)
    with pytest.raises(ManifestInvalid, match="manifests"):
        parse(oci_index(manifests=desc("x")), mt.OCI_INDEX)


def test_media_type_mismatch_with_content_type() -> None:
    with pytest.raises(ManifestInvalid, match="does not match"):
        parse(oci_manifest(), mt.DOCKER_MANIFEST)
    with pytest.raises(ManifestInvalid, match="does not match"):
        parse(oci_index(), mt.OCI_MANIFEST)
    with pytest.raises(ManifestInvalid, match="does not match"):
        parse(oci_manifest(), mt.OCI_INDEX)


def test_media_type_not_a_string() -> None:
    with pytest.raises(ManifestInvalid):
        parse(oci_manifest(mediaType=["x"]), mt.OCI_MANIFEST)


def test_unsupported_media_type() -> None:
    with pytest.raises(ManifestInvalid, match="unsupported"):
        parse(oci_manifest(mediaType="application/vnd.example.thing+json"), None)
    with pytest.raises(ManifestInvalid, match="unsupported"):
        parse({"schemaVersion": 2}, "application/json")


@pytest.mark.parametrize("schema1", [mt.DOCKER_SCHEMA1, mt.DOCKER_SCHEMA1_SIGNED])
def test_schema1_rejected(schema1: str) -> None:
    real_schema1 = {
        "schemaVersion": 1,
        "name": "library/x",
        "tag": "latest",
        "architecture": "amd64",
        "fsLayers": [{"blobSum": d("l")}],
        "history": [{"v1Compatibility": "{}"}],
    }
    with pytest.raises(ManifestInvalid):
        parse(real_schema1, schema1)
    # even dressed up as schemaVersion 2, by Content-Type or by body
    with pytest.raises(ManifestInvalid, match="schema1"):
        parse(oci_manifest(mediaType=None), schema1)
    with pytest.raises(ManifestInvalid, match="schema1"):
        parse(oci_manifest(mediaType=schema1), None)


def test_docker_schema2_without_layers() -> None:
    body = {
        "schemaVersion": 2,
        "mediaType": mt.DOCKER_MANIFEST,
        "config": desc("config", "application/vnd.docker.container.image.v1+json"),
        "layers": [],
    }
    with pytest.raises(ManifestInvalid, match="no layers"):
        parse(body, mt.DOCKER_MANIFEST)


def test_missing_config() -> None:
    body = oci_manifest()
    del body["config"]
    with pytest.raises(ManifestInvalid, match="config"):
        parse(body, mt.OCI_MANIFEST)


@pytest.mark.parametrize("annotations", [["a"], {"a": 1}, {"a": None}, "a=b"])
def test_bad_annotations(annotations: Any) -> None:
    with pytest.raises(ManifestInvalid, match="annotations"):
        parse(oci_manifest(annotations=annotations))


@pytest.mark.parametrize("artifact_type", ["not a type", 1, "", "a/b/c"])
def test_bad_artifact_type(artifact_type: Any) -> None:
    with pytest.raises(ManifestInvalid, match="artifactType"):
        parse(oci_manifest(artifactType=artifact_type))
