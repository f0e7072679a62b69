"""The only place concrete backends are chosen and wired together."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from dockyard.cache.base import Cache, NullCache
from dockyard.cache.local import LocalCache
from dockyard.cache.redis import RedisCache
from dockyard.config import MemoryStorage, S3Storage, Settings
from dockyard.metadata.engine import is_sqlite
from dockyard.metadata.records import MetadataStore
from dockyard.metadata.sql import SqlMetadataStore
from dockyard.metrics import Metrics
from dockyard.registry.blobs import BlobService
from dockyard.registry.manifests import ManifestService
from dockyard.registry.uploads import UploadService
from dockyard.storage.base import StorageDriver
from dockyard.storage.filesystem import FilesystemDriver
from dockyard.storage.instrumented import InstrumentedDriver
from dockyard.storage.memory import MemoryDriver

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    storage: StorageDriver
    store: MetadataStore
    cache: Cache
    blobs: BlobService
    uploads: UploadService
    manifests: ManifestService

    async def close(self) -> None:
        await self.store.close()
        # drivers that hold connections (S3) close them; a wrapper exposes its `inner`
        driver = getattr(self.storage, "inner", self.storage)
        close_storage = getattr(driver, "close", None)
        if close_storage is not None:
            await close_storage()
        if isinstance(self.cache, LocalCache):
            self.cache.close()
        elif isinstance(self.cache, RedisCache):
            await self.cache.close()


def build_storage(settings: Settings) -> StorageDriver:
    storage = settings.storage
    if isinstance(storage, MemoryStorage):
        return MemoryDriver()
    if isinstance(storage, S3Storage):
        from dockyard.storage.s3 import S3Driver  # aiobotocore loads only when configured

        return S3Driver(storage)
    return FilesystemDriver(settings.storage_root, fsync=storage.fsync)


def build_cache(settings: Settings) -> Cache:
    """Redis when configured (shared by every replica); otherwise the host-local cache,
    which is only correct when every process shares one host, i.e. on SQLite."""
    limits = settings.cache
    if not limits.enabled:
        return NullCache()
    if settings.redis.url:
        return RedisCache(
            settings.redis.url,
            max_entries=limits.max_entries,
            max_bytes=limits.max_bytes,
            ttl=limits.ttl_seconds,
            key_prefix=settings.redis.key_prefix,
        )
    if not is_sqlite(settings.database_url):
        log.warning(
            "no redis.url: manifest lookups are not cached, since replicas sharing this "
            "database could not invalidate each other's caches"
        )
        return NullCache()
    return LocalCache(
        settings.data_dir / "cache.generations",
        max_entries=settings.cache.max_entries,
        max_bytes=settings.cache.max_bytes,
        ttl=settings.cache.ttl_seconds,
    )


async def build_services(settings: Settings, metrics: Metrics | None = None) -> Services:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    storage = build_storage(settings)
    store = SqlMetadataStore(settings.database_url, settings.database.pool_size)
    await store.check_schema()
    cache = build_cache(settings)
    cache_counting: dict[str, Callable[[], None]] = {}
    if metrics is not None:
        storage = InstrumentedDriver(storage, metrics.storage)
        cache_counting = {
            "cache_hit": metrics.cache_hits.inc,
            "cache_miss": metrics.cache_misses.inc,
        }
        metrics.pool_reader = store.pool_status
        metrics.upload_counter = store.count_uploads
    reg = settings.registry
    return Services(
        settings=settings,
        storage=storage,
        store=store,
        cache=cache,
        blobs=BlobService(store, storage, delete_enabled=reg.delete_enabled),
        uploads=UploadService(
            store,
            storage,
            lease_seconds=reg.upload_lease_seconds,
            mount_without_from=reg.mount_without_from,
            counters=metrics.uploads if metrics is not None else None,
        ),
        manifests=ManifestService(
            store,
            cache,
            max_bytes=reg.max_manifest_bytes,
            delete_enabled=reg.delete_enabled,
            **cache_counting,
        ),
    )
