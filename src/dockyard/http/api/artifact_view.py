"""One artifact as the management API shows it: what its stored manifest says (the
config and layer descriptors, an index's children and their platforms) beside what
the catalog knows (tags, pulls, the referrer tree).

Best effort, as the listing's platforms are (platforms.py): a manifest was validated
when pushed, but a descriptor that is not one (stored before that validation
existed, say) is left out rather than failing the answer for every viewer.
"""

from __future__ import annotations

import json
from typing import Any

from dockyard.accounts.repositories import ArtifactDetail, ReferrerNode
from dockyard.errors import DigestInvalid
from dockyard.http.api.models import ArtifactDetailOut, DescriptorOut, PlatformOut, ReferrerOut
from dockyard.http.api.platforms import config_platform, platform_from
from dockyard.oci import jsontext
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import parse_digest
from dockyard.storage.base import StorageDriver

MAX_TEXT = 255
MAX_ANNOTATION = 64 * 1024


def _sendable(value: object, limit: int) -> bool:
    """A string the response can carry: bounded, and UTF-8 (no lone surrogate)."""
    if not isinstance(value, str) or len(value) > limit:
        return False
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def text_map(raw: object) -> dict[str, str]:
    """A string-to-string map (annotations), leaving out what is not one."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return {}
    if not isinstance(raw, dict):
        return {}
    return {k: v for k, v in raw.items() if _sendable(k, MAX_TEXT) and _sendable(v, MAX_ANNOTATION)}


def _descriptor_fields(raw: object) -> tuple[str, str, int] | None:
    if not isinstance(raw, dict):
        return None
    media_type, digest, size = raw.get("mediaType"), raw.get("digest"), raw.get("size")
    if not _sendable(media_type, MAX_TEXT) or not isinstance(digest, str):
        return None
    if type(size) is not int or size < 0:
        return None
    try:
        parse_digest(digest)
    except DigestInvalid:
        return None
    assert isinstance(media_type, str)
    return media_type, digest, size


def descriptor(raw: object) -> DescriptorOut | None:
    fields = _descriptor_fields(raw)
    if fields is None:
        return None
    assert isinstance(raw, dict)
    media_type, digest, size = fields
    return DescriptorOut(
        media_type=media_type,
        digest=digest,
        size=size,
        annotations=text_map(raw.get("annotations")),
    )


async def _platforms(storage: StorageDriver, detail: ArtifactDetail, doc: Any) -> list[PlatformOut]:
    a = detail.artifact
    if a.media_type in mt.INDEXES:
        entries = doc.get("manifests") if isinstance(doc, dict) else None
        out = []
        for entry in entries if isinstance(entries, list) else []:
            fields = _descriptor_fields(entry)
            if fields is None:
                continue
            media_type, digest, size = fields
            named = platform_from(entry.get("platform"))
            out.append(
                PlatformOut(
                    os=named.os if named else None,
                    architecture=named.architecture if named else None,
                    variant=named.variant if named else None,
                    digest=digest,
                    media_type=media_type,
                    size=size,
                )
            )
        return out
    if a.media_type in mt.IMAGE_MANIFESTS:
        return [
            PlatformOut(
                **p.model_dump(), digest=a.digest, media_type=a.media_type, size=len(a.content)
            )
            for p in await config_platform(storage, doc)
        ]
    return []


def _referrer(node: ReferrerNode) -> ReferrerOut:
    r = node.referrer
    return ReferrerOut(
        digest=r.digest,
        artifact_type=r.artifact_type,
        media_type=r.media_type,
        size=r.size,
        created_at=r.created_at,
        annotations=text_map(r.annotations),
        referrers=[_referrer(n) for n in node.referrers],
    )


async def artifact_out(storage: StorageDriver, detail: ArtifactDetail) -> ArtifactDetailOut:
    a = detail.artifact
    try:
        doc: Any = jsontext.loads(a.content)
    except jsontext.JSONTextError:
        doc = None
    top = doc if isinstance(doc, dict) else {}
    layers = top.get("layers") if a.media_type not in mt.INDEXES else None
    return ArtifactDetailOut(
        digest=a.digest,
        media_type=a.media_type,
        artifact_type=a.artifact_type,
        size=a.size,
        tags=list(a.tags),
        created_at=a.created_at,
        pull_count=a.pull_count,
        last_pulled_at=a.last_pulled_at,
        annotations=text_map(a.annotations),
        subject=a.subject_digest,
        platforms=await _platforms(storage, detail, doc),
        config=None if a.media_type in mt.INDEXES else descriptor(top.get("config")),
        layers=[d for d in map(descriptor, layers if isinstance(layers, list) else []) if d],
        referrers=[_referrer(n) for n in detail.referrers],
        referrers_truncated=detail.referrers_truncated,
    )
