"""cosign v3's Sigstore bundle form as an OCI 1.1 referrer."""

from __future__ import annotations

import base64
import json

import pytest

from dockyard.supplychain.signatures import ArtifactKind, Reason, SignatureResult, TrustPolicy
from tests.supplychain_sig.conftest import (
    IMAGE,
    IMAGE_DIGEST,
    OTHER_IMAGE_DIGEST,
    Store,
    referrer,
    run,
    trust_keys,
)
from tests.support import signing

Keys = dict[str, signing.PrivateKey]


def _bundle_of(manifest: bytes, blobs: signing.Blobs) -> tuple[str, dict[str, object]]:
    digest = json.loads(manifest)["layers"][0]["digest"]
    return digest, json.loads(blobs[digest])


def _rebuild(bundle: dict[str, object]) -> tuple[bytes, signing.Blobs]:
    return signing.bundle_referrer(
        signing.compact_json(bundle), IMAGE_DIGEST, signing.OCI_MANIFEST, len(IMAGE), {}
    )


@pytest.mark.parametrize("kind", ["p256", "p384", "rsa2048", "ed25519"])
async def test_dsse_bundle_verifies(store: Store, keys: Keys, kind: str) -> None:
    manifest, blobs = signing.cosign_bundle_signature(
        IMAGE_DIGEST, signing.OCI_MANIFEST, len(IMAGE), keys[kind]
    )
    store.add(blobs)
    verdict = await run(store, [referrer(manifest)], trust_keys(release=keys[kind]))
    assert verdict.results == (
        SignatureResult(
            kind=ArtifactKind.COSIGN_BUNDLE,
            signature_digest=signing.sha256_digest(manifest),
            verified=True,
            signer="release",
        ),
    )


def test_generated_bundle_has_cosign_v3_shape(keys: Keys) -> None:
    manifest, blobs = signing.cosign_bundle_signature(
        IMAGE_DIGEST, signing.OCI_MANIFEST, len(IMAGE), keys["p256"]
    )
    doc = json.loads(manifest)
    assert doc["artifactType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    assert doc["config"]["mediaType"] == "application/vnd.oci.empty.v1+json"
    assert doc["subject"] == {
        "mediaType": signing.OCI_MANIFEST,
        "digest": IMAGE_DIGEST,
        "size": len(IMAGE),
    }
    assert doc["annotations"]["dev.sigstore.bundle.content"] == "dsse-envelope"
    assert doc["annotations"]["dev.sigstore.bundle.predicateType"] == signing.COSIGN_SIGN_PREDICATE
    _, bundle = _bundle_of(manifest, blobs)
    assert bundle["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    assert bundle["verificationMaterial"] == {"publicKey": {"hint": signing.key_hint(keys["p256"])}}
    envelope = bundle["dsseEnvelope"]
    assert isinstance(envelope, dict)
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert statement == {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "registry.test/project/app", "digest": {"sha256": IMAGE_DIGEST[7:]}}],
        "predicateType": "https://sigstore.dev/cosign/sign/v1",
        "predicate": {},
    }


async def test_message_signature_bundle_verifies(store: Store, keys: Keys) -> None:
    manifest, blobs = signing.cosign_bundle_signature(
        IMAGE_DIGEST, signing.OCI_MANIFEST, len(IMAGE), keys["p256"], content="message"
    )
    store.add(blobs)
    verdict = await run(store, [referrer(manifest)], trust_keys(k=keys["p256"]))
    assert verdict.signers == ("k",)


async def test_message_signature_for_another_digest(store: Store, keys: Keys) -> None:
    manifest, blobs = signing.cosign_bundle_signature(
        OTHER_IMAGE_DIGEST, signing.OCI_MANIFEST, 10, keys["p256"], content="message"
    )
    _, bundle = _bundle_of(manifest, blobs)
    manifest, blobs = _rebuild(bundle)
    store.add(blobs)
    verdict = await run(store, [referrer(manifest)], trust_keys(k=keys["p256"]))
    assert verdict.reason is Reason.OTHER_DIGEST


async def test_statement_for_another_digest(store: Store, keys: Keys) -> None:
    manifest, blobs = signing.cosign_bundle_signature(
        OTHER_IMAGE_DIGEST, signing.OCI_MANIFEST, 10, keys["p256"]
    )
    _, bundle = _bundle_of(manifest, blobs)
    manifest, blobs = _rebuild(bundle)
    store.add(blobs)
    verdict = await run(store, [referrer(manifest)], trust_keys(k=keys["p256"]))
    assert verdict.reason is Reason.OTHER_DIGEST
    assert verdict.results[0].detail == "the in-toto statement names another digest"


async def test_referrer_of_another_subject(store: Store, keys: Keys) -> None:
    manifest, blobs = signing.cosign_bundle_signature(
        OTHER_IMAGE_DIGEST, signing.OCI_MANIFEST, 10, keys["p256"]
    )
    store.add(blobs)
    verdict = await run(store, [referrer(manifest)], trust_keys(k=keys["p256"]))
    assert verdict.reason is Reason.OTHER_DIGEST


async def test_untrusted_key(store: Store, keys: Keys) -> None:
    manifest, blobs = signing.cosign_bundle_signature(
        IMAGE_DIGEST, signing.OCI_MANIFEST, len(IMAGE), keys["other"]
    )
    store.add(blobs)
    verdict = await run(store, [referrer(manifest)], trust_keys(k=keys["p256"]))
    assert verdict.reason is Reason.UNTRUSTED_KEY


