"""The one registry of error codes, and the domain exceptions that name them.

Every code a client can see is registered here once, with its HTTP status and its
default message, as distribution's `registry/api/errcode` does; an exception class
names the registered code it stands for, and the HTTP layer renders any of them as
`{"errors": [{"code", "message", "detail"}]}` with that status. Nothing else picks a
status: a raising site names a code (through its exception class) and says what
happened. Unknown failures are 500 UNKNOWN, never a wrong 4xx.

No HTTP in here beyond the status numbers: this module imports nothing of Dockyard.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class ErrorCode:
    code: str
    """what clients see in `errors[].code`"""
    status: int
    message: str
    """the message when the raising site gives none"""


CODES: list[ErrorCode] = []
"""Every registered code, in the order declared (docs/api.md lists them)."""


def register(code: str, status: int, message: str) -> ErrorCode:
    entry = ErrorCode(code, status, message)
    CODES.append(entry)
    return entry


# -- the distribution spec's codes (and the statuses the reference registry uses) ----
BLOB_UNKNOWN = register("BLOB_UNKNOWN", 404, "blob unknown to registry")
BLOB_UPLOAD_INVALID = register("BLOB_UPLOAD_INVALID", 400, "blob upload invalid")
BLOB_UPLOAD_RANGE = register("BLOB_UPLOAD_INVALID", 416, "requested range not satisfiable")
BLOB_UPLOAD_UNKNOWN = register("BLOB_UPLOAD_UNKNOWN", 404, "blob upload unknown to registry")
DIGEST_INVALID = register("DIGEST_INVALID", 400, "provided digest did not match uploaded content")
MANIFEST_BLOB_UNKNOWN = register(
    "MANIFEST_BLOB_UNKNOWN", 400, "manifest references a blob unknown to the registry"
)
MANIFEST_INVALID = register("MANIFEST_INVALID", 400, "manifest invalid")
MANIFEST_UNKNOWN = register("MANIFEST_UNKNOWN", 404, "manifest unknown to registry")
MANIFEST_CHILD_UNKNOWN = register(
    "MANIFEST_UNKNOWN", 400, "index references a manifest unknown to the registry"
)
NAME_INVALID = register("NAME_INVALID", 400, "invalid repository name")
NAME_UNKNOWN = register("NAME_UNKNOWN", 404, "repository name not known to registry")
SIZE_INVALID = register("SIZE_INVALID", 400, "provided length did not match content length")
MANIFEST_TOO_LARGE = register("SIZE_INVALID", 413, "manifest exceeds the size limit")
UNAUTHORIZED = register("UNAUTHORIZED", 401, "authentication required")
DENIED = register("DENIED", 403, "requested access to the resource is denied")
UNSUPPORTED = register("UNSUPPORTED", 405, "the operation is unsupported")
NO_SUCH_ENDPOINT = register("UNSUPPORTED", 404, "no such endpoint")
TOOMANYREQUESTS = register("TOOMANYREQUESTS", 429, "too many requests")
PAGINATION_NUMBER_INVALID = register(
    "PAGINATION_NUMBER_INVALID", 400, "invalid pagination parameters"
)  # the reference registry's code for a bad `n`
UNAVAILABLE = register("UNAVAILABLE", 503, "service unavailable")
# -- the token endpoint ----------------------------------------------------------------
TOKEN_REQUEST_INVALID = register("DENIED", 400, "the token request is invalid")
# -- the management API (never on /v2/) ------------------------------------------------
CONFLICT = register("CONFLICT", 409, "the resource already exists or is in use")
NOT_FOUND = register("NOT_FOUND", 404, "no such resource")
INVALID_REQUEST = register("INVALID_REQUEST", 422, "the request is invalid")
MALFORMED_REQUEST = register("INVALID_REQUEST", 400, "the request is malformed")
UNKNOWN = register("UNKNOWN", 500, "internal server error")


class DockyardError(Exception):
    """Base of every expected, client-visible failure: names its registered code."""

    error: ClassVar[ErrorCode] = UNKNOWN
    headers: dict[str, str] | None = None
    """response headers the failure carries (a challenge, Retry-After)"""

    def __init__(self, message: str = "", detail: Any = None) -> None:
        super().__init__(message or self.error.message)
        self.message = message or self.error.message
        self.detail = detail

    @property
    def code(self) -> str:
        return self.error.code

    @property
    def status(self) -> int:
        return self.error.status


class BlobUnknown(DockyardError):
    error = BLOB_UNKNOWN


class BlobUploadInvalid(DockyardError):
    error = BLOB_UPLOAD_INVALID


class BlobUploadUnknown(DockyardError):
    error = BLOB_UPLOAD_UNKNOWN


class DigestInvalid(DockyardError):
    error = DIGEST_INVALID


class ManifestBlobUnknown(DockyardError):
    error = MANIFEST_BLOB_UNKNOWN


class ManifestInvalid(DockyardError):
    error = MANIFEST_INVALID


class ManifestUnknown(DockyardError):
    error = MANIFEST_UNKNOWN


class ManifestChildUnknown(ManifestUnknown):
    error = MANIFEST_CHILD_UNKNOWN


class NameInvalid(DockyardError):
    error = NAME_INVALID


class NameUnknown(DockyardError):
    error = NAME_UNKNOWN


class SizeInvalid(DockyardError):
    error = SIZE_INVALID


class ManifestTooLarge(SizeInvalid):
    error = MANIFEST_TOO_LARGE


class RangeInvalid(DockyardError):
    error = BLOB_UPLOAD_RANGE

    def __init__(self, message: str = "", *, current_offset: int = 0) -> None:
        super().__init__(message)
        self.current_offset = current_offset


class PaginationInvalid(DockyardError):
    error = PAGINATION_NUMBER_INVALID


class Unsupported(DockyardError):
    error = UNSUPPORTED


class Denied(DockyardError):
    error = DENIED


class QuotaExceeded(Denied):
    """project quota exceeded"""


class Unauthorized(DockyardError):
    error = UNAUTHORIZED


class TooManyRequests(DockyardError):
    error = TOOMANYREQUESTS

    def __init__(self, message: str = "", detail: Any = None, *, retry_after: float = 1) -> None:
        super().__init__(message, detail)
        self.retry_after = max(1, round(retry_after))
        self.headers = {"Retry-After": str(self.retry_after)}


class Unavailable(DockyardError):
    error = UNAVAILABLE

    def __init__(self, message: str = "", headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.headers = headers or {}


class BlobBusy(Unavailable):
    """A garbage-collection pass is deleting the blob a write wants to link: the
    writer waits for it to finish (registry/uploads.py), or the client retries."""


class TokenRequestInvalid(DockyardError):
    error = TOKEN_REQUEST_INVALID


class Conflict(DockyardError):
    error = CONFLICT


class NotFound(DockyardError):
    error = NOT_FOUND


class InvalidRequest(DockyardError):
    """A management request that is well-formed but asks for something invalid (a
    cron expression that is not one, say)."""

    error = INVALID_REQUEST


class ConfigError(Exception):
    """The configuration is invalid; the message says where."""


class SchemaError(Exception):
    """The metadata database schema is not the one this version expects."""
