"""Single-flight blob downloads.

In a process, one `Download` per digest: a task reads the upstream, hands each chunk
to every subscribed client and to the store (UploadService.monolithic: the storage
driver, hashing, the digest verified before anything is committed). A client that
leaves only unsubscribes; the download goes on. A client that arrives after the
first chunk went out waits for the blob to be stored and reads it locally.

Across replicas, the download holds a lease row (`blob:<digest>`, renewed while it
runs); a replica that finds the lease taken waits for the blob to appear in the
store (polled at `poll_seconds`, up to `wait_seconds`, taking the lease over if its
holder dies) and serves it locally.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from dockyard.errors import BlobUnknown, Unavailable
from dockyard.proxy.settings import ProxySettings
from dockyard.proxy.store import ProxyStore
from dockyard.registry.sources import SourcedBlob
from dockyard.registry.uploads import Chunk
from dockyard.remote import Remote

log = logging.getLogger(__name__)

_DONE = b""


@dataclass(eq=False)
class Download:
    digest: str
    size: int | None = None
    started: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    error: BaseException | None = None
    emitted: bool = False
    queues: set[asyncio.Queue[bytes | BaseException]] = field(default_factory=set)
    task: asyncio.Task[None] | None = None

    def subscribe(self) -> asyncio.Queue[bytes | BaseException] | None:
        if self.emitted or self.done.is_set():
            return None
        queue: asyncio.Queue[bytes | BaseException] = asyncio.Queue()
        self.queues.add(queue)
        return queue

    def publish(self, item: bytes | BaseException) -> None:
        if isinstance(item, bytes) and item:
            self.emitted = True
        for queue in self.queues:
            queue.put_nowait(item)


class Fetcher:
    """The process's downloads (one per Services, in Services.extensions)."""

    def __init__(self, services: Any, store: ProxyStore, settings: ProxySettings) -> None:
        self._services = services
        self._store = store
        self._settings = settings
        self._holder = uuid.uuid4().hex
        self._downloads: dict[str, Download] = {}
        self.upstream_bytes: Callable[[str, int], None] = lambda project, n: None
        self.waited_elsewhere = 0
        """requests that found another replica downloading (tests, diagnostics)"""

    async def _local_size(self, digest: str) -> int | None:
        found = await self._services.store.get_blob(None, digest)
        return None if found is None else int(found.size)

    async def _link_and_stream(self, repository: str, digest: str, size: int) -> SourcedBlob:
        await self._services.store.link_blob(repository, digest, size)
        return SourcedBlob(digest, size, self._services.blobs.stream(digest))

    async def blob(
        self, repository: str, digest: str, remote: Remote, upstream: str, project: str
    ) -> SourcedBlob:
        """The blob for a client of `repository`, fetched at most once at a time."""
        size = await self._local_size(digest)  # another repository's copy (or an earlier fill)
        if size is not None:
            return await self._link_and_stream(repository, digest, size)
        download = self._downloads.get(digest)
        if download is None:
            begun = await self._start(repository, digest, remote, upstream, project)
            if isinstance(begun, int):  # stored meanwhile (a download just finished)
                return await self._link_and_stream(repository, digest, begun)
            download = begun
        if download is None:  # another replica downloads it
            size = await self._wait_elsewhere(digest, repository, remote, upstream, project)
            return await self._link_and_stream(repository, digest, size)
        queue = download.subscribe()
        if queue is None:
            await download.done.wait()
            if download.error is not None:
                raise _client_error(digest, download.error)
            size = await self._local_size(digest)
            if size is None:
                raise BlobUnknown(f"blob {digest} vanished after its download")
            return await self._link_and_stream(repository, digest, size)
        started = asyncio.ensure_future(download.started.wait())
        finished = asyncio.ensure_future(download.done.wait())
        await asyncio.wait({started, finished}, return_when=asyncio.FIRST_COMPLETED)
        started.cancel()
        finished.cancel()
        if download.error is not None and not download.emitted:
            download.queues.discard(queue)
            raise _client_error(digest, download.error)
        return SourcedBlob(digest, download.size, _drain(download, queue))

    async def ensure(
        self, repository: str, digest: str, remote: Remote, upstream: str, project: str
    ) -> int:
        """Store the blob in `repository` (the fill job's way), sharing any download."""
        blob = await self.blob(repository, digest, remote, upstream, project)
        async for _ in blob.chunks:
            pass
        size = await self._local_size(digest)
        if size is None:
            raise BlobUnknown(f"blob {digest} was not stored")
        await self._services.store.link_blob(repository, digest, size)
        return size

    async def _start(
        self, repository: str, digest: str, remote: Remote, upstream: str, project: str
    ) -> Download | int | None:
        """A download (new, or another request's here), the size of the blob when it
        is stored after all, or None when another replica holds the lease."""
        key = f"blob:{digest}"
        if not await self._store.take_lease(key, self._holder, self._settings.lease_seconds):
            return None
        existing = self._downloads.get(digest)  # another request here won meanwhile
        if existing is not None:
            return existing
        size = await self._local_size(digest)
        existing = self._downloads.get(digest)
        if existing is not None:
            return existing
        if size is not None:
            await self._store.release_lease(key, self._holder)
            return size
        download = Download(digest)
        self._downloads[digest] = download
        download.task = asyncio.create_task(
            self._run(download, repository, remote, upstream, project, key)
        )
        return download

    async def _run(
        self,
        download: Download,
        repository: str,
        remote: Remote,
        upstream: str,
        project: str,
        key: str,
    ) -> None:
        renewing = asyncio.create_task(self._renew(key))
        try:
            async with remote.get_blob(upstream, download.digest) as stream:
                download.size = stream.size
                download.started.set()

                async def body() -> AsyncIterator[bytes]:
                    async for chunk in stream.chunks():
                        self.upstream_bytes(project, len(chunk))
                        download.publish(chunk)
                        yield chunk

                await self._services.uploads.monolithic(
                    repository, download.digest, body(), Chunk(length=stream.size)
                )
        except BaseException as exc:
            download.error = exc
            download.publish(exc if isinstance(exc, Exception) else Unavailable("cancelled"))
            if not isinstance(exc, Exception):
                raise
            log.warning("proxy download of %s failed: %s", download.digest, exc)
        else:
            download.publish(_DONE)
        finally:
            renewing.cancel()
            download.started.set()
            download.done.set()
            self._downloads.pop(download.digest, None)
            with contextlib.suppress(Exception):
                await self._store.release_lease(key, self._holder)

    async def _renew(self, key: str) -> None:
        period = self._settings.lease_seconds / 3
        while True:
            await asyncio.sleep(period)
            try:
                await self._store.renew_lease(key, self._holder, self._settings.lease_seconds)
            except Exception:
                log.warning("could not renew the lease %s", key, exc_info=True)

    async def _wait_elsewhere(
        self, digest: str, repository: str, remote: Remote, upstream: str, project: str
    ) -> int:
        """Another replica holds the download: wait for the blob to appear, or for its
        lease to lapse (then download here)."""
        self.waited_elsewhere += 1
        deadline = time.monotonic() + self._settings.wait_seconds
        key = f"blob:{digest}"
        while time.monotonic() < deadline:
            size = await self._local_size(digest)
            if size is not None:
                return size
            if not await self._store.lease_alive(key):
                own = await self._start(repository, digest, remote, upstream, project)
                if isinstance(own, int):
                    return own
                if own is not None:
                    await own.done.wait()
                    if own.error is not None:
                        raise _client_error(digest, own.error)
            await asyncio.sleep(self._settings.poll_seconds)
        raise Unavailable(f"blob {digest} is still being fetched by another replica; try again")

    async def close(self) -> None:
        for download in list(self._downloads.values()):
            if download.task is not None:
                download.task.cancel()


async def _drain(
    download: Download, queue: asyncio.Queue[bytes | BaseException]
) -> AsyncIterator[bytes]:
    try:
        while True:
            item = await queue.get()
            if isinstance(item, BaseException):
                raise _client_error(download.digest, item)
            if not item:
                return
            yield item
    finally:
        download.queues.discard(queue)


def _client_error(digest: str, exc: BaseException) -> Exception:
    from dockyard.errors import DockyardError
    from dockyard.remote import RemoteError

    if isinstance(exc, DockyardError):
        return exc
    if isinstance(exc, RemoteError):
        from dockyard.proxy.errors import upstream_error

        return upstream_error(exc, f"blob {digest}")
    return Unavailable(f"fetching blob {digest} failed: {type(exc).__name__}")
