"""cosign's tag form: `sha256-<hex>.sig` manifests with simplesigning layers."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from dockyard.supplychain.signatures import (
    ArtifactKind,
    Reason,
    SignatureResult,
    TrustedKey,
    TrustPolicy,
)
from tests.supplychain_sig.conftest import (
    IMAGE_DIGEST,
    OTHER_IMAGE_DIGEST,
    REFERENCE,
    Store,
    referrer,
    run,
    tag_candidate,
    trust_keys,
)
from tests.support import signing

Keys = dict[str, signing.PrivateKey]


@pytest.mark.parametrize("kind", ["p256", "p384", "p521", "rsa2048", "rsa3072", "ed25519"])
async def test_valid_signature_verifies_with_each_key_type(
    store: Store, keys: Keys, kind: str
) -> None:
    manifest, blobs = signing.cosign_tag_signature(IMAGE_DIGEST, REFERENCE, keys[kind])
    store.add(blobs)
    verdict = await run(store, [tag_candidate(manifest)], trust_keys(release=keys[kind]))
    assert verdict.signed
    assert verdict.signers == ("release",)
    assert verdict.results == (
        SignatureResult(
            kind=ArtifactKind.COSIGN,
            signature_digest=signing.sha256_digest(manifest),
            verified=True,
            signer="release",
        ),
    )


async def test_p384_signed_with_sha256_as_cosign_v2_did(store: Store, keys: Keys) -> None:
    key = keys["p384"]
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    payload = signing.simplesigning_payload(IMAGE_DIGEST, REFERENCE)
    signature = key.sign(payload, ec.ECDSA(hashes.SHA256()))
    manifest, blobs = signing.cosign_tag_manifest(
        [(payload, {signing.COSIGN_SIGNATURE_ANNOTATION: base64.b64encode(signature).decode()})]
    )
    store.add(blobs)
    verdict = await run(store, [tag_candidate(manifest)], trust_keys(k=key))
    assert verdict.signers == ("k",)


async def test_rsa_pss_signature_verifies(store: Store, keys: Keys) -> None:
    key = keys["rsa2048"]
    assert isinstance(key, rsa.RSAPrivateKey)
    payload = signing.simplesigning_payload(IMAGE_DIGEST, REFERENCE)
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    signature = key.sign(payload, pss, hashes.SHA256())
    manifest, blobs = signing.cosign_tag_manifest(
        [(payload, {signing.COSIGN_SIGNATURE_ANNOTATION: base64.b64encode(signature).decode()})]
    )
    store.add(blobs)
    assert (await run(store, [tag_candidate(manifest)], trust_keys(k=key))).signed


async def test_no_candidates_is_no_signature(store: Store, keys: Keys) -> None:
    verdict = await run(store, [], trust_keys(k=keys["p256"]))
    assert not verdict.signed
    assert verdict.results == ()
    assert verdict.reason is Reason.NO_SIGNATURE


async def test_untrusted_key(store: Store, keys: Keys) -> None:
    manifest, blobs = signing.cosign_tag_signature(IMAGE_DIGEST, REFERENCE, keys["other"])
    store.add(blobs)
    verdict = await run(store, [tag_candidate(manifest)], trust_keys(k=keys["p256"]))
    assert not verdict.signed
    assert verdict.reason is Reason.UNTRUSTED_KEY
    assert [r.reason for r in verdict.results] == [Reason.UNTRUSTED_KEY]


async def test_no_trusted_keys_is_no_trust(store: Store, keys: Keys) -> None:
    manifest, blobs = signing.cosign_tag_signature(IMAGE_DIGEST, REFERENCE, keys["p256"])
    store.add(blobs)
    verdict = await run(store, [tag_candidate(manifest)], TrustPolicy())
    assert verdict.reason is Reason.NO_TRUST


async def test_signature_copied_from_another_image(store: Store, keys: Keys) -> None:
    manifest, blobs = signing.cosign_tag_signature(OTHER_IMAGE_DIGEST, REFERENCE, keys["p256"])
    store.add(blobs)
    verdict = await run(store, [tag_candidate(manifest)], trust_keys(k=keys["p256"]))
    assert not verdict.signed
    assert verdict.reason is Reason.OTHER_DIGEST
    assert OTHER_IMAGE_DIGEST in verdict.results[0].detail


async def test_payload_blob_altered_in_storage(store: Store, keys: Keys) -> None:
    manifest, blobs = signing.cosign_tag_signature(IMAGE_DIGEST, REFERENCE, keys["p256"])
    store.add(blobs)
    payload_digest = json.loads(manifest)["layers"][0]["digest"]
    store.blobs[payload_digest] = store.blobs[payload_digest].replace(b"app", b"apq")
    verdict = await run(store, [tag_candidate(manifest)], trust_keys(k=keys["p256"]))
    assert verdict.reason is Reason.INVALID_SIGNATURE
    assert verdict.results[0].detail == "payload does not match its digest"


def _retargeted(key: signing.PrivateKey, new_payload: bytes) -> tuple[bytes, signing.Blobs]:
    """A real signature of one payload moved onto another payload (descriptor updated)."""
    original = signing.simplesigning_payload(IMAGE_DIGEST, "registry.test/project/other")
    signature = base64.b64encode(signing.cosign_sign_raw(key, original)).decode()
    return signing.cosign_tag_manifest(
        [(new_payload, {signing.COSIGN_SIGNATURE_ANNOTATION: signature})]
    )


async def test_tampered_payload_with_rsa_key_is_invalid(store: Store, keys: Keys) -> None:
    payload = signing.simplesigning_payload(IMAGE_DIGEST, REFERENCE)
    manifest, blobs = _retargeted(keys["rsa2048"], payload)
    store.add(blobs)
    verdict = await run(store, [tag_candidate(manifest)], trust_keys(k=keys["rsa2048"]))
    assert verdict.reason is Reason.INVALID_SIGNATURE
    assert "trusted key k" in verdict.results[0].detail


async def test_tampered_payload_with_ecdsa_key_cannot_be_told_from_another_key(
    store: Store, keys: Keys
) -> None:
    payload = signing.simplesigning_payload(IMAGE_DIGEST, REFERENCE)
    manifest, blobs = _retargeted(keys["p256"], payload)
    store.add(blobs)
    verdict = await run(store, [tag_candidate(manifest)], trust_keys(k=keys["p256"]))
    assert not verdict.signed
    assert verdict.reason is Reason.UNTRUSTED_KEY


async def test_tampered_payload_with_certificate_is_invalid(store: Store, keys: Keys) -> None:
    pki = signing.make_ca_and_leaf(keys["other"])
    payload = signing.simplesigning_payload(IMAGE_DIGEST, REFERENCE)
    original = signing.simplesigning_payload(IMAGE_DIGEST, "registry.test/x")
    signature = base64.b64encode(signing.cosign_sign_raw(keys["other"], original)).decode()
    manifest, blobs = signing.cosign_tag_manifest(
        [
            (
                payload,
                {
                    signing.COSIGN_SIGNATURE_ANNOTATION: signature,
                    signing.COSIGN_CERTIFICATE_ANNOTATION: signing.cert_pem(pki.leaf),
                },
            )
        ]
    )
    store.add(blobs)
    verdict = await run(store, [tag_candidate(manifest)], trust_keys(k=keys["p256"]))
    assert verdict.reason is Reason.INVALID_SIGNATURE


async def test_valid_under_untrusted_certificate(store: Store, keys: Keys) -> None:
    pki = signing.make_ca_and_leaf(keys["other"])
    manifest, blobs = signing.cosign_tag_signature(
        IMAGE_DIGEST, REFERENCE, keys["other"], certificate=pki.leaf, chain=[pki.root]
    )
    store.add(blobs)
    verdict = await run(store, [tag_candidate(manifest)], trust_keys(k=keys["p256"]))
    assert verdict.reason is Reason.UNTRUSTED_KEY
    assert "certificate" in verdict.results[0].detail


async def test_certificate_whose_key_is_trusted_verifies(store: Store, keys: Keys) -> None:
    pki = signing.make_ca_and_leaf(keys["p256"])
    manifest, blobs = signing.cosign_tag_signature(
        IMAGE_DIGEST, REFERENCE, keys["p256"], certificate=pki.leaf
    )
    store.add(blobs)
    verdict = await run(store, [tag_candidate(manifest)], trust_keys(k=keys["p256"]))
    assert verdict.signers == ("k",)


@pytest.mark.parametrize(
    ("annotations", "detail"),
    [
        ({}, "the layer has no dev.cosignproject.cosign/signature annotation"),
        (
            {"dev.cosignproject.cosign/sig": "MEUCIQ=="},
            "the layer has no dev.cosignproject.cosign/signature annotation",
        ),
        (
            {signing.COSIGN_SIGNATURE_ANNOTATION: "not base64!"},
            "signature annotation is not valid base64",
        ),
        (
            {
                signing.COSIGN_SIGNATURE_ANNOTATION: "AAAA",
                signing.COSIGN_CERTIFICATE_ANNOTATION: "-----BEGIN CERTIFICATE-----\nxx\n",
            },
            "certificate annotation is not a PEM certificate",
        ),
    ],
)
async def test_missing_or_wrong_annotation_is_malformed(
    store: Store, keys: Keys, annotations: dict[str, str], detail: str
) -> None:
    payload = signing.simplesigning_payload(IMAGE_DIGEST, REFERENCE)
    manifest, blobs = signing.cosign_tag_manifest([(payload, annotations)])
    store.add(blobs)
    verdict = await run(store, [tag_candidate(manifest)], trust_keys(k=keys["p256"]))
    assert [(r.reason, r.detail) for r in verdict.results] == [(Reason.MALFORMED, detail)]


async def test_garbage_signature_bytes_are_untrusted(store: Store, keys: Keys) -> None:
    payload = signing.simplesigning_payload(IMAGE_DIGEST, REFERENCE)
    manifest, blobs = signing.cosign_tag_manifest(
        [(payload, {signing.COSIGN_SIGNATURE_ANNOTATION: base64.b64encode(b"\x00" * 70).decode()})]
    )
    store.add(blobs)
    verdict = await run(store, [tag_candidate(manifest)], trust_keys(k=keys["p256"]))
    assert verdict.reason is Reason.UNTRUSTED_KEY


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        (b'{"critical":{"type":"something else","image":{}}}', "critical.type is not"),
        (
            b'{"critical":{"type":"cosign container image signature"}}',
            "critical.image missing",
        ),
        (
            b'{"critical":{"type":"cosign container image signature","image":{"x":1}}}',
            "critical.image.docker-manifest-digest missing",
        ),
        (b'{"optional":{}}', "simplesigning payload: critical missing or not an object"),
        (b"[1,2]", "simplesigning payload is not a JSON object"),
    ],
)
async def test_wrong_payload_shape_is_malformed(
    store: Store, keys: Keys, payload: bytes, detail: str
) -> None:
    signature = base64.b64encode(signing.cosign_sign_raw(keys["p256"], payload)).decode()
    manifest, blobs = signing.cosign_tag_manifest(
        [(payload, {signing.COSIGN_SIGNATURE_ANNOTATION: signature})]
    )
    store.add(blobs)
    verdict = await run(store, [tag_candidate(manifest)], trust_keys(k=keys["p256"]))
    assert verdict.results[0].reason is Reason.MALFORMED
    assert verdict.results[0].detail.startswith(detail)


async def test_spec_spelling_of_the_digest_key_and_timestamp(store: Store, keys: Keys) -> None:
    payload = signing.compact_json(
        {
            "critical": {
                "identity": {"docker-reference": REFERENCE},
                "image": {"Docker-manifest-digest": IMAGE_DIGEST},
                "type": "cosign container image signature",
            },
            "optional": {"creator": "atomic", "timestamp": 1458239713},
        }
    )
    signature = base64.b64encode(signing.cosign_sign_raw(keys["p256"], payload)).decode()
    manifest, blobs = signing.cosign_tag_manifest(
        [(payload, {signing.COSIGN_SIGNATURE_ANNOTATION: signature})]
    )
    store.add(blobs)
    verdict = await run(store, [tag_candidate(manifest)], trust_keys(k=keys["p256"]))
    assert verdict.signed
    assert verdict.results[0].signed_at is not None
    assert verdict.results[0].signed_at.isoformat() == "2016-03-17T18:35:13+00:00"


async def test_one_result_per_layer_and_any_trusted_one_signs(store: Store, keys: Keys) -> None:
    manifest, blobs = signing.cosign_tag_signature(
        IMAGE_DIGEST, REFERENCE, [keys["other"], keys["ed25519"], keys["rsa2048"]]
    )
    store.add(blobs)
    trust = trust_keys(edge=keys["ed25519"], legacy=keys["rsa2048"])
    verdict = await run(store, [tag_candidate(manifest)], trust)
    assert [(r.verified, r.signer, r.reason) for r in verdict.results] == [
        (False, None, Reason.UNTRUSTED_KEY),
        (True, "edge", None),
        (True, "legacy", None),
    ]
    assert verdict.signers == ("edge", "legacy")


async def test_referrer_form_with_subject(store: Store, keys: Keys) -> None:
    """cosign's OCI 1.1 experimental mode pushes the same manifest as a referrer."""
    manifest, blobs = signing.cosign_tag_signature(IMAGE_DIGEST, REFERENCE, keys["p256"])
    doc = json.loads(manifest)
    doc["artifactType"] = "application/vnd.dev.cosign.artifact.sig.v1+json"
    doc["subject"] = {"mediaType": signing.OCI_MANIFEST, "digest": IMAGE_DIGEST, "size": 10}
    store.add(blobs)
    ok = signing.compact_json(doc)
    assert (await run(store, [referrer(ok)], trust_keys(k=keys["p256"]))).signed
    doc["subject"]["digest"] = OTHER_IMAGE_DIGEST
    moved = signing.compact_json(doc)
    verdict = await run(store, [referrer(moved)], trust_keys(k=keys["p256"]))
    assert verdict.reason is Reason.OTHER_DIGEST


