"""SBOMs: the packages in an image, read from its layers, written as CycloneDX JSON
(and SPDX JSON on request); SBOMs pushed by clients (syft, cosign attest) read back.

The interface the rest of the capability uses (service.py, jobs):

- `read_image(layers, open_layer, limits)`: the image's distro and packages, reading
  each layer once, streaming, in order, applying whiteouts; hostile archives bounded;
- `to_cyclonedx(subject, contents)` / `to_spdx(subject, contents)`: the documents;
- `parse_sbom(content, media_type)`: the packages of a CycloneDX or SPDX JSON document
  (bare, or inside an in-toto statement / DSSE envelope).

No database and no storage driver here: the caller hands over a function that opens
a layer as an async byte stream. Implemented in layers.py, extractors/, formats.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from dockyard.supplychain.model import ImageContents, Package

CYCLONEDX_JSON = "application/vnd.cyclonedx+json"
SPDX_JSON = "application/spdx+json"
SBOM_MEDIA_TYPES = frozenset({CYCLONEDX_JSON, SPDX_JSON, "text/spdx+json"})


@dataclass(frozen=True, slots=True)
class Layer:
    digest: str
    media_type: str
    """…tar, …tar+gzip, …tar+zstd (OCI and Docker types); others are skipped"""
    size: int


@dataclass(frozen=True, slots=True)
class Limits:
    max_layer_bytes: int = 8 << 30
    """uncompressed bytes read from one layer before it is refused (a tar bomb)"""
    max_ratio: int = 200
    """uncompressed/compressed ratio beyond which a layer past 64 MiB is refused"""
    max_member_bytes: int = 64 << 20
    """a metadata file (dpkg status, rpmdb, package.json, …) read at most this big"""
    max_binary_bytes: int = 256 << 20
    """a Go binary or a jar read at most this big (larger ones are skipped, warned)"""
    max_members: int = 2_000_000
    """tar members per layer"""


@dataclass(frozen=True, slots=True)
class Subject:
    """What an SBOM describes."""

    repository: str
    digest: str
    tag: str | None = None


class LayerRefused(Exception):
    """A layer the reader will not read (too large, a bomb, not a tar): the message says
    why, for the scan report."""


OpenLayer = Callable[[Layer], AsyncIterator[bytes]]
"""open_layer(layer): its bytes as stored (compressed), in chunks"""


async def read_image(
    layers: Sequence[Layer], open_layer: OpenLayer, limits: Limits = Limits()
) -> ImageContents:
    from dockyard.supplychain.sbom.layers import read_image as _read

    return await _read(layers, open_layer, limits)


def to_cyclonedx(subject: Subject, contents: ImageContents) -> bytes:
    from dockyard.supplychain.sbom.formats import to_cyclonedx as _cdx

    return _cdx(subject, contents)


def to_spdx(subject: Subject, contents: ImageContents) -> bytes:
    from dockyard.supplychain.sbom.formats import to_spdx as _spdx

    return _spdx(subject, contents)


def parse_sbom(content: bytes, media_type: str) -> ImageContents:
    """Raises ValueError (a one-line reason) for a document it cannot read."""
    from dockyard.supplychain.sbom.formats import parse_sbom as _parse

    return _parse(content, media_type)


__all__ = [
    "CYCLONEDX_JSON",
    "SBOM_MEDIA_TYPES",
    "SPDX_JSON",
    "ImageContents",
    "Layer",
    "LayerRefused",
    "Limits",
    "OpenLayer",
    "Package",
    "Subject",
    "parse_sbom",
    "read_image",
    "to_cyclonedx",
    "to_spdx",
]
