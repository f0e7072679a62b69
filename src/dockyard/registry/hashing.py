"""Digest computation for uploads that may span requests, workers and replicas.

Python's hashlib cannot export its state, so a hash cannot travel with the
upload row. Instead each worker keeps the running SHA-256 of the uploads it
has seen, keyed by upload id and the offset it has hashed up to. A request
that finds a hasher behind the current offset (an earlier chunk went to
another worker or replica) catches up by reading just the missing bytes back
from storage; one that finds none starts from zero. So the common case — one
client on one keep-alive connection — hashes each byte exactly once, while
wrong-worker requests cost at most one extra read of what they missed. We
chose this over `rehash` (a C extension poking at OpenSSL internals, fragile
across OpenSSL 3 releases) and over a pure-Python SHA-256 (too slow).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

from dockyard.storage import layout
from dockyard.storage.base import StorageDriver

DEFAULT_ALGORITHM = "sha256"


class HasherCache:
    def __init__(self, max_entries: int = 1024) -> None:
        self._entries: OrderedDict[str, tuple[int, hashlib._Hash]] = OrderedDict()
        self._max = max_entries

    def take(self, upload_id: str) -> tuple[int, hashlib._Hash]:
        """The hasher for this upload and how far it got (0 and a fresh one if none)."""
        entry = self._entries.pop(upload_id, None)
        return entry if entry is not None else (0, hashlib.new(DEFAULT_ALGORITHM))

    def put(self, upload_id: str, offset: int, hasher: hashlib._Hash) -> None:
        self._entries[upload_id] = (offset, hasher)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def discard(self, upload_id: str) -> None:
        self._entries.pop(upload_id, None)


async def catch_up(
    storage: StorageDriver, upload_id: str, hashed: int, hasher: hashlib._Hash, target: int
) -> None:
    """Feed bytes [hashed, target) of the upload's data into `hasher`."""
    if target <= hashed:
        return
    async for chunk in storage.reader(layout.upload_data_path(upload_id), hashed, target - hashed):
        hasher.update(chunk)