async def test_unparsable_trusted_keys_are_skipped(store: Store, keys: Keys) -> None:
    manifest, blobs = signing.cosign_tag_signature(IMAGE_DIGEST, REFERENCE, keys["p256"])
    store.add(blobs)
    trust = TrustPolicy(
        keys=(
            TrustedKey("junk", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
            TrustedKey("good", signing.public_pem(keys["p256"])),
        )
    )
    assert (await run(store, [tag_candidate(manifest)], trust)).signers == ("good",)


async def test_blobs_are_read_with_a_small_limit(store: Store, keys: Keys) -> None:
    manifest, blobs = signing.cosign_tag_signature(IMAGE_DIGEST, REFERENCE, keys["p256"])
    store.add(blobs)
    await run(store, [tag_candidate(manifest)], trust_keys(k=keys["p256"]))
    payload_digest = json.loads(manifest)["layers"][0]["digest"]
    assert store.reads == [(payload_digest, 1 << 20)]


def test_ed25519ph_matches_rfc8032() -> None:
    """RFC 8032 §7.3's Ed25519ph test vector, through both the maker and the verifier."""
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from dockyard.supplychain.signatures.keys import ed25519ph_verify

    seed = bytes.fromhex("833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42")
    key = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    expected = bytes.fromhex(
        "98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae41"
        "31f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406"
    )
    assert signing.ed25519ph_sign(key, b"abc") == expected
    assert ed25519ph_verify(key.public_key(), expected, b"abc")
    assert not ed25519ph_verify(key.public_key(), expected, b"abd")
    assert not ed25519ph_verify(key.public_key(), expected[:63], b"abc")


@pytest.mark.parametrize("pure", [True, False])
async def test_ed25519_pure_and_prehashed(store: Store, keys: Keys, pure: bool) -> None:
    payload = signing.simplesigning_payload(IMAGE_DIGEST, REFERENCE)
    raw = signing.cosign_sign_raw(keys["ed25519"], payload, pure_ed25519=pure)
    manifest, blobs = signing.cosign_tag_manifest(
        [(payload, {signing.COSIGN_SIGNATURE_ANNOTATION: base64.b64encode(raw).decode()})]
    )
    store.add(blobs)
    verdict = await run(store, [tag_candidate(manifest)], trust_keys(k=keys["ed25519"]))
    assert verdict.signers == ("k",)


async def test_certificate_signature_with_only_keyless_identities(store: Store, keys: Keys) -> None:
    """Keyless (Fulcio/Rekor) verification is not implemented: a certificate signature is
    reported as signed by a key that is not trusted, not as 'nothing configured'."""
    from dockyard.supplychain.signatures import KeylessIdentity

    pki = signing.make_ca_and_leaf(keys["other"])
    manifest, blobs = signing.cosign_tag_signature(
        IMAGE_DIGEST, REFERENCE, keys["other"], certificate=pki.leaf
    )
    store.add(blobs)
    trust = TrustPolicy(keyless=(KeylessIdentity("https://issuer.test", "dev@example.com"),))
    verdict = await run(store, [tag_candidate(manifest)], trust)
    assert verdict.reason is Reason.UNTRUSTED_KEY
    assert "keyless verification is not supported" in verdict.results[0].detail


def test_payload_and_config_are_byte_exact_as_cosign_writes_them() -> None:
    payload = signing.simplesigning_payload("sha256:" + "a" * 64, "registry.test/app")
    assert payload == (
        b'{"critical":{"identity":{"docker-reference":"registry.test/app"},"image":'
        b'{"docker-manifest-digest":"sha256:' + b"a" * 64 + b'"},"type":'
        b'"cosign container image signature"},"optional":null}'
    )
    key = signing.generate_key("p256")
    manifest, blobs = signing.cosign_tag_signature("sha256:" + "a" * 64, "registry.test/app", key)
    doc = json.loads(manifest)
    config = blobs[doc["config"]["digest"]]
    assert config == (
        b'{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":'
        b'"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":["'
        + signing.sha256_digest(payload).encode()
        + b'"]},"config":{}}'
    )
    assert doc["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    assert [layer["mediaType"] for layer in doc["layers"]] == [signing.SIMPLESIGNING]


async def test_go_style_capitalised_payload_keys(store: Store, keys: Keys) -> None:
    """Go's encoding/json matches field names case-insensitively (old cosign wrote
    Critical/Image/Type)."""
    payload = signing.compact_json(
        {
            "Critical": {
                "Identity": {"docker-reference": ""},
                "Image": {"Docker-manifest-digest": IMAGE_DIGEST},
                "Type": "cosign container image signature",
            },
            "Optional": None,
        }
    )
    signature = base64.b64encode(signing.cosign_sign_raw(keys["p256"], payload)).decode()
    manifest, blobs = signing.cosign_tag_manifest(
        [(payload, {signing.COSIGN_SIGNATURE_ANNOTATION: signature})]
    )
    store.add(blobs)
    assert (await run(store, [tag_candidate(manifest)], trust_keys(k=keys["p256"]))).signed
