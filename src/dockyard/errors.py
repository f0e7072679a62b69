"""Domain exceptions. No HTTP in here: the HTTP layer maps them to OCI error codes."""

from __future__ import annotations

from typing import Any


class DockyardError(Exception):
    """Base of every expected, client-visible failure."""

    code = "UNKNOWN"

    def __init__(self, message: str = "", detail: Any = None) -> None:
        super().__init__(message or self.__class__.__doc__ or self.code)
        self.message = message or (self.__class__.__doc__ or self.code).strip()
        self.detail = detail


class BlobUnknown(DockyardError):
    """blob unknown to registry"""

    code = "BLOB_UNKNOWN"


class BlobUploadInvalid(DockyardError):
    """blob upload invalid"""

    code = "BLOB_UPLOAD_INVALID"


class BlobUploadUnknown(DockyardError):
    """blob upload unknown to registry"""

    code = "BLOB_UPLOAD_UNKNOWN"


class DigestInvalid(DockyardError):
    """provided digest did not match uploaded content"""

    code = "DIGEST_INVALID"


class ManifestBlobUnknown(DockyardError):
    """manifest references a blob unknown to the registry"""

    code = "MANIFEST_BLOB_UNKNOWN"


class ManifestInvalid(DockyardError):
    """manifest invalid"""

    code = "MANIFEST_INVALID"


class ManifestUnknown(DockyardError):
    """manifest unknown to registry"""

    code = "MANIFEST_UNKNOWN"


class ManifestChildUnknown(ManifestUnknown):
    """index references a manifest unknown to the registry"""


class NameInvalid(DockyardError):
    """invalid repository name"""

    code = "NAME_INVALID"


class NameUnknown(DockyardError):
    """repository name not known to registry"""

    code = "NAME_UNKNOWN"


class SizeInvalid(DockyardError):
    """provided length did not match content length"""

    code = "SIZE_INVALID"


class ManifestTooLarge(SizeInvalid):
    """manifest exceeds the size limit"""


class RangeInvalid(DockyardError):
    """requested range not satisfiable"""

    code = "BLOB_UPLOAD_INVALID"

    def __init__(self, message: str = "", *, current_offset: int = 0) -> None:
        super().__init__(message)
        self.current_offset = current_offset


class Unsupported(DockyardError):
    """the operation is unsupported"""

    code = "UNSUPPORTED"


class Denied(DockyardError):
    """requested access to the resource is denied"""

    code = "DENIED"


class Unauthorized(DockyardError):
    """authentication required"""

    code = "UNAUTHORIZED"


class TooManyRequests(DockyardError):
    """too many requests"""

    code = "TOOMANYREQUESTS"

    def __init__(self, message: str = "", detail: Any = None, *, retry_after: float = 1) -> None:
        super().__init__(message, detail)
        self.retry_after = max(1, round(retry_after))


class Unavailable(DockyardError):
    """service unavailable"""

    code = "UNAVAILABLE"

    def __init__(self, message: str = "", headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.headers = headers or {}


class QuotaExceeded(Denied):
    """project quota exceeded"""


class Conflict(DockyardError):
    """the resource already exists or is in use"""

    code = "CONFLICT"


class NotFound(DockyardError):
    """no such resource"""

    code = "NOT_FOUND"


class InvalidRequest(DockyardError):
    """the request is invalid"""

    code = "INVALID_REQUEST"


class ConfigError(Exception):
    """The configuration is invalid; the message says where."""


class SchemaError(Exception):
    """The metadata database schema is not the one this version expects."""
