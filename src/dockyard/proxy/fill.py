"""Committing what a pull fetched: the manifest's blobs (shared with the clients'
downloads), an index's children, the image's referrers and cosign's
`sha256-<hex>.sig/.att/.sbom` tags, then the manifest and its tag, through
ManifestService.put (the manifest's validation and tag policies; no push
authorization, since the cache writes, not a client)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from dockyard.metadata.records import ManifestRecord
from dockyard.oci.digest import is_digest
from dockyard.oci.manifest import parse_manifest
from dockyard.remote import Remote, RemoteError

if TYPE_CHECKING:
    from dockyard.proxy.source import ProxySource
    from dockyard.proxy.store import ProxyConfig

log = logging.getLogger(__name__)

COSIGN_SUFFIXES = (".sig", ".att", ".sbom")
MAX_DEPTH = 3


async def _commit(
    source: ProxySource,
    config: ProxyConfig,
    remote: Remote,
    repository: str,
    reference: str,
    record: ManifestRecord,
    depth: int,
) -> None:
    services = source._services
    upstream = config.upstream_name(repository)
    parsed = parse_manifest(record.content, record.media_type)
    for blob in parsed.blobs:
        if await services.store.get_blob(repository, blob.digest) is None:
            await source.fetcher.ensure(repository, blob.digest, remote, upstream, config.project)
    for child in parsed.children:
        if await services.store.get_manifest(repository, child.digest) is not None:
            continue
        fetched = await remote.get_manifest(upstream, child.digest)
        child_record = source._record(fetched, child.digest)
        await _commit(source, config, remote, repository, child.digest, child_record, depth)
    await services.manifests.put(repository, reference, record.media_type, record.content, None)


async def fill(
    source: ProxySource,
    config: ProxyConfig,
    remote: Remote,
    repository: str,
    reference: str,
    record: ManifestRecord,
    depth: int = 0,
) -> None:
    await _commit(source, config, remote, repository, reference, record, depth)
    if depth >= MAX_DEPTH or (is_digest(reference) and depth > 0):
        return
    await _referrers(source, config, remote, repository, record, depth)


async def _referrers(
    source: ProxySource,
    config: ProxyConfig,
    remote: Remote,
    repository: str,
    record: ManifestRecord,
    depth: int,
) -> None:
    services = source._services
    upstream = config.upstream_name(repository)
    try:
        found = await remote.referrers(upstream, record.digest)
    except RemoteError as exc:
        log.info("no referrers of %s from the upstream: %s", record.digest, exc)
        found = []
    for referrer in found:
        if await services.store.get_manifest(repository, referrer.digest) is not None:
            continue
        try:
            fetched = await remote.get_manifest(upstream, referrer.digest)
            child = source._record(fetched, referrer.digest)
            await fill(source, config, remote, repository, referrer.digest, child, depth + 1)
        except Exception as exc:  # one bad referrer does not stop the image
            log.warning("referrer %s of %s not cached: %s", referrer.digest, record.digest, exc)
    algorithm, _, hex_digest = record.digest.partition(":")
    for suffix in COSIGN_SUFFIXES:
        tag = f"{algorithm}-{hex_digest}{suffix}"
        try:
            head = await remote.head_manifest(upstream, tag)
            if head is None:
                continue
            fetched = await remote.get_manifest(upstream, tag)
            child = source._record(fetched, tag)
            await fill(source, config, remote, repository, tag, child, depth + 1)
        except Exception as exc:
            log.warning("cosign tag %s of %s not cached: %s", tag, record.digest, exc)
