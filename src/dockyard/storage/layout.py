"""Where things live in storage. The only module that builds storage keys.

    blobs/<alg>/<first two hex>/<encoded>    content-addressed blob data
    uploads/<upload id>/data                  bytes of an upload in progress

Repository names never appear in keys: blob data is shared across the whole
registry and repository membership is metadata, so a hostile name cannot
reach storage paths at all.
"""

from __future__ import annotations

import re

from dockyard.errors import DigestInvalid
from dockyard.oci.digest import parse_digest
from dockyard.storage.base import StorageError

_UPLOAD_ID = re.compile(r"[a-f0-9]{32}")


def blob_path(digest: str) -> str:
    d = parse_digest(digest)
    return f"blobs/{d.algorithm}/{d.encoded[:2]}/{d.encoded}"


def upload_data_path(upload_id: str) -> str:
    if not _UPLOAD_ID.fullmatch(upload_id):
        raise ValueError(f"invalid upload id {upload_id!r}")
    return f"uploads/{upload_id}/data"


def upload_dir(upload_id: str) -> str:
    return upload_data_path(upload_id).rsplit("/", 1)[0]


def check_key(path: str) -> str:
    """`path` as a driver may use it: a relative key of non-empty components, none of
    them `.`, `..` or starting with `~`, no NUL; a trailing `/` is dropped. Every
    driver checks keys here, so none can be made to step outside its root."""
    if not path or path.startswith("/") or "\0" in path:
        raise StorageError(f"invalid storage key {path[:200]!r}")
    parts = path.rstrip("/").split("/")
    if any(p in ("", ".", "..") or p.startswith("~") for p in parts):
        raise StorageError(f"invalid storage key {path[:200]!r}")
    return "/".join(parts)


def digest_of(path: str) -> str | None:
    """The digest whose blob lives at `path` (the inverse of `blob_path`), or None for
    any other key."""
    parts = path.split("/")
    if len(parts) != 4 or parts[0] != "blobs":
        return None
    digest = f"{parts[1]}:{parts[3]}"
    try:
        return digest if blob_path(digest) == path else None
    except DigestInvalid:
        return None
