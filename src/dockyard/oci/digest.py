"""Content digests (`algorithm:encoded`) as the OCI image-spec defines them."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from dockyard.errors import DigestInvalid

# Registered algorithms and the exact encoded form each requires.
_ALGORITHMS: dict[str, re.Pattern[str]] = {
    "sha256": re.compile(r"[a-f0-9]{64}"),
    "sha512": re.compile(r"[a-f0-9]{128}"),
}
_GRAMMAR = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")


@dataclass(frozen=True, slots=True)
class Digest:
    algorithm: str
    encoded: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.encoded}"

    def hasher(self) -> hashlib._Hash:
        return hashlib.new(self.algorithm)


def parse_digest(value: str) -> Digest:
    """Parse and validate a digest string; raise DigestInvalid if it is not one we accept."""
    if not value or len(value) > 256 or not _GRAMMAR.fullmatch(value):
        raise DigestInvalid(f"invalid digest: {value[:100]!r}")
    algorithm, encoded = value.split(":", 1)
    pattern = _ALGORITHMS.get(algorithm)
    if pattern is None:
        raise DigestInvalid(f"unsupported digest algorithm: {algorithm[:32]!r}")
    if not pattern.fullmatch(encoded):
        raise DigestInvalid(f"invalid {algorithm} digest: {value[:100]!r}")
    return Digest(algorithm, encoded)


def is_digest(value: str) -> bool:
    return ":" in value


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"
