"""Which platforms an artifact is for: an index names them (`manifests[].platform`);
an image manifest's config blob (a small JSON document) carries os/architecture/variant.

Best effort: a config is whatever bytes were uploaded, so one that is missing, too
large, not JSON (deep nesting included) or not an image config gives no platform
rather than an error, since the listing is what was asked for. The names shown are
short printable text, or nothing: a lone surrogate or a control character would
otherwise fail the response for every viewer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from dockyard.http.api.models import Platform
from dockyard.metadata.identity import ArtifactSummary
from dockyard.oci import jsontext
from dockyard.oci import mediatypes as mt
from dockyard.storage import layout
from dockyard.storage.base import StorageDriver

log = logging.getLogger(__name__)

MAX_CONFIG_BYTES = 1 << 20
IMAGE_CONFIGS = frozenset(
    {"application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"}
)
_PARALLEL = 8


MAX_NAME = 128


def _name(value: object) -> str | None:
    if isinstance(value, str) and 0 < len(value) <= MAX_NAME and value.isprintable():
        return value
    return None


def platform_from(raw: Any) -> Platform | None:
    if not isinstance(raw, dict):
        return None
    fields = {k: _name(raw.get(k)) for k in ("os", "architecture", "variant")}
    if not any(fields.values()):
        return None
    return Platform(**fields)


async def config_platform(storage: StorageDriver, manifest: Any) -> list[Platform]:
    config = manifest.get("config") if isinstance(manifest, dict) else None
    if not isinstance(config, dict) or config.get("mediaType") not in IMAGE_CONFIGS:
        return []
    digest, size = config.get("digest"), config.get("size")
    if not isinstance(digest, str) or not isinstance(size, int) or not 0 < size <= MAX_CONFIG_BYTES:
        return []
    try:
        chunks = [c async for c in storage.reader(layout.blob_path(digest), 0, size)]
    except Exception as exc:  # a broken or missing blob costs the platform, not the listing
        log.info("could not read config %s: %s", digest[:80], exc)
        return []
    try:
        doc = jsontext.loads(b"".join(chunks), what=f"config {digest[:80]}")
    except jsontext.JSONTextError as exc:
        log.warning("the artifact listing shows no platform: %s", exc)
        return []
    found = platform_from(doc)
    return [found] if found else []


async def platforms_of(storage: StorageDriver, artifact: ArtifactSummary) -> list[Platform]:
    try:  # validated when pushed, but stored before that validation existed, maybe
        doc = jsontext.loads(artifact.content)
    except jsontext.JSONTextError:
        return []
    if artifact.media_type in mt.INDEXES:
        entries = doc.get("manifests") if isinstance(doc, dict) else None
        found = [platform_from(e.get("platform")) for e in entries or [] if isinstance(e, dict)]
        return [p for p in found if p is not None]
    if artifact.media_type in mt.IMAGE_MANIFESTS:
        return await config_platform(storage, doc)
    return []


async def all_platforms(
    storage: StorageDriver, artifacts: Sequence[ArtifactSummary]
) -> list[list[Platform]]:
    slots = asyncio.Semaphore(_PARALLEL)

    async def one(a: ArtifactSummary) -> list[Platform]:
        async with slots:
            return await platforms_of(storage, a)

    return list(await asyncio.gather(*(one(a) for a in artifacts)))
