"""Bounded parsing shared by the verifiers: JSON with size limits, OCI descriptors and
manifests read defensively, blobs fetched through `read_blob` and checked against their
descriptor digest, strict base64. Every failure is a `Rejected` carrying its Reason."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from dockyard.supplychain.signatures import ReadBlob, Reason

MAX_MANIFEST_BYTES = 1 << 20
"""a signature manifest larger than this is not read"""
MAX_BLOB_BYTES = 1 << 20
"""payloads, bundles and envelopes are small; larger ones are refused"""
MAX_LAYERS = 16
"""signature layers read per candidate (cosign's tag form has one per signature)"""
MAX_CANDIDATES = 64
MAX_CHAIN = 8
"""certificates per chain"""

_DIGEST = re.compile(r"^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$")


class Rejected(Exception):
    """A signature that does not verify, with the reason the result records."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def malformed(detail: str) -> Rejected:
    return Rejected(Reason.MALFORMED, detail)


def parse_json(data: bytes, limit: int = MAX_BLOB_BYTES, what: str = "document") -> Any:
    """JSON from untrusted bytes: size-bounded; deep nesting, huge numbers and bad UTF-8
    become MALFORMED."""
    if len(data) > limit:
        raise malformed(f"{what} larger than {limit} bytes")
    try:
        return json.loads(data)
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise malformed(f"{what} is not valid JSON: {str(exc)[:120]}") from None


def parse_object(
    data: bytes, limit: int = MAX_BLOB_BYTES, what: str = "document"
) -> dict[str, Any]:
    value = parse_json(data, limit, what)
    if not isinstance(value, dict):
        raise malformed(f"{what} is not a JSON object")
    return value


def get_str(obj: dict[str, Any], key: str, what: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise malformed(f"{what}: {key} missing or not a string")
    return value


def get_obj(obj: dict[str, Any], key: str, what: str) -> dict[str, Any]:
    value = obj.get(key)
    if not isinstance(value, dict):
        raise malformed(f"{what}: {key} missing or not an object")
    return value


def valid_digest(value: object) -> bool:
    return isinstance(value, str) and _DIGEST.match(value) is not None


def b64decode(value: object, what: str, *, urlsafe: bool = False) -> bytes:
    """Strict base64 (standard with padding, or base64url without, as JWS uses)."""
    if not isinstance(value, str):
        raise malformed(f"{what} is not a string")
    try:
        if urlsafe:
            if "=" in value:
                raise ValueError("padding in base64url")
            padded = value + "=" * (-len(value) % 4)
            return base64.b64decode(padded, altchars=b"-_", validate=True)
        return base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        raise malformed(f"{what} is not valid base64") from None


@dataclass(frozen=True, slots=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    annotations: dict[str, str]


def parse_descriptor(value: object, what: str) -> Descriptor:
    if not isinstance(value, dict):
        raise malformed(f"{what} is not a descriptor")
    media_type = value.get("mediaType")
    digest = value.get("digest")
    size = value.get("size")
    if not isinstance(media_type, str):
        raise malformed(f"{what}: mediaType missing")
    if not valid_digest(digest):
        raise malformed(f"{what}: digest missing or not a sha256/sha512 digest")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0 or size > 1 << 62:
        raise malformed(f"{what}: size missing or out of range")
    raw = value.get("annotations")
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise malformed(f"{what}: annotations is not an object")
    annotations = {k: v for k, v in raw.items() if isinstance(k, str) and isinstance(v, str)}
    assert isinstance(digest, str)
    return Descriptor(media_type, digest, size, annotations)


@dataclass(frozen=True, slots=True)
class Manifest:
    """The parts of an OCI image manifest a signature verifier reads."""

    media_type: str
    artifact_type: str
    config_media_type: str
    layers: list[Any]
    """raw layer descriptors (parsed one at a time, so one bad layer spoils only itself)"""
    subject: Descriptor | None
    annotations: dict[str, str]


def parse_manifest(content: bytes) -> Manifest:
    doc = parse_object(content, MAX_MANIFEST_BYTES, "manifest")
    layers = doc.get("layers")
    if layers is None:
        layers = doc.get("blobs")  # the ORAS artifact manifest early notation wrote
    if not isinstance(layers, list):
        raise malformed("manifest has no layers list")
    config = doc.get("config")
    config_media_type = ""
    if isinstance(config, dict) and isinstance(config.get("mediaType"), str):
        config_media_type = config["mediaType"]
    subject = None
    if doc.get("subject") is not None:
        subject = parse_descriptor(doc.get("subject"), "manifest subject")
    raw = doc.get("annotations") or {}
    annotations = (
        {k: v for k, v in raw.items() if isinstance(v, str)} if isinstance(raw, dict) else {}
    )
    media_type = doc.get("mediaType")
    artifact_type = doc.get("artifactType")
    return Manifest(
        media_type if isinstance(media_type, str) else "",
        artifact_type if isinstance(artifact_type, str) else "",
        config_media_type,
        layers,
        subject,
        annotations,
    )


def check_digest(data: bytes, digest: str) -> bool:
    algorithm, _, hexpart = digest.partition(":")
    if algorithm == "sha256":
        return hashlib.sha256(data).hexdigest() == hexpart
    if algorithm == "sha512":
        return hashlib.sha512(data).hexdigest() == hexpart
    return False


async def fetch_blob(read_blob: ReadBlob, descriptor: Descriptor, what: str) -> bytes:
    """The blob's bytes, refused when larger than MAX_BLOB_BYTES, of another size than
    the descriptor says, or not hashing to its digest (INVALID_SIGNATURE: altered content)."""
    if descriptor.size > MAX_BLOB_BYTES:
        raise malformed(f"{what} larger than {MAX_BLOB_BYTES} bytes")
    try:
        data = await read_blob(descriptor.digest, MAX_BLOB_BYTES)
    except Exception as exc:  # storage refuses (missing, too large): the signature is unusable
        raise malformed(f"{what} {descriptor.digest} unreadable: {type(exc).__name__}") from None
    if len(data) > MAX_BLOB_BYTES:
        raise malformed(f"{what} larger than {MAX_BLOB_BYTES} bytes")
    if len(data) != descriptor.size or not check_digest(data, descriptor.digest):
        raise Rejected(Reason.INVALID_SIGNATURE, f"{what} does not match its digest")
    return data
