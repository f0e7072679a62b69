"""Plain records the metadata store returns, and the protocol it implements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True, slots=True)
class BlobRecord:
    digest: str
    size: int


@dataclass(frozen=True, slots=True)
class ManifestRecord:
    digest: str
    media_type: str
    size: int
    content: bytes
    artifact_type: str | None = None
    subject_digest: str | None = None
    annotations: str | None = None


@dataclass(frozen=True, slots=True)
class UploadRecord:
    id: str
    repository: str
    offset: int
    started_at: datetime
    lease_until: datetime | None
    lease_holder: str | None = None


@dataclass(frozen=True, slots=True)
class NewManifest:
    digest: str
    media_type: str
    content: bytes
    artifact_type: str | None
    subject_digest: str | None
    annotations: str | None
    blob_refs: Sequence[tuple[str, int]]
    """(digest, size) of config and layers, each of which must be linked to the repository"""
    child_refs: Sequence[tuple[str, int]]
    """(digest, size) of manifests an index lists; each must exist in the repository"""


class MetadataStore(Protocol):
    """Everything the registry remembers besides blob bytes."""

    async def ping(self) -> None: ...

    async def check_schema(self, branches: Sequence[Path] = ()) -> None:
        """Refuse a database not at this build's heads (the core's and `branches`')."""
        ...

    async def close(self) -> None: ...

    # repositories
    async def list_repositories(self, n: int | None, last: str | None) -> list[str]: ...

    async def repository_exists(self, repository: str) -> bool: ...

    # blobs
    async def get_blob(self, repository: str | None, digest: str) -> BlobRecord | None:
        """The blob if it is linked to `repository` (any repository when None)."""
        ...

    async def link_blob(self, repository: str, digest: str, size: int) -> None: ...

    async def unlink_blob(self, repository: str, digest: str) -> bool: ...

    async def check_quota(self, repository: str, digest: str, size: int) -> None:
        """Raise QuotaExceeded if linking the blob would take the repository's project
        over its quota (the link itself checks again, atomically)."""
        ...

    # uploads
    async def create_upload(self, repository: str, upload_id: str) -> UploadRecord: ...

    async def get_upload(self, repository: str, upload_id: str) -> UploadRecord | None: ...

    async def get_upload_by_id(self, upload_id: str) -> UploadRecord | None: ...

    async def lease_upload(
        self,
        repository: str,
        upload_id: str,
        offset: int | None,
        seconds: float,
        *,
        holder: str = "",
        take_from: str | None = None,
        quota: tuple[str, int] | None = None,
    ) -> int | None:
        """Claim the upload for `holder` if nobody holds it, or if `take_from` still
        does (and, when `offset` is given, only if it is there); return its offset,
        or None if not claimed. With `quota` = (digest, length), first raise
        QuotaExceeded, claiming nothing, if that blob of the upload's offset + length
        bytes would not fit (check_quota)."""
        ...

    async def lease_upload_refresh(self, upload_id: str, seconds: float) -> None:
        """Extend the lease of a long-running write."""
        ...

    async def release_upload(self, upload_id: str, offset: int) -> None:
        """Record the new offset and drop the lease."""
        ...

    async def delete_upload(self, upload_id: str) -> bool: ...

    async def complete_upload(
        self, repository: str, upload_id: str, digest: str, size: int
    ) -> None:
        """Link the finished blob and drop the upload row, in one transaction."""
        ...

    async def stale_uploads(self, older_than: datetime) -> list[UploadRecord]: ...

    async def count_uploads(self) -> int:
        """Upload sessions open now (for the active-uploads gauge)."""
        ...

    # manifests and tags
    async def get_manifest(self, repository: str, reference: str) -> ManifestRecord | None: ...

    async def put_manifest(
        self, repository: str, manifest: NewManifest, tag: str | None, actor: str | None = None
    ) -> None:
        """Store a manifest (and point `tag` at it) after checking every reference, atomically,
        with its `artifact.pushed` event (events/).

        Raises ManifestBlobUnknown / ManifestChildUnknown naming what is missing."""
        ...

    async def delete_manifest(self, repository: str, digest: str, actor: str | None = None) -> bool:
        """Delete a manifest and its tags, with its `artifact.deleted` event."""
        ...

    async def delete_tag(self, repository: str, tag: str, actor: str | None = None) -> bool:
        """Delete a tag, with its `tag.deleted` event."""
        ...

    async def tags_of(self, repository: str, digest: str) -> list[str]:
        """The tags pointing at `digest` in `repository`, in order."""
        ...

    async def list_tags(self, repository: str, n: int | None, last: str | None) -> list[str] | None:
        """Tags in order, or None when the repository does not exist."""
        ...

    async def referrers(
        self, repository: str, digest: str, artifact_type: str | None
    ) -> list[ManifestRecord]: ...
