"""What a conversion writes, as JSON: no I/O here.

An image manifest keeps its config (the config names the layers' diff_ids, digests of
the uncompressed tars, which recompression does not change), its annotations and its
other fields; each gzip layer's descriptor becomes the zstd blob's. A Docker schema 2
manifest becomes an OCI one (Docker's media types have no zstd layer; containers/image
does the same when it writes zstd), its config descriptor typed as an OCI config (the
same bytes: a Docker config is a valid OCI config).

Indexes: the zstd variant of an image sits next to its gzip original, after it (a client
that knows nothing of zstd picks the first match for its platform), its descriptor
annotated `io.github.containers.compression.zstd: "true"`, the marking containers/image
(podman, buildah, skopeo, CRI-O) reads to prefer the zstd instance and `podman manifest
push --add-compression zstd` writes. Nothing is added to the image manifest itself:
no client reads a marking there.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from dockyard.oci import mediatypes as mt

ZSTD_LAYER = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_GZIP_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_GZIP_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
GZIP_LAYERS = frozenset({OCI_GZIP_LAYER, DOCKER_GZIP_LAYER})
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
ZSTD_ANNOTATION = "io.github.containers.compression.zstd"
"""containers/image's OCI1InstanceAnnotationCompressionZSTD (internal/manifest/oci_index.go)"""

# Docker layer types an OCI manifest names otherwise
_DOCKER_TO_OCI = {
    "application/vnd.docker.image.rootfs.diff.tar": "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip": (
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
    ),
    DOCKER_GZIP_LAYER: OCI_GZIP_LAYER,
}
# annotations that describe a gzip blob's inside (eStargz's table of contents): wrong
# for the zstd blob, so they do not follow it
_GZIP_ONLY_PREFIXES = ("containerd.io/snapshot/stargz/", "io.containers.estargz.")


class NotConvertible(Exception):
    """The manifest cannot be converted (the message says why)."""


def dumps(doc: Mapping[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def load(content: bytes) -> dict[str, Any]:
    doc = json.loads(content)
    if not isinstance(doc, dict):
        raise NotConvertible("the manifest is not a JSON object")
    return doc


def is_foreign(layer: Mapping[str, Any]) -> bool:
    return layer.get("mediaType") in mt.FOREIGN_LAYERS or bool(layer.get("urls"))


def to_convert(doc: Mapping[str, Any]) -> list[int]:
    """Indexes of the layers to recompress: gzip ones kept in this registry."""
    layers = doc.get("layers")
    if not isinstance(layers, list):
        raise NotConvertible("the manifest has no layers list")
    return [
        i
        for i, layer in enumerate(layers)
        if isinstance(layer, dict)
        and layer.get("mediaType") in GZIP_LAYERS
        and not is_foreign(layer)
    ]


def diff_ids(config: bytes) -> list[str]:
    try:
        found = json.loads(config)["rootfs"]["diff_ids"]
    except (ValueError, KeyError, TypeError):
        raise NotConvertible("the image config has no rootfs.diff_ids") from None
    if not isinstance(found, list) or not all(isinstance(d, str) for d in found):
        raise NotConvertible("the image config's rootfs.diff_ids is not a list of digests")
    return found


def platform_of(config: bytes) -> dict[str, Any]:
    """The platform an index descriptor gives for an image with this config."""
    try:
        doc = json.loads(config)
    except ValueError:
        raise NotConvertible("the image config is not JSON") from None
    platform: dict[str, Any] = {}
    for key in ("architecture", "os", "os.version", "variant"):
        if isinstance(doc.get(key), str) and doc[key]:
            platform[key] = doc[key]
    if "os" not in platform or "architecture" not in platform:
        raise NotConvertible("the image config names no os and architecture")
    return platform


def zstd_layer(old: Mapping[str, Any], digest: str, size: int) -> dict[str, Any]:
    new: dict[str, Any] = {"mediaType": ZSTD_LAYER, "digest": digest, "size": size}
    annotations = {
        k: v
        for k, v in (old.get("annotations") or {}).items()
        if not k.startswith(_GZIP_ONLY_PREFIXES)
    }
    if annotations:
        new["annotations"] = annotations
    return new


def rewrite(
    doc: Mapping[str, Any], media_type: str, replaced: Mapping[int, dict[str, Any]]
) -> tuple[bytes, str]:
    """The manifest with the layers at `replaced` swapped; its bytes and media type."""
    out = dict(doc)
    layers = [dict(x) for x in doc["layers"]]
    for i, layer in replaced.items():
        layers[i] = layer
    if media_type == mt.DOCKER_MANIFEST:
        out["mediaType"] = mt.OCI_MANIFEST
        config = dict(doc["config"])
        if config.get("mediaType") == DOCKER_CONFIG:
            config["mediaType"] = OCI_CONFIG
        out["config"] = config
        for layer in layers:
            layer["mediaType"] = _DOCKER_TO_OCI.get(layer["mediaType"], layer["mediaType"])
        media_type = mt.OCI_MANIFEST
    out["layers"] = layers
    return dumps(out), media_type


def descriptor(
    media_type: str,
    digest: str,
    size: int,
    platform: Mapping[str, Any] | None,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    found: dict[str, Any] = {"mediaType": media_type, "digest": digest, "size": size}
    if platform:
        found["platform"] = dict(platform)
    if annotations:
        found["annotations"] = dict(annotations)
    return found


def zstd_descriptor(
    original: Mapping[str, Any], media_type: str, digest: str, size: int
) -> dict[str, Any]:
    """The zstd variant's index entry: the original's platform and annotations, marked."""
    annotations = {**(original.get("annotations") or {}), ZSTD_ANNOTATION: "true"}
    return descriptor(media_type, digest, size, original.get("platform"), annotations)


def is_zstd_variant(entry: Mapping[str, Any]) -> bool:
    return (entry.get("annotations") or {}).get(ZSTD_ANNOTATION) == "true"


def convertible_child(entry: Mapping[str, Any]) -> bool:
    """An index entry this conversion recompresses: an image for a real platform (not
    an attestation manifest, whose platform is unknown/unknown), not a zstd variant."""
    platform = entry.get("platform") or {}
    return (
        entry.get("mediaType") in mt.IMAGE_MANIFESTS
        and not is_zstd_variant(entry)
        and platform.get("os") not in (None, "unknown")
    )


def new_index(
    doc: Mapping[str, Any] | None,
    entries: Sequence[dict[str, Any]],
    media_type: str = mt.OCI_INDEX,
) -> tuple[bytes, str]:
    """An index of `entries`, keeping `doc`'s other fields (its annotations, …); a
    Docker manifest list becomes an OCI index (its entries keep their own types)."""
    out: dict[str, Any] = dict(doc) if doc is not None else {"schemaVersion": 2}
    out["mediaType"] = media_type
    out["manifests"] = list(entries)
    return dumps(out), media_type
