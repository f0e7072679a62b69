"""Parse and validate image manifests and indexes (image-spec v1.1, Docker schema2)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from dockyard.errors import ManifestInvalid
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import parse_digest

_MEDIA_TYPE_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$&-^_.+/"
)


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


def _descriptor(raw: object, where: str) -> Descriptor:
    if not isinstance(raw, dict):
        raise ManifestInvalid(f"{where}: descriptor must be an object")
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
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ManifestInvalid(f"{where}: size must be a non-negative integer")
    urls = raw.get("urls") or ()
    if not isinstance(urls, list | tuple) or not all(isinstance(u, str) for u in urls):
        raise ManifestInvalid(f"{where}: urls must be a list of strings")
    platform = raw.get("platform")
    if platform is not None and not isinstance(platform, dict):
        raise ManifestInvalid(f"{where}: platform must be an object")
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
            raise ManifestInvalid(f"mediaType {in_body!r} does not match Content-Type {declared!r}")
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
        body = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ManifestInvalid(f"manifest is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ManifestInvalid("manifest must be a JSON object")
    if body.get("schemaVersion") != 2:
        raise ManifestInvalid("schemaVersion must be 2")
    media_type = detect_media_type(content_type, body)
    subject_raw = body.get("subject")
    subject = _descriptor(subject_raw, "subject") if subject_raw is not None else None
    annotations = _string_map(body.get("annotations"), "annotations")
    artifact_type = body.get("artifactType")
    if artifact_type is not None and not _media_type_ok(artifact_type):
        raise ManifestInvalid("artifactType must be a media type")

    if media_type in mt.INDEXES:
        if "manifests" not in body:
            raise ManifestInvalid("index has no manifests list")
        children = _descriptor_list(body.get("manifests"), "manifests")
        return ParsedManifest(media_type, (), children, subject, artifact_type, annotations)

    config = _descriptor(body.get("config"), "config")
    layers = _descriptor_list(body.get("layers"), "layers")
    if media_type == mt.DOCKER_MANIFEST and not layers:
        raise ManifestInvalid("Docker schema2 manifest has no layers")
    if artifact_type is None:
        # distribution-spec: referrers report config.mediaType when artifactType is absent
        artifact_type = config.media_type
    blobs = (config, *(layer for layer in layers if not layer.is_foreign))
    return ParsedManifest(media_type, blobs, (), subject, artifact_type, annotations)
