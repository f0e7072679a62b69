"""Platforms for the artifact listing: any stored config gives a platform or none,
never an error; one that is not JSON is logged once, at warning."""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest

from dockyard.http.api.models import Platform
from dockyard.http.api.platforms import all_platforms
from dockyard.metadata.identity import ArtifactSummary
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import digest_of
from dockyard.storage import layout
from dockyard.storage.memory import MemoryDriver

CONFIG = "application/vnd.oci.image.config.v1+json"


async def _image(storage: MemoryDriver, config: bytes) -> ArtifactSummary:
    digest = digest_of(config)
    await storage.put_content(layout.blob_path(digest), config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": CONFIG, "digest": digest, "size": len(config)},
        "layers": [],
    }
    content = json.dumps(manifest).encode()
    return ArtifactSummary(
        digest_of(content),
        mt.OCI_MANIFEST,
        None,
        len(content),
        (),
        dt.datetime.now(dt.UTC),
        content,
    )


async def test_unreadable_configs_give_no_platform(caplog: pytest.LogCaptureFixture) -> None:
    storage = MemoryDriver()
    deep = b'{"os": "linux", "architecture": "amd64", "x": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    artifacts = [
        await _image(storage, deep),
        await _image(storage, b'{"os": "\\ud800", "architecture": "amd64"}'),
        await _image(storage, b'{"os": "linux", "architecture": "arm64"}'),
        await _image(storage, b'{"os": "linux\\u0007", "architecture": "arm64", "variant": 8}'),
    ]
    with caplog.at_level(logging.INFO, logger="dockyard.http.api.platforms"):
        found = await all_platforms(storage, artifacts)
    assert found == [
        [],
        [],
        [Platform(os="linux", architecture="arm64", variant=None)],
        [Platform(os=None, architecture="arm64", variant=None)],
    ]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in caplog.records] == [r.getMessage() for r in warnings]
    assert len(warnings) == 2
    (deep_log,) = [r.getMessage() for r in warnings if "more than 64 deep" in r.getMessage()]
    assert digest_of(deep) in deep_log
    assert any("surrogate" in r.getMessage() for r in warnings)


async def test_stored_manifest_that_is_not_json_gives_no_platform() -> None:
    content = b'{"schemaVersion": 2, "manifests": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    artifact = ArtifactSummary(
        digest_of(content), mt.OCI_INDEX, None, len(content), (), dt.datetime.now(dt.UTC), content
    )
    assert await all_platforms(MemoryDriver(), [artifact]) == [[]]