async def test_no_trust(store: Store, keys: Keys) -> None:
    manifest, blobs = signing.cosign_bundle_signature(
        IMAGE_DIGEST, signing.OCI_MANIFEST, len(IMAGE), keys["p256"]
    )
    store.add(blobs)
    assert (await run(store, [referrer(manifest)], TrustPolicy())).reason is Reason.NO_TRUST


async def test_tampered_statement_hinted_at_a_trusted_key_is_invalid(
    store: Store, keys: Keys
) -> None:
    manifest, blobs = signing.cosign_bundle_signature(
        OTHER_IMAGE_DIGEST, signing.OCI_MANIFEST, 10, keys["p256"]
    )
    _, bundle = _bundle_of(manifest, blobs)
    envelope = bundle["dsseEnvelope"]
    assert isinstance(envelope, dict)
    statement = signing.intoto_statement(IMAGE_DIGEST, "registry.test/project/app")
    envelope["payload"] = base64.b64encode(statement).decode()
    manifest, blobs = _rebuild(bundle)
    store.add(blobs)
    verdict = await run(store, [referrer(manifest)], trust_keys(k=keys["p256"]))
    assert verdict.reason is Reason.INVALID_SIGNATURE
    assert verdict.results[0].detail == (
        "the signature by trusted key k does not verify (content altered)"
    )


async def test_bundle_blob_altered_in_storage(store: Store, keys: Keys) -> None:
    manifest, blobs = signing.cosign_bundle_signature(
        IMAGE_DIGEST, signing.OCI_MANIFEST, len(IMAGE), keys["p256"]
    )
    store.add(blobs)
    digest, _ = _bundle_of(manifest, blobs)
    store.blobs[digest] = store.blobs[digest][:-2] + b" }"
    verdict = await run(store, [referrer(manifest)], trust_keys(k=keys["p256"]))
    assert verdict.reason is Reason.INVALID_SIGNATURE


@pytest.mark.parametrize(
    "predicate_type",
    ["https://slsa.dev/provenance/v1", "https://cyclonedx.org/bom", "https://spdx.dev/Document"],
)
async def test_attestation_bundles_are_not_signatures(
    store: Store, keys: Keys, predicate_type: str
) -> None:
    manifest, blobs = signing.cosign_bundle_signature(
        IMAGE_DIGEST, signing.OCI_MANIFEST, len(IMAGE), keys["p256"], predicate_type=predicate_type
    )
    store.add(blobs)
    verdict = await run(store, [referrer(manifest)], trust_keys(k=keys["p256"]))
    assert verdict.results == ()
    assert verdict.reason is Reason.NO_SIGNATURE


async def test_attestation_posing_as_a_signature_in_annotations(store: Store, keys: Keys) -> None:
    """The manifest annotation claims cosign's signing predicate; the signed statement
    says provenance: no signature."""
    manifest, blobs = signing.cosign_bundle_signature(
        IMAGE_DIGEST,
        signing.OCI_MANIFEST,
        len(IMAGE),
        keys["p256"],
        statement=signing.intoto_statement(IMAGE_DIGEST, "x", "https://slsa.dev/provenance/v1"),
    )
    store.add(blobs)
    verdict = await run(store, [referrer(manifest)], trust_keys(k=keys["p256"]))
    assert verdict.results == ()


@pytest.mark.parametrize(
    ("mutate", "detail"),
    [
        (
            lambda b: b.pop("dsseEnvelope"),
            "the bundle has neither dsseEnvelope nor messageSignature",
        ),
        (lambda b: b.update(mediaType="application/x"), "unknown bundle mediaType"),
        (
            lambda b: b.pop("verificationMaterial"),
            "bundle: verificationMaterial missing or not an object",
        ),
        (lambda b: b["dsseEnvelope"].update(payload="%%%"), "DSSE payload is not valid base64"),
        (lambda b: b["dsseEnvelope"].update(signatures=[]), "DSSE envelope has no signatures"),
        (
            lambda b: b["dsseEnvelope"].update(payloadType="text/plain"),
            "DSSE payloadType 'text/plain' is not in-toto",
        ),
        (
            lambda b: b["dsseEnvelope"].update(payload=base64.b64encode(b"[]").decode()),
            "in-toto statement is not a JSON object",
        ),
    ],
)
async def test_malformed_bundles(store: Store, keys: Keys, mutate: object, detail: str) -> None:
    manifest, blobs = signing.cosign_bundle_signature(
        IMAGE_DIGEST, signing.OCI_MANIFEST, len(IMAGE), keys["p256"]
    )
    _, bundle = _bundle_of(manifest, blobs)
    assert callable(mutate)
    mutate(bundle)
    manifest, blobs = _rebuild(bundle)
    store.add(blobs)
    verdict = await run(store, [referrer(manifest)], trust_keys(k=keys["p256"]))
    assert [(r.reason, r.detail) for r in verdict.results] == [(Reason.MALFORMED, detail)]


async def test_certificate_material_with_untrusted_key(store: Store, keys: Keys) -> None:
    pki = signing.make_ca_and_leaf(keys["other"])
    statement = signing.intoto_statement(IMAGE_DIGEST, "registry.test/project/app")
    bundle = signing.sigstore_bundle(
        {"dsseEnvelope": signing.dsse_envelope(statement, [keys["other"]])},
        keys["other"],
        certificate=pki.leaf,
    )
    manifest, blobs = signing.bundle_referrer(bundle, IMAGE_DIGEST, signing.OCI_MANIFEST, 1, {})
    store.add(blobs)
    verdict = await run(store, [referrer(manifest)], trust_keys(k=keys["p256"]))
    assert verdict.reason is Reason.UNTRUSTED_KEY
    assert "keyless verification is not supported" in verdict.results[0].detail
