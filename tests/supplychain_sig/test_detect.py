"""classify(): signatures, attestations and SBOMs told from images, cheaply, never raising."""

from __future__ import annotations

import json

import pytest

from dockyard.supplychain.signatures import ArtifactKind, classify
from tests.supplychain_sig.conftest import IMAGE, IMAGE_DIGEST, REFERENCE
from tests.support import signing

Keys = dict[str, signing.PrivateKey]


def test_cosign_tag_signature(keys: Keys) -> None:
    manifest, _ = signing.cosign_tag_signature(IMAGE_DIGEST, REFERENCE, keys["p256"])
    assert classify(manifest, signing.OCI_MANIFEST) is ArtifactKind.COSIGN


def test_cosign_bundle_signature_and_attestation(keys: Keys) -> None:
    manifest, _ = signing.cosign_bundle_signature(
        IMAGE_DIGEST, signing.OCI_MANIFEST, 1, keys["p256"]
    )
    assert classify(manifest, signing.OCI_MANIFEST) is ArtifactKind.COSIGN_BUNDLE
    manifest, _ = signing.cosign_bundle_signature(
        IMAGE_DIGEST, signing.OCI_MANIFEST, 1, keys["p256"], content="message"
    )
    assert classify(manifest, signing.OCI_MANIFEST) is ArtifactKind.COSIGN_BUNDLE
    manifest, _ = signing.cosign_bundle_signature(
        IMAGE_DIGEST,
        signing.OCI_MANIFEST,
        1,
        keys["p256"],
        predicate_type="https://slsa.dev/provenance/v1",
    )
    assert classify(manifest, signing.OCI_MANIFEST) is ArtifactKind.ATTESTATION


def test_cosign_attestation_tag_form(keys: Keys) -> None:
    manifest, blobs = signing.cosign_attestation(IMAGE_DIGEST, REFERENCE, keys["p256"])
    assert classify(manifest, signing.OCI_MANIFEST) is ArtifactKind.ATTESTATION
    layer = json.loads(manifest)["layers"][0]
    assert layer["mediaType"] == "application/vnd.dsse.envelope.v1+json"
    assert layer["annotations"] == {"predicateType": "https://slsa.dev/provenance/v1"}
    envelope = json.loads(blobs[layer["digest"]])
    assert envelope["payloadType"] == "application/vnd.in-toto+json"


@pytest.mark.parametrize("envelope", ["jws", "cose"])
@pytest.mark.parametrize("config_form", [False, True])
def test_notation(envelope: str, config_form: bool) -> None:
    pki = signing.make_ca_and_leaf()
    manifest, _ = signing.notation_signature(
        IMAGE_DIGEST,
        signing.OCI_MANIFEST,
        1,
        pki.leaf_key,
        pki.chain,
        envelope,  # type: ignore[arg-type]
        config_form=config_form,
    )
    assert classify(manifest, signing.OCI_MANIFEST) is ArtifactKind.NOTATION


@pytest.mark.parametrize(
    "kind",
    [
        "application/vnd.cyclonedx+json",
        "application/spdx+json",
        "text/spdx+json",
        "application/vnd.cyclonedx+json; version=1.6",
    ],
)
def test_sbom_referrers(kind: str) -> None:
    manifest, _ = signing.sbom_referrer(IMAGE_DIGEST, signing.OCI_MANIFEST, 1, b"{}", kind)
    assert classify(manifest, signing.OCI_MANIFEST) is ArtifactKind.SBOM


def test_cosign_sbom_tag_form() -> None:
    """`cosign attach sbom` pushes an image manifest whose layer is the SBOM."""
    manifest = signing.compact_json(
        {
            "schemaVersion": 2,
            "mediaType": signing.OCI_MANIFEST,
            "config": {"mediaType": signing.OCI_CONFIG, "digest": "sha256:" + "0" * 64, "size": 2},
            "layers": [{"mediaType": "text/spdx+json", "digest": "sha256:" + "1" * 64, "size": 10}],
        }
    )
    assert classify(manifest, signing.OCI_MANIFEST) is ArtifactKind.SBOM


