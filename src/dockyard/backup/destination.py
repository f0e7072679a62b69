"""A backup destination is a storage location like the registry's own: a folder
(the filesystem driver, fsynced) or `s3://bucket/prefix` (the S3 driver), so blobs are
written, listed and read back through the same code the registry stores them with."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from dockyard.backup.settings import BackupSettings
from dockyard.errors import InvalidRequest
from dockyard.storage.base import StorageDriver


def open_destination(where: str, settings: BackupSettings) -> StorageDriver:
    """The driver of `where` (a path, or s3://bucket/prefix)."""
    if where.startswith("s3://"):
        from dockyard.config import S3Storage
        from dockyard.storage.s3 import S3Driver

        parts = urlsplit(where)
        if not parts.netloc:
            raise InvalidRequest(f"{where}: an S3 destination is s3://bucket[/prefix]")
        return S3Driver(
            S3Storage(
                driver="s3",
                bucket=parts.netloc,
                prefix=parts.path.strip("/"),
                region=settings.s3_region,
                endpoint=settings.s3_endpoint,
                path_style=settings.s3_path_style,
                access_key_id=settings.s3_access_key_id,
                secret_access_key=settings.s3_secret_access_key,
            )
        )
    if "://" in where:
        raise InvalidRequest(f"{where}: a destination is a folder or s3://bucket/prefix")
    from dockyard.storage.filesystem import FilesystemDriver

    root = Path(where).expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    return FilesystemDriver(root, fsync=True)
