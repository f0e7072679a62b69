"""classify(manifest, media_type): whether a manifest is a signature, attestation or SBOM
artifact, from its own JSON only (artifactType, config media type, layer media types and
annotations; no blob is read). Cheap, bounded, never raises.

The kinds are exempt from pull policies, so a manifest is one only when all its layers are
of the kind (a runnable image with one extra simplesigning layer is an image)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from dockyard.supplychain.signatures import ArtifactKind

MAX_CLASSIFY_BYTES = 4 << 20
MAX_LAYERS_READ = 10_000

SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
BUNDLE_TYPES = frozenset(
    {
        "application/vnd.dev.sigstore.bundle.v0.3+json",
        "application/vnd.dev.sigstore.bundle+json;version=0.3",
        "application/vnd.dev.sigstore.bundle+json;version=0.2",
        "application/vnd.dev.sigstore.bundle+json;version=0.1",
    }
)
SIMPLESIGNING_TYPES = frozenset({SIMPLESIGNING})
NOTARY_SIGNATURE = "application/vnd.cncf.notary.signature"
NOTARY_ENVELOPES = frozenset({"application/jose+json", "application/cose"})
IMAGE_CONFIGS = frozenset(
    {
        "application/vnd.oci.image.config.v1+json",
        "application/vnd.docker.container.image.v1+json",
    }
)
"""configs of runnable images: an artifact declaring an SBOM type over one is not exempt"""
DSSE_TYPES = frozenset(
    {
        "application/vnd.dsse.envelope.v1+json",
        "application/vnd.in-toto+json",
    }
)
SBOM_TYPES = frozenset(
    {
        "application/vnd.cyclonedx+json",
        "application/vnd.cyclonedx+xml",
        "application/vnd.cyclonedx",
        "application/spdx+json",
        "text/spdx+json",
        "text/spdx",
        "application/vnd.syft+json",
        "application/vnd.cncf.openssf.sbom",
    }
)
COSIGN_SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"
MARKERS = (
    b"simplesigning",
    b"sigstore",
    b"notary",
    b"dsse",
    b"in-toto",
    b"spdx",
    b"cyclonedx",
    b"syft",
    b"openssf",
)
"""one of these is in every media type classify recognises (as real clients write them)"""
MANIFEST_TYPES = frozenset(
    {
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.artifact.manifest.v1+json",
        "",
    }
)


def _base(media_type: object) -> str:
    """A media type without parameters (charset, version), except the bundle's own
    `;version=` form, which names its format."""
    if not isinstance(media_type, str):
        return ""
    text = media_type.strip().lower()
    if text in BUNDLE_TYPES:
        return text
    return text.split(";", 1)[0].strip()


def _is_sbom(media_type: str) -> bool:
    return media_type in SBOM_TYPES or media_type.startswith(
        ("application/vnd.cyclonedx", "application/spdx", "text/spdx")
    )


def _classify(doc: dict[str, Any], media_type: str) -> ArtifactKind | None:
    declared = _base(doc.get("mediaType")) or _base(media_type)
    if declared not in MANIFEST_TYPES:
        return None  # an index or something else: never a signature
    artifact_type = _base(doc.get("artifactType"))
    config = doc.get("config")
    config_type = _base(config.get("mediaType")) if isinstance(config, dict) else ""
    raw_layers = doc.get("layers")
    if not isinstance(raw_layers, list):
        raw_layers = doc.get("blobs")  # the ORAS artifact manifest's name
    layers = raw_layers if isinstance(raw_layers, list) else []
    if len(layers) > MAX_LAYERS_READ:
        return None
    types = [_base(layer.get("mediaType")) if isinstance(layer, dict) else "" for layer in layers]

    def only(allowed: frozenset[str] | Callable[[str], bool]) -> bool:
        """Every layer is of these types: the exemption at pull cannot be claimed by an
        image that adds one signature-looking layer to runnable ones."""
        accept = allowed if callable(allowed) else allowed.__contains__
        return bool(types) and all(accept(t) for t in types)

    annotations = doc.get("annotations")
    predicate = (
        annotations.get("dev.sigstore.bundle.predicateType")
        if isinstance(annotations, dict)
        else None
    )
    if NOTARY_SIGNATURE in (artifact_type, config_type):
        return ArtifactKind.NOTATION if only(NOTARY_ENVELOPES) else None
    if artifact_type in BUNDLE_TYPES or any(t in BUNDLE_TYPES for t in types):
        if not only(BUNDLE_TYPES):
            return None
        if predicate in (None, COSIGN_SIGN_PREDICATE):
            return ArtifactKind.COSIGN_BUNDLE
        return ArtifactKind.ATTESTATION
    if only(SIMPLESIGNING_TYPES):
        return ArtifactKind.COSIGN
    if only(DSSE_TYPES):
        return ArtifactKind.ATTESTATION
    if only(_is_sbom) or (
        (_is_sbom(artifact_type) or _is_sbom(config_type)) and config_type not in IMAGE_CONFIGS
    ):
        return ArtifactKind.SBOM
    return None


def classify(manifest: bytes, media_type: str) -> ArtifactKind | None:
    """The artifact kind of a manifest (None: an image, an index or another artifact)."""
    if not manifest or len(manifest) > MAX_CLASSIFY_BYTES:
        return None
    if not any(marker in manifest for marker in MARKERS):
        return None  # the pull path's common case: an image, decided without parsing
    stripped = manifest.lstrip()
    if not stripped.startswith(b"{"):
        return None
    try:
        doc = json.loads(manifest)
    except (ValueError, RecursionError, UnicodeDecodeError):
        return None
    if not isinstance(doc, dict):
        return None
    try:
        return _classify(doc, media_type)
    except Exception:  # defensive: classify sits on the pull path and must never raise
        return None
