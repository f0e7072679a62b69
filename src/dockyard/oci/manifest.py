"""Parse and validate image manifests and indexes (image-spec v1.1, Docker schema2).

A manifest is read by the registry here and by many other parsers later (Go's
encoding/json in containerd, docker, skopeo and distribution; Rust's serde; JS).
Whatever they could read differently is refused: JSON beyond RFC 8259 (see
jsontext), duplicate names, and names that differ from a spec field only in case,
which Go matches to the field where Python does not. Unknown fields are otherwise
allowed, as image-spec requires.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from dockyard.errors import ManifestInvalid
from dockyard.oci import jsontext
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import parse_digest

_MEDIA_TYPE_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$&-^_.+/"
)
MAX_SIZE = 2**63 - 1
"""descriptor sizes are int64"""


def _fields(*names: str) -> dict[str, str]:
    return {name.casefold(): name for name in names}


# the fields of image-spec's and Docker's Go structs, by their case-folded names
_TOP_FIELDS = _fields(
    "schemaVersion",
    "mediaType",
    "artifactType",
    "config",
    "layers",
    "manifests",
    "subject",
    "annotations",
)
_DESCRIPTOR_FIELDS = _fields(
    "mediaType", "digest", "size", "urls", "annotations", "data", "artifactType", "platform"
)
_PLATFORM_FIELDS = _fields("architecture", "os", "os.version", "os.features", "variant", "features")


@dataclass(frozen=True, slots=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    urls: tuple[str, ...] = ()
    platform: dict[str, Any] | None = None

    @property
    def is_foreign(self) -> bool:
        return bool(self.urls) or self.media_type in mt.FOREIGN_LAYERS


@dataclass(frozen=True, slots=True)
class ParsedManifest:
    media_type: str
    blobs: tuple[Descriptor, ...] = ()
    """config and layers: blobs that must exist in the repository"""
    children: tuple[Descriptor, ...] = ()
    """manifests an index points at: must exist in the repository"""
    subject: Descriptor | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def is_index(self) -> bool:
        return self.media_type in mt.INDEXES


def _media_type_ok(value: object) -> bool:
    if not isinstance(value, str) or not 3 <= len(value) <= 255 or value.count("/") != 1:
        return False
    return all(c in _MEDIA_TYPE_CHARS for c in value)


def _check_names(names: Iterable[str], known: dict[str, str], where: str) -> None:
    for name in names:
        canonical = known.get(name.casefold())
        if canonical is not None and canonical != name:
            raise ManifestInvalid(
                f"{where}: field {name[:100]!r} differs from {canonical!r} only in case; "
                f"Go clients would read it as {canonical!r}"
            )


def _strings(raw: object) -> bool:
    return isinstance(raw, list) and all(isinstance(v, str) for v in raw)


def _platform(raw: object, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ManifestInvalid(f"{where}: platform must be an object")
    _check_names(raw, _PLATFORM_FIELDS, f"{where}.platform")
    for name in ("architecture", "os"):
        if not isinstance(raw.get(name), str) or not raw[name]:
            raise ManifestInvalid(f"{where}: platform.{name} must be a non-empty string")
    for name in ("os.version", "variant"):
        if raw.get(name) is not None and not isinstance(raw[name], str):
            raise ManifestInvalid(f"{where}: platform.{name} must be a string")
    for name in ("os.features", "features"):
        if raw.get(name) is not None and not _strings(raw[name]):
            raise ManifestInvalid(f"{where}: platform.{name} must be a list of strings")
    return raw


def _descriptor(raw: object, where: str) -> Descriptor:
    if not isinstance(raw, dict):
        raise ManifestInvalid(f"{where}: descriptor must be an object")
    _check_names(raw, _DESCRIPTOR_FIELDS, where)
    media_type = raw.get("mediaType")
    if not _media_type_ok(media_type):
        raise ManifestInvalid(f"{where}: invalid or missing mediaType")
    digest = raw.get("digest")
    if not isinstance(digest, str):
        raise ManifestInvalid(f"{where}: missing digest")
    try:
        parse_digest(digest)
    except Exception as exc:
        raise ManifestInvalid(f"{where}: {exc}") from None
    size = raw.get("size")
    if type(size) is not int or not 0 <= size <= MAX_SIZE:
        raise ManifestInvalid(
            f"{where}: size must be an integer from 0 to 2^63-1, not {str(size)[:40]}"
        )
    # optional fields: null is absent, as Go reads it
    urls = raw.get("urls")
    if urls is None:
        urls = []
    elif not _strings(urls):
        raise ManifestInvalid(f"{where}: urls must be a list of strings")
    _string_map(raw.get("annotations"), f"{where}.annotations")
    artifact_type = raw.get("artifactType")
    if artifact_type is not None and not _media_type_ok(artifact_type):
        raise ManifestInvalid(f"{where}: artifactType must be a media type")
    if raw.get("data") is not None and not isinstance(raw["data"], str):
        raise ManifestInvalid(f"{where}: data must be a base64 string")
    platform = raw.get("platform")
    if platform is not None:
        platform = _platform(platform, where)
    return Descriptor(str(media_type), digest, size, tuple(urls), platform)


def _descriptor_list(raw: object, where: str) -> tuple[Descriptor, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ManifestInvalid(f"{where} must be a list")
    return tuple(_descriptor(item, f"{where}[{i}]") for i, item in enumerate(raw))


def _string_map(raw: object, where: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
    ):
        raise ManifestInvalid(f"{where} must map strings to strings")
    return raw


def detect_media_type(content_type: str | None, body: dict[str, Any]) -> str:
    """Decide the manifest's media type from the request's Content-Type and the body.

    A `mediaType` field in the body must agree with the Content-Type; with no
    usable Content-Type, the body's field or its shape decides.
    """
    declared = (content_type or "").split(";", 1)[0].strip().lower()
    in_body = body.get("mediaType")
    if in_body is not None and not isinstance(in_body, str):
        raise ManifestInvalid("mediaType must be a string")
    if declared in mt.MANIFEST_TYPES:
        if in_body is not None and in_body != declared:
            raise ManifestInvalid(
                f"mediaType {in_body[:100]!r} does not match Content-Type {declared!r}"
            )
        if in_body is None and declared in mt.DOCKER_TYPES:
            # Docker's format requires it, and Docker clients refuse a manifest without it
            raise ManifestInvalid(f"a {declared} manifest must have its mediaType field")
        return declared
    if declared in (mt.DOCKER_SCHEMA1, mt.DOCKER_SCHEMA1_SIGNED) or in_body in (
        mt.DOCKER_SCHEMA1,
        mt.DOCKER_SCHEMA1_SIGNED,
    ):
        raise ManifestInvalid("Docker schema1 manifests are not supported; push schema2 or OCI")
    if isinstance(in_body, str):
        if in_body in mt.MANIFEST_TYPES:
            return in_body
        raise ManifestInvalid(f"unsupported manifest mediaType {in_body[:100]!r}")
    if "manifests" in body:
        return mt.OCI_INDEX
    if "config" in body:
        return mt.OCI_MANIFEST
    raise ManifestInvalid(f"unsupported manifest Content-Type {declared[:100]!r}")


def parse_manifest(data: bytes, content_type: str | None) -> ParsedManifest:
    """Parse manifest bytes; raise ManifestInvalid with a precise message on any defect."""
    try:
        body = jsontext.loads(data, what="manifest")
    except jsontext.JSONTextError as exc:
        raise ManifestInvalid(str(exc)) from None
    if not isinstance(body, dict):
        raise ManifestInvalid("manifest must be a JSON object")
    _check_names(body, _TOP_FIELDS, "manifest")
    version = body.get("schemaVersion")
    if type(version) is not int or version != 2:
        found = "missing" if version is None else f"{str(version)[:20]} ({type(version).__name__})"
        raise ManifestInvalid(f"schemaVersion must be the integer 2, not {found}")
    media_type = detect_media_type(content_type, body)
    subject_raw = body.get("subject")
    subject = _descriptor(subject_raw, "subject") if subject_raw is not None else None
    annotations = _string_map(body.get("annotations"), "annotations")
    artifact_type = body.get("artifactType")
    if artifact_type is not None and not _media_type_ok(artifact_type):
        raise ManifestInvalid("artifactType must be a media type")

    if media_type in mt.INDEXES:
        for name in ("config", "layers"):
            if body.get(name) is not None:  # read as an image by some, as an index by others
                raise ManifestInvalid(f"an index must not have {name!r}, which images have")
        if "manifests" not in body:
            raise ManifestInvalid("index has no manifests list")
        children = _descriptor_list(body.get("manifests"), "manifests")
        return ParsedManifest(media_type, (), children, subject, artifact_type, annotations)

    if body.get("manifests") is not None:
        raise ManifestInvalid(f"a {media_type} must not have 'manifests', which indexes have")
    config = _descriptor(body.get("config"), "config")
    layers = _descriptor_list(body.get("layers"), "layers")
    if media_type == mt.DOCKER_MANIFEST and not layers:
        raise ManifestInvalid("Docker schema2 manifest has no layers")
    if artifact_type is None:
        # distribution-spec: referrers report config.mediaType when artifactType is absent
        artifact_type = config.media_type
    blobs = (config, *(layer for layer in layers if not layer.is_foreign))
    return ParsedManifest(media_type, blobs, (), subject, artifact_type, annotations)
