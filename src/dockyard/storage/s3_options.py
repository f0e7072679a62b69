"""What the S3 driver needs to know, as a protocol: the driver receives its settings
(the `storage` section when its driver is s3, which satisfies this) and never reads
the configuration itself."""

from __future__ import annotations

from typing import Protocol

from pydantic import SecretStr


class S3Options(Protocol):
    @property
    def bucket(self) -> str: ...

    @property
    def prefix(self) -> str:
        """key prefix inside the bucket"""
        ...

    @property
    def region(self) -> str: ...

    @property
    def endpoint(self) -> str | None: ...

    @property
    def path_style(self) -> bool: ...

    @property
    def access_key_id(self) -> str | None: ...

    @property
    def secret_access_key(self) -> SecretStr | None: ...

    @property
    def session_token(self) -> SecretStr | None: ...

    @property
    def redirect(self) -> bool:
        """answer blob GETs with a presigned URL"""
        ...

    @property
    def redirect_expiry_seconds(self) -> int: ...

    @property
    def part_size(self) -> int:
        """bytes per multipart part"""
        ...

    @property
    def storage_class(self) -> str | None:
        """the S3 storage class new objects get (None: the bucket's default)"""
        ...
