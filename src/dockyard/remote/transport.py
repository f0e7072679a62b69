"""What HttpRemote needs below the distribution API: the TLS trust of an endpoint, a
blob body streamed raw, and the RemoteError an unexpected answer means."""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass

import httpx

from dockyard.remote import (
    Endpoint,
    RemoteDenied,
    RemoteError,
    RemoteNotFound,
    RemoteRateLimited,
    RemoteUnavailable,
)
from dockyard.remote.parse import retry_after

CHUNK = 1 << 20
ERROR_BODY_LIMIT = 65536


def tls_verify(endpoint: Endpoint) -> ssl.SSLContext | bool:
    """False for an `insecure` endpoint; else the system's store plus the endpoint's
    own PEM bundle."""
    if endpoint.insecure:
        return False
    context = ssl.create_default_context()
    if endpoint.ca_certificate:
        try:
            context.load_verify_locations(cadata=endpoint.ca_certificate)
        except (ssl.SSLError, ValueError) as exc:
            raise RemoteError(
                f"{endpoint.name}: its CA certificate cannot be loaded ({exc})"
            ) from None
    return context


@dataclass
class BlobBody:
    """A blob's body as it arrives (dockyard.remote.BlobStream)."""

    size: int | None
    response: httpx.Response
    label: str

    async def chunks(self) -> AsyncIterator[bytes]:
        received = 0
        try:
            async for chunk in self.response.aiter_raw(CHUNK):
                received += len(chunk)
                yield chunk
        except httpx.HTTPError as exc:
            raise RemoteUnavailable(
                f"{self.label}: the remote broke off after {received} bytes ({type(exc).__name__})"
            ) from None
        if self.size is not None and received != self.size:
            raise RemoteUnavailable(
                f"{self.label}: the remote sent {received} of {self.size} bytes"
            )


async def read_some(response: httpx.Response, limit: int = ERROR_BODY_LIMIT) -> bytes:
    """At most `limit` bytes of an error answer's body (a hostile remote's endless
    body is not read), then the response closed."""
    body = bytearray()
    try:
        if response.is_stream_consumed:
            body += response.content[:limit]
        else:
            async for chunk in response.aiter_raw(8192):
                body += chunk
                if len(body) >= limit:
                    break
    except (httpx.HTTPError, httpx.StreamError):
        pass
    finally:
        await response.aclose()
    return bytes(body[:limit])


def error_for(
    status: int,
    headers: Mapping[str, str],
    raw: bytes,
    label: str,
    scrub: Callable[[str], str],
) -> RemoteError:
    """The RemoteError subclass for `status`, with the OCI error body's first code."""
    code, message = None, ""
    try:
        errors = json.loads(raw).get("errors") or []
        if errors and isinstance(errors[0], dict):
            code = str(errors[0].get("code") or "")[:64] or None
            message = str(errors[0].get("message") or "")
    except (ValueError, AttributeError, UnicodeDecodeError):
        pass
    text = f"{label}: HTTP {status}"
    if code:
        text += f" {code}"
    if message:
        text += f": {scrub(message[:300])}"
    if status == 429:
        after = retry_after(headers)
        if after is not None:
            text += f" (retry after {after:.0f}s)"
        return RemoteRateLimited(text, after)
    if status == 404:
        return RemoteNotFound(text, status, code)
    if status in (401, 403):
        return RemoteDenied(text, status, code)
    if status >= 500:
        return RemoteUnavailable(text, status, code)
    return RemoteError(text, status, code)
