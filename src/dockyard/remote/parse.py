"""Reading a remote's answers: digests of received bytes, media types, `Link` pages,
rate-limit headers, `Retry-After`, referrer descriptors. Pure functions, no I/O."""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from dockyard.remote import Referrer

_ALGORITHMS = {"sha256": hashlib.sha256, "sha512": hashlib.sha512}
_LINK = re.compile(r"<([^>]*)>\s*((?:;\s*[^,;]+)*)")
_HEX = re.compile(r"^[a-f0-9]{64,128}$")


def digest_of(content: bytes, like: str) -> str | None:
    """The digest of `content` in the algorithm of `like` ("sha256:…"); None for an
    algorithm this build does not hash."""
    algorithm = like.partition(":")[0]
    hasher = _ALGORITHMS.get(algorithm)
    if hasher is None:
        return None
    return f"{algorithm}:{hasher(content).hexdigest()}"


def media_type_of(content_type: str | None, content: bytes) -> str:
    """The Content-Type without parameters; the JSON's own `mediaType` when the remote
    sent a generic type (or none)."""
    stated = (content_type or "").split(";")[0].strip().lower()
    if stated and stated not in ("application/json", "text/plain", "application/octet-stream"):
        return stated
    try:
        body = json.loads(content)
    except ValueError:
        return stated or "application/octet-stream"
    found = body.get("mediaType") if isinstance(body, dict) else None
    if isinstance(found, str) and found:
        return found
    if isinstance(body, dict) and "manifests" in body:
        return "application/vnd.oci.image.index.v1+json"
    return "application/vnd.oci.image.manifest.v1+json"


def next_link(header: str | None) -> str | None:
    """The target of `Link: <…>; rel="next"` (relative or absolute), if any."""
    if not header:
        return None
    for m in _LINK.finditer(header):
        params = m.group(2) or ""
        if re.search(r'rel\s*=\s*"?next"?', params):
            return m.group(1).strip() or None
    return None


def _leading_int(value: str | None) -> int | None:
    if value is None:
        return None
    head = value.split(";")[0].split(",")[0].strip()
    try:
        return int(head)
    except ValueError:
        return None


def parse_rate_limit(headers: Mapping[str, str]) -> tuple[int | None, int | None]:
    """`ratelimit-limit` / `ratelimit-remaining` (Docker Hub's `100;w=21600` too)."""
    return _leading_int(headers.get("ratelimit-limit")), _leading_int(
        headers.get("ratelimit-remaining")
    )


def retry_after(headers: Mapping[str, str], now: dt.datetime | None = None) -> float | None:
    """`Retry-After` in seconds (given as seconds or as an HTTP date); None if absent
    or unreadable."""
    value = headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max((when - (now or dt.datetime.now(dt.UTC))).total_seconds(), 0.0)


def _valid_digest(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    algorithm, _, hexpart = value.partition(":")
    return algorithm in _ALGORITHMS and bool(_HEX.match(hexpart))


def parse_referrers(manifests: list[Any]) -> list[Referrer]:
    """The descriptors of a referrers index (entries that are not descriptors are
    skipped: a remote's junk does not become a copy job)."""
    found: list[Referrer] = []
    for entry in manifests:
        if not isinstance(entry, dict) or not _valid_digest(entry.get("digest")):
            continue
        size = entry.get("size")
        media_type = entry.get("mediaType")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            continue
        if not isinstance(media_type, str):
            continue
        artifact = entry.get("artifactType")
        annotations = entry.get("annotations")
        found.append(
            Referrer(
                digest=entry["digest"],
                media_type=media_type,
                size=size,
                artifact_type=artifact if isinstance(artifact, str) else None,
                annotations={str(k): str(v) for k, v in annotations.items()}
                if isinstance(annotations, dict)
                else {},
            )
        )
    return found
