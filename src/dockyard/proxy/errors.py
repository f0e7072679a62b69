"""Upstream failures as the OCI errors a client of the proxy sees, naming the upstream."""

from __future__ import annotations

from dockyard.errors import (
    BlobUnknown,
    Denied,
    DockyardError,
    ManifestUnknown,
    TooManyRequests,
    Unavailable,
)
from dockyard.remote import RemoteDenied, RemoteError, RemoteNotFound, RemoteRateLimited


def upstream_error(exc: RemoteError, what: str, upstream: str = "the upstream") -> DockyardError:
    if isinstance(exc, RemoteNotFound):
        if what.startswith("blob"):
            return BlobUnknown(f"{what} not found at {upstream}")
        return ManifestUnknown(f"{what} not found at {upstream}")
    if isinstance(exc, RemoteRateLimited):
        return TooManyRequests(
            f"{upstream} is rate-limiting this cache; {what} is not cached",
            retry_after=exc.retry_after or 60,
        )
    if isinstance(exc, RemoteDenied):
        return Denied(f"{upstream} refused this cache's credentials for {what}")
    return Unavailable(f"{upstream} is unavailable ({exc}); {what} is not cached")
