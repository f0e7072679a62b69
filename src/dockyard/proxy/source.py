"""The proxy cache as a PullSource (registry/sources.py).

`covers` and `mirror_name` answer from memory: the caches' settings, reread every
`proxy.refresh_seconds` (and at once by the API of this process when they change).

Manifests: by digest, a local copy is served forever; by tag, within the cache's
tag TTL of the last check, else revalidated with a HEAD (Docker Hub does not count
HEADs) and fetched only when the digest moved. Fetched bytes are served at once and
committed to the store by a fill task once their blobs are there (ManifestService.put:
validation and tag policies, no push authorization). Upstream down / 5xx / 429 with a
local copy → the copy and a `Warning: 299`; without one → UNAVAILABLE 503 /
TOOMANYREQUESTS 429 / MANIFEST_UNKNOWN 404 naming the upstream. 404s are remembered
for the cache's negative TTL; a 429's Retry-After (or ratelimit-remaining: 0) stops
calls to that endpoint until then.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from dockyard.errors import DigestInvalid, ManifestTooLarge, ManifestUnknown, TooManyRequests
from dockyard.metadata.records import ManifestRecord
from dockyard.oci.digest import is_digest
from dockyard.oci.manifest import parse_manifest
from dockyard.proxy.errors import upstream_error
from dockyard.proxy.fetch import Fetcher
from dockyard.proxy.settings import ProxySettings
from dockyard.proxy.store import ProxyConfig, ProxyStore
from dockyard.registry.sources import SourcedBlob
from dockyard.remote import (
    Endpoints,
    Manifest,
    Remote,
    RemoteError,
    RemoteNotFound,
    RemoteRateLimited,
)

log = logging.getLogger(__name__)


def endpoints_of(services: Any) -> Endpoints:
    """The stored endpoints (capability "registries"); a test may put its own in
    Services.extensions["proxy.endpoints"]."""
    found = services.extensions.get("proxy.endpoints")
    if found is not None:
        return found  # type: ignore[no-any-return]
    from dockyard.remote.service import endpoints

    return endpoints(services)


class ProxySource:
    def __init__(self, services: Any, settings: ProxySettings) -> None:
        self._services = services
        self.settings = settings
        self.store = ProxyStore(services.store)
        self.fetcher = Fetcher(services, self.store, settings)
        self.fetcher.upstream_bytes = self._count_bytes
        self.configs: dict[str, ProxyConfig] = {}
        self._mirrors: dict[str, str] = {}
        self._next_refresh = 0.0
        self._refreshing: asyncio.Task[None] | None = None
        self._checked: dict[tuple[str, str], tuple[str, float]] = {}
        """(repository, tag) → (digest, monotonic time of the last upstream check)"""
        self._negative: dict[tuple[str, str], float] = {}
        self._paused: dict[str, float] = {}
        """endpoint → monotonic time before which it is not called (rate limit)"""
        self._pending: dict[tuple[str, str], ManifestRecord] = {}
        """fetched, served, not yet committed: (repository, digest) → record"""
        self._fetching: dict[tuple[str, str], asyncio.Future[Manifest]] = {}
        self._fills: dict[tuple[str, str], asyncio.Task[None]] = {}
        self.counts: Counter[tuple[str, str]] = Counter()
        """(project, hit | miss | stale | upstream_bytes) → count"""
        self.after_fill: Callable[[ProxyConfig], Awaitable[None]] | None = None

    # -- configuration --------------------------------------------------------

    def _maybe_refresh(self) -> None:
        now = time.monotonic()
        if now < self._next_refresh or (self._refreshing and not self._refreshing.done()):
            return
        self._next_refresh = now + self.settings.refresh_seconds
        try:
            self._refreshing = asyncio.get_running_loop().create_task(self.refresh())
        except RuntimeError:  # no loop (a CLI building services synchronously)
            self._refreshing = None

    async def refresh(self) -> None:
        try:
            configs = await self.store.list()
        except Exception:
            log.warning("could not read the proxy caches", exc_info=True)
            return
        self.configs = {c.project: c for c in configs}
        self._mirrors = {h: c.project for c in configs for h in c.mirror_hosts}
        self._next_refresh = time.monotonic() + self.settings.refresh_seconds

    def _config(self, repository: str) -> ProxyConfig | None:
        project, sep, _ = repository.partition("/")
        return self.configs.get(project) if sep else None

    def covers(self, repository: str) -> bool:
        self._maybe_refresh()
        return self._config(repository) is not None

    def mirror_name(self, host: str, name: str) -> str | None:
        self._maybe_refresh()
        project = self._mirrors.get(host)
        return None if project is None else f"{project}/{name}"

    # -- upstream ---------------------------------------------------------------

    async def _remote(self, config: ProxyConfig) -> Remote:
        endpoints = endpoints_of(self._services)
        return endpoints.remote(await endpoints.get(config.endpoint))

    def _upstream_label(self, config: ProxyConfig) -> str:
        return f"upstream {config.endpoint}"

    def _check_pause(self, config: ProxyConfig, what: str) -> None:
        until = self._paused.get(config.endpoint, 0.0)
        left = until - time.monotonic()
        if left > 0:
            raise TooManyRequests(
                f"{self._upstream_label(config)} is rate-limiting this cache; {what} is not cached",
                retry_after=left,
            )

    def _note_limits(self, config: ProxyConfig, remote: Remote, exc: Exception | None) -> None:
        pause = None
        if isinstance(exc, RemoteRateLimited):
            pause = exc.retry_after or self.settings.rate_limit_pause_seconds
        elif remote.rate_limit.remaining == 0:
            pause = remote.rate_limit.retry_after or self.settings.rate_limit_pause_seconds
        if pause:
            self._paused[config.endpoint] = time.monotonic() + pause

    def _count_bytes(self, project: str, n: int) -> None:
        self.counts[(project, "upstream_bytes")] += n

    # -- manifests --------------------------------------------------------------

    async def manifest(
        self, repository: str, reference: str, local: ManifestRecord | None
    ) -> tuple[ManifestRecord, str | None]:
        config = self._config(repository)
        if config is None:  # the settings changed since covers() answered
            if local is None:
                raise ManifestUnknown(f"manifest {reference} unknown in {repository}")
            return local, None
        project = config.project
        by_digest = is_digest(reference)
        now = time.monotonic()
        if local is not None and by_digest:
            self.counts[(project, "hit")] += 1
            return local, None
        if by_digest and (repository, reference) in self._pending:
            self.counts[(project, "hit")] += 1
            return self._pending[(repository, reference)], None
        key = (repository, reference)
        checked = self._checked.get(key)
        if checked is not None and now - checked[1] < config.tag_ttl_seconds:
            if local is not None and local.digest == checked[0]:
                self.counts[(project, "hit")] += 1
                return local, None
            pending = self._pending.get((repository, checked[0]))
            if pending is not None:
                self.counts[(project, "hit")] += 1
                return pending, None
        if self._negative.get(key, 0.0) > now:
            raise ManifestUnknown(
                f"manifest {reference} not found at {self._upstream_label(config)} (cached)"
            )
        what = f"manifest {reference} of {repository}"
        try:
            self._check_pause(config, what)
            remote = await self._remote(config)
            try:
                record = await self._revalidate(config, repository, reference, local, remote)
            except RemoteError as exc:
                self._note_limits(config, remote, exc)
                raise
            self._note_limits(config, remote, None)
        except (RemoteError, TooManyRequests) as exc:
            if isinstance(exc, RemoteNotFound):
                self._negative[key] = time.monotonic() + config.negative_ttl_seconds
                self._checked.pop(key, None)
            elif local is not None:
                self.counts[(project, "stale")] += 1
                return local, (
                    f"served from the cache: {self._upstream_label(config)} could not be "
                    f"reached to revalidate {reference} ({exc})"
                )
            if isinstance(exc, TooManyRequests):
                raise
            raise upstream_error(exc, what, self._upstream_label(config)) from None
        return record, None

    async def _revalidate(
        self,
        config: ProxyConfig,
        repository: str,
        reference: str,
        local: ManifestRecord | None,
        remote: Remote,
    ) -> ManifestRecord:
        upstream = config.upstream_name(repository)
        key = (repository, reference)
        if local is not None:
            head = await remote.head_manifest(upstream, reference)
            if head is None:
                raise RemoteNotFound(f"{reference} is gone upstream", 404, "MANIFEST_UNKNOWN")
            if head.digest == local.digest:
                self._checked[key] = (local.digest, time.monotonic())
                self.counts[(config.project, "hit")] += 1
                return local
        self.counts[(config.project, "miss")] += 1
        fetched = await self._get_once(remote, upstream, reference)
        record = self._record(fetched, reference)
        if not is_digest(reference):
            self._checked[key] = (record.digest, time.monotonic())
        self._pending[(repository, record.digest)] = record
        self._start_fill(config, repository, reference, record, remote)
        return record

    async def _get_once(self, remote: Remote, upstream: str, reference: str) -> Manifest:
        """One upstream GET per manifest at a time in this process."""
        key = (upstream, reference)
        running = self._fetching.get(key)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[Manifest] = asyncio.get_running_loop().create_future()
        self._fetching[key] = future
        try:
            fetched = await remote.get_manifest(upstream, reference)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning without waiters
            raise
        else:
            future.set_result(fetched)
            return fetched
        finally:
            self._fetching.pop(key, None)

    def _record(self, fetched: Manifest, reference: str) -> ManifestRecord:
        limit = self._services.manifests.max_bytes
        if len(fetched.content) > limit:
            raise ManifestTooLarge(f"the upstream's manifest is larger than {limit} bytes")
        digest = f"sha256:{hashlib.sha256(fetched.content).hexdigest()}"
        if is_digest(reference) and reference != digest:
            raise DigestInvalid(f"the upstream sent {digest} for {reference}")
        if fetched.digest and fetched.digest.startswith("sha256:") and fetched.digest != digest:
            raise DigestInvalid(f"the upstream claimed {fetched.digest} for bytes hashing {digest}")
        parsed = parse_manifest(fetched.content, fetched.media_type)
        return ManifestRecord(
            digest,
            parsed.media_type,
            len(fetched.content),
            fetched.content,
            parsed.artifact_type,
            parsed.subject.digest if parsed.subject else None,
            json.dumps(parsed.annotations, sort_keys=True) if parsed.annotations else None,
        )

    def _start_fill(
        self,
        config: ProxyConfig,
        repository: str,
        reference: str,
        record: ManifestRecord,
        remote: Remote,
    ) -> None:
        key = (repository, record.digest)
        if key in self._fills and not self._fills[key].done():
            return
        from dockyard.proxy.fill import fill

        async def run() -> None:
            try:
                await fill(self, config, remote, repository, reference, record)
            except Exception:
                log.warning("proxy fill of %s@%s failed", repository, record.digest, exc_info=True)
            finally:
                self._pending.pop(key, None)
                self._fills.pop(key, None)
            if self.after_fill is not None:
                try:
                    await self.after_fill(config)
                except Exception:
                    log.warning("eviction after a fill failed", exc_info=True)

        self._fills[key] = asyncio.get_running_loop().create_task(run())

    async def settle(self) -> None:
        """Wait for the fills running now (tests, shutdown)."""
        while self._fills:
            await asyncio.gather(*list(self._fills.values()), return_exceptions=True)

    # -- blobs and tags -----------------------------------------------------------

    async def blob(self, repository: str, digest: str) -> SourcedBlob:
        config = self._config(repository)
        if config is None:
            from dockyard.errors import BlobUnknown

            raise BlobUnknown(f"blob {digest} unknown in {repository}")
        what = f"blob {digest}"
        self._check_pause(config, what)
        remote = await self._remote(config)
        try:
            return await self.fetcher.blob(
                repository, digest, remote, config.upstream_name(repository), config.project
            )
        except RemoteError as exc:
            self._note_limits(config, remote, exc)
            raise upstream_error(exc, what, self._upstream_label(config)) from None

    async def blob_size(self, repository: str, digest: str) -> int:
        config = self._config(repository)
        from dockyard.errors import BlobUnknown

        if config is None:
            raise BlobUnknown(f"blob {digest} unknown in {repository}")
        local = await self._services.store.get_blob(None, digest)
        if local is not None:
            return int(local.size)
        what = f"blob {digest}"
        self._check_pause(config, what)
        remote = await self._remote(config)
        try:
            size = await remote.head_blob(config.upstream_name(repository), digest)
        except RemoteError as exc:
            self._note_limits(config, remote, exc)
            raise upstream_error(exc, what, self._upstream_label(config)) from None
        if size is None:
            raise BlobUnknown(f"{what} not found at {self._upstream_label(config)}")
        return size

    async def tags(self, repository: str) -> list[str] | None:
        config = self._config(repository)
        if config is None:
            return None
        try:
            self._check_pause(config, "the tag list")
            remote = await self._remote(config)
            return await remote.tags(config.upstream_name(repository))
        except (RemoteError, TooManyRequests):
            return None  # the local tags, as a stale answer

    async def close(self) -> None:
        for task in list(self._fills.values()):
            task.cancel()
        await self.fetcher.close()