def test_images_and_indexes_are_not_artifacts() -> None:
    assert classify(IMAGE, signing.OCI_MANIFEST) is None
    image = signing.compact_json(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json"},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip"}],
        }
    )
    assert classify(image, "application/vnd.docker.distribution.manifest.v2+json") is None
    index = signing.compact_json(
        {
            "schemaVersion": 2,
            "mediaType": signing.OCI_INDEX,
            "manifests": [{"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json"}],
        }
    )
    assert classify(index, signing.OCI_INDEX) is None
    helm = signing.compact_json(
        {
            "schemaVersion": 2,
            "config": {"mediaType": "application/vnd.cncf.helm.config.v1+json"},
            "layers": [{"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip"}],
        }
    )
    assert classify(helm, signing.OCI_MANIFEST) is None


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\xff\xfe",
        b"[]",
        b"null",
        b"{" * 100_000,
        b"[" * 100_000 + b"]" * 100_000,
        b'{"layers": 5, "config": [], "mediaType": 7}',
        b'{"layers": [1, null, {"mediaType": 3}], "artifactType": {}}',
        b'{"size": ' + b"9" * 10_000 + b"}",
        b" " * (5 << 20),
    ],
)
def test_hostile_manifests_never_raise(content: bytes) -> None:
    assert classify(content, signing.OCI_MANIFEST) is None


def test_odd_annotations_still_classify() -> None:
    content = signing.compact_json(
        {
            "annotations": [],
            "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "layers": [{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}],
        }
    )
    assert classify(content, signing.OCI_MANIFEST) is ArtifactKind.COSIGN_BUNDLE


RUNNABLE_LAYER = {
    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
    "digest": "sha256:" + "2" * 64,
    "size": 100,
}


@pytest.mark.parametrize(
    ("artifact_type", "config_type", "extra"),
    [
        (None, signing.OCI_CONFIG, signing.SIMPLESIGNING),
        (None, signing.OCI_CONFIG, "application/vnd.dsse.envelope.v1+json"),
        (None, signing.OCI_CONFIG, "application/spdx+json"),
        (signing.NOTARY_SIGNATURE, signing.OCI_CONFIG, "application/jose+json"),
        (signing.BUNDLE_V03, signing.OCI_CONFIG, signing.BUNDLE_V03),
        ("application/vnd.cyclonedx+json", signing.OCI_CONFIG, None),
        (None, "application/vnd.docker.container.image.v1+json", "text/spdx+json"),
    ],
)
def test_runnable_images_cannot_pose_as_exempt_artifacts(
    artifact_type: str | None, config_type: str, extra: str | None
) -> None:
    """Pull policies exempt signatures, attestations and SBOMs: an image that adds one
    such layer (or declares such an artifactType) over runnable layers stays an image."""
    layers: list[dict[str, object]] = [RUNNABLE_LAYER]
    if extra is not None:
        layers.append({"mediaType": extra, "digest": "sha256:" + "3" * 64, "size": 10})
    doc: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": signing.OCI_MANIFEST,
        "config": {"mediaType": config_type, "digest": "sha256:" + "1" * 64, "size": 2},
        "layers": layers,
    }
    if artifact_type is not None:
        doc["artifactType"] = artifact_type
    assert classify(signing.compact_json(doc), signing.OCI_MANIFEST) is None


def test_sbom_declared_by_artifact_type_over_an_empty_config() -> None:
    """`oras attach --artifact-type application/spdx+json` with a file of the default
    layer type is an SBOM artifact (its config is the empty descriptor)."""
    doc = {
        "schemaVersion": 2,
        "mediaType": signing.OCI_MANIFEST,
        "artifactType": "application/spdx+json",
        "config": {"mediaType": signing.OCI_EMPTY, "digest": "sha256:" + "4" * 64, "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "size": 5}],
    }
    assert classify(signing.compact_json(doc), signing.OCI_MANIFEST) is ArtifactKind.SBOM
