"""Storing a generated SBOM in the registry as an OCI 1.1 referrer of its image: the
document as a blob, an empty config, and a manifest whose `subject` is the image, so
`oras discover`, cosign and any client following the referrers API find it, and it is
copied with the image."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

from dockyard.metadata.records import ManifestRecord
from dockyard.oci import mediatypes as mt
from dockyard.registry.uploads import Chunk

EMPTY = b"{}"
EMPTY_DIGEST = "sha256:" + hashlib.sha256(EMPTY).hexdigest()
GENERATOR = "dev.dockyard.sbom.generator"
ACTOR = "job:supplychain.sbom"


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _put_blob(services: Any, repository: str, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    await services.uploads.monolithic(repository, digest, _once(data), Chunk(length=len(data)))
    return digest


def manifest_of(subject: ManifestRecord, document: bytes, media_type: str, title: str) -> bytes:
    digest = "sha256:" + hashlib.sha256(document).hexdigest()
    doc = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "artifactType": media_type,
        "config": {"mediaType": mt.OCI_EMPTY, "digest": EMPTY_DIGEST, "size": len(EMPTY)},
        "layers": [
            {
                "mediaType": media_type,
                "digest": digest,
                "size": len(document),
                "annotations": {"org.opencontainers.image.title": title},
            }
        ],
        "subject": {
            "mediaType": subject.media_type,
            "digest": subject.digest,
            "size": subject.size,
        },
        "annotations": {
            "org.opencontainers.image.created": dt.datetime.now(dt.UTC).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            GENERATOR: "dockyard",
        },
    }
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


async def push_sbom(
    services: Any, repository: str, subject: ManifestRecord, document: bytes, media_type: str
) -> str:
    """Store the document as a referrer of `subject`; return the referrer's digest."""
    await _put_blob(services, repository, EMPTY)
    await _put_blob(services, repository, document)
    content = manifest_of(subject, document, media_type, "sbom.cdx.json")
    digest = "sha256:" + hashlib.sha256(content).hexdigest()
    await services.manifests.put(repository, digest, mt.OCI_MANIFEST, content, actor=ACTOR)
    return digest


def generated_by_us(record: ManifestRecord) -> bool:
    try:
        doc = json.loads(record.content)
    except ValueError:
        return False
    annotations = doc.get("annotations") if isinstance(doc, dict) else None
    return isinstance(annotations, dict) and annotations.get(GENERATOR) == "dockyard"
