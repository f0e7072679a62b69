"""Hostile candidates and blobs: every one a bounded MALFORMED (or honest) result, never an
exception, with the work capped."""

from __future__ import annotations

import base64
import json

import cbor2
import pytest

from dockyard.supplychain.signatures import (
    ArtifactKind,
    Candidate,
    Reason,
    TrustedCertificate,
    TrustPolicy,
)
from tests.supplychain_sig.conftest import (
    IMAGE,
    IMAGE_DIGEST,
    REFERENCE,
    Store,
    referrer,
    run,
    tag_candidate,
    trust_keys,
)
from tests.support import signing

Keys = dict[str, signing.PrivateKey]


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not json",
        b"\xff\xfe\x00",
        b"[" * 50_000,
        b'{"a":' * 50_000,
        b'{"layers": ' + b"1" * 5000 + b"}",
        b"[1,2,3]",
        b'{"schemaVersion": 2}',
    ],
)
async def test_garbage_under_the_cosign_tag(store: Store, keys: Keys, content: bytes) -> None:
    verdict = await run(store, [tag_candidate(content)], trust_keys(k=keys["p256"]))
    assert [(r.kind, r.verified, r.reason) for r in verdict.results] == [
        (ArtifactKind.COSIGN, False, Reason.MALFORMED)
    ]


def _tag_manifest_with(layer: dict[str, object]) -> bytes:
    return signing.compact_json(
        {"schemaVersion": 2, "mediaType": signing.OCI_MANIFEST, "layers": [layer]}
    )


@pytest.mark.parametrize(
    ("layer", "detail"),
    [
        (
            {"mediaType": signing.SIMPLESIGNING, "digest": "sha256:xyz", "size": 1},
            "signature layer: digest missing or not a sha256/sha512 digest",
        ),
        (
            {"mediaType": signing.SIMPLESIGNING, "digest": "md5:" + "0" * 32, "size": 1},
            "signature layer: digest missing or not a sha256/sha512 digest",
        ),
        (
            {"mediaType": signing.SIMPLESIGNING, "digest": "sha256:" + "0" * 64, "size": -1},
            "signature layer: size missing or out of range",
        ),
        (
            {"mediaType": signing.SIMPLESIGNING, "digest": "sha256:" + "0" * 64, "size": 10**400},
            "signature layer: size missing or out of range",
        ),
        (
            {"mediaType": signing.SIMPLESIGNING, "digest": "sha256:" + "0" * 64, "size": True},
            "signature layer: size missing or out of range",
        ),
        (
            {
                "mediaType": signing.SIMPLESIGNING,
                "digest": "sha256:" + "0" * 64,
                "size": 1,
                "annotations": [],
            },
            "signature layer: annotations is not an object",
        ),
        (
            {
                "mediaType": signing.SIMPLESIGNING,
                "digest": "sha256:" + "0" * 64,
                "size": 2 << 20,
                "annotations": {signing.COSIGN_SIGNATURE_ANNOTATION: "AAAA"},
            },
            "payload larger than 1048576 bytes",
        ),
        (
            {
                "mediaType": signing.SIMPLESIGNING,
                "digest": "sha256:" + "0" * 64,
                "size": 10,
                "annotations": {signing.COSIGN_SIGNATURE_ANNOTATION: "AAAA"},
            },
            "payload sha256:" + "0" * 64 + " unreadable: KeyError",
        ),
        (
            {
                "mediaType": signing.SIMPLESIGNING,
                "digest": "sha256:" + "0" * 64,
                "size": 10,
                "annotations": {signing.COSIGN_SIGNATURE_ANNOTATION: "A" * 100_000},
            },
            "signature annotation too large",
        ),
    ],
)
async def test_hostile_layers(
    store: Store, keys: Keys, layer: dict[str, object], detail: str
) -> None:
    verdict = await run(
        store, [tag_candidate(_tag_manifest_with(layer))], trust_keys(k=keys["p256"])
    )
    assert [(r.reason, r.detail) for r in verdict.results] == [(Reason.MALFORMED, detail)]


async def test_blob_larger_than_storage_allows(store: Store, keys: Keys) -> None:
    huge = b"{" + b" " * (2 << 20) + b"}"
    digest = signing.sha256_digest(huge)
    store.blobs[digest] = huge
    layer = {
        "mediaType": signing.SIMPLESIGNING,
        "digest": digest,
        "size": 10,  # lies about its size
        "annotations": {signing.COSIGN_SIGNATURE_ANNOTATION: "AAAA"},
    }
    verdict = await run(
        store, [tag_candidate(_tag_manifest_with(layer))], trust_keys(k=keys["p256"])
    )
    assert verdict.results[0].reason is Reason.MALFORMED
    assert verdict.results[0].detail.endswith("unreadable: ValueError")


async def test_blob_of_another_size_than_its_descriptor(store: Store, keys: Keys) -> None:
    payload = signing.simplesigning_payload(IMAGE_DIGEST, REFERENCE)
    store.blobs[signing.sha256_digest(payload)] = payload
    layer = {
        "mediaType": signing.SIMPLESIGNING,
        "digest": signing.sha256_digest(payload),
        "size": len(payload) + 1,
        "annotations": {signing.COSIGN_SIGNATURE_ANNOTATION: "AAAA"},
    }
    verdict = await run(
        store, [tag_candidate(_tag_manifest_with(layer))], trust_keys(k=keys["p256"])
    )
    assert verdict.results[0].reason is Reason.INVALID_SIGNATURE


@pytest.mark.parametrize(
    "payload",
    [
        b'{"critical": ' * 10_000,
        b"[" * 100_000 + b"]" * 100_000,
        b'{"critical": {"type": "cosign container image signature", "image": '
        b'{"docker-manifest-digest": ' + b"7" * 5000 + b"}}}",
        b"\xff" * 100,
    ],
)
async def test_hostile_payloads(store: Store, keys: Keys, payload: bytes) -> None:
    signature = base64.b64encode(signing.cosign_sign_raw(keys["p256"], payload)).decode()
    manifest, blobs = signing.cosign_tag_manifest(
        [(payload, {signing.COSIGN_SIGNATURE_ANNOTATION: signature})]
    )
    store.add(blobs)
    verdict = await run(store, [tag_candidate(manifest)], trust_keys(k=keys["p256"]))
    assert verdict.results[0].reason is Reason.MALFORMED


async def test_layers_per_candidate_are_capped(store: Store, keys: Keys) -> None:
    payload = signing.simplesigning_payload(IMAGE_DIGEST, REFERENCE)
    annotations = {signing.COSIGN_SIGNATURE_ANNOTATION: base64.b64encode(b"x" * 64).decode()}
    manifest, blobs = signing.cosign_tag_manifest([(payload, annotations)] * 500)
    store.add(blobs)
    verdict = await run(store, [tag_candidate(manifest)], trust_keys(k=keys["p256"]))
    assert len(verdict.results) == 16
    assert len(store.reads) == 16


async def test_candidates_are_capped_and_deduplicated(store: Store, keys: Keys) -> None:
    manifest, blobs = signing.cosign_tag_signature(IMAGE_DIGEST, REFERENCE, keys["other"])
    store.add(blobs)
    same = [tag_candidate(manifest)] * 10
    verdict = await run(store, same, trust_keys(k=keys["p256"]))
    assert len(verdict.results) == 1
    many = [Candidate(f"sha256:{i:064x}", signing.OCI_MANIFEST, manifest, None) for i in range(300)]
    verdict = await run(store, many, trust_keys(k=keys["p256"]))
    assert len(verdict.results) == 64


async def test_attestations_and_sboms_add_no_result(store: Store, keys: Keys) -> None:
    attestation, blobs = signing.cosign_attestation(IMAGE_DIGEST, REFERENCE, keys["p256"])
    sbom, more = signing.sbom_referrer(
        IMAGE_DIGEST, signing.OCI_MANIFEST, 1, b"{}", "application/spdx+json"
    )
    store.add(blobs | more)
    verdict = await run(store, [referrer(attestation), referrer(sbom)], trust_keys(k=keys["p256"]))
    assert verdict.results == ()
    assert verdict.reason is Reason.NO_SIGNATURE


async def test_unrelated_referrer_adds_no_result(store: Store, keys: Keys) -> None:
    verdict = await run(store, [referrer(IMAGE), referrer(b"garbage")], trust_keys(k=keys["p256"]))
    assert verdict.results == ()


async def test_invalid_subject_digest(store: Store, keys: Keys) -> None:
    manifest, blobs = signing.cosign_tag_signature(IMAGE_DIGEST, REFERENCE, keys["p256"])
    store.add(blobs)
    verdict = await run(store, [tag_candidate(manifest)], trust_keys(k=keys["p256"]), digest="x")
    assert verdict.results == ()
    assert not verdict.signed


async def test_read_blob_failing_oddly(keys: Keys) -> None:
    from dockyard.supplychain.signatures import verify

    manifest, _ = signing.cosign_tag_signature(IMAGE_DIGEST, REFERENCE, keys["p256"])

    async def broken(digest: str, limit: int) -> bytes:
        raise RuntimeError("storage on fire")

    verdict = await verify(
        IMAGE_DIGEST, [tag_candidate(manifest)], broken, trust_keys(k=keys["p256"])
    )
    assert verdict.results[0].reason is Reason.MALFORMED
    assert verdict.results[0].detail.endswith("unreadable: RuntimeError")


def _notation_trust() -> tuple[signing.Pki, TrustPolicy]:
    pki = signing.make_ca_and_leaf()
    policy = TrustPolicy(
        notation_certificates=(TrustedCertificate("ca", signing.cert_pem(pki.root)),),
        notation_identities=("*",),
    )
    return pki, policy


@pytest.mark.parametrize(
    "envelope",
    [
        cbor2.dumps(cbor2.CBORTag(18, [b"\xa1\x01", {}, b"", b""])),
        cbor2.dumps(cbor2.CBORTag(18, [cbor2.dumps({1: -7}), {33: [b"nope"]}, b"{}", b""])),
        b"\xd2" + b"\x81" * 10_000,
        b"\xd2\x9b\x7f\xff\xff\xff\xff\xff\xff\xff",
        b"\xd2\x84\x5b\x7f\xff\xff\xff\xff\xff\xff\xff",
        cbor2.dumps(cbor2.CBORTag(18, [cbor2.dumps({1: -7, 1.5: 2}), {}, b"", b""])),
    ],
)
async def test_hostile_cose(store: Store, envelope: bytes) -> None:
    pki, policy = _notation_trust()
    manifest, blobs = signing.notation_referrer(
        envelope, signing.COSE_MEDIA_TYPE, IMAGE_DIGEST, signing.OCI_MANIFEST, 1, pki.chain
    )
    store.add(blobs)
    verdict = await run(store, [referrer(manifest)], policy)
    assert [(r.kind, r.reason) for r in verdict.results] == [
        (ArtifactKind.NOTATION, Reason.MALFORMED)
    ]


async def test_garbage_certificates_in_x5c(store: Store) -> None:
    pki, policy = _notation_trust()
    data = json.loads(
        signing.notation_jws(
            signing.notation_payload(IMAGE_DIGEST, "x", 1), pki.leaf_key, pki.chain
        )
    )
    data["header"]["x5c"] = [base64.b64encode(b"\x30\x03\x02\x01\x01").decode()]
    manifest, blobs = signing.notation_referrer(
        signing.compact_json(data), signing.JWS_MEDIA_TYPE, IMAGE_DIGEST, "x", 1, pki.chain
    )
    store.add(blobs)
    verdict = await run(store, [referrer(manifest)], policy)
    assert [(r.reason, r.detail) for r in verdict.results] == [
        (Reason.MALFORMED, "a certificate of the chain is not valid DER")
    ]


async def test_naive_now_is_taken_as_utc(store: Store, keys: Keys) -> None:
    import datetime as dt

    manifest, blobs = signing.cosign_tag_signature(IMAGE_DIGEST, REFERENCE, keys["p256"])
    store.add(blobs)
    now = dt.datetime(2030, 1, 1)
    assert (await run(store, [tag_candidate(manifest)], trust_keys(k=keys["p256"]), now)).signed


async def test_a_bug_in_a_verifier_is_a_malformed_result(
    store: Store, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dockyard.supplychain.signatures import verifier

    async def explode(*args: object) -> object:
        raise ZeroDivisionError

    monkeypatch.setattr(verifier, "verify_cosign", explode)
    manifest, blobs = signing.cosign_tag_signature(IMAGE_DIGEST, REFERENCE, keys["p256"])
    store.add(blobs)
    verdict = await run(store, [tag_candidate(manifest)], trust_keys(k=keys["p256"]))
    assert [(r.kind, r.reason, r.detail) for r in verdict.results] == [
        (ArtifactKind.COSIGN, Reason.MALFORMED, "unreadable: ZeroDivisionError")
    ]


async def test_control_characters_do_not_reach_details(store: Store) -> None:
    pki = signing.make_ca_and_leaf(leaf_subject=signing.name(C="US", CN="evil\x1b[31m\nname"))
    manifest, blobs = signing.notation_signature(
        IMAGE_DIGEST, signing.OCI_MANIFEST, len(IMAGE), pki.leaf_key, pki.chain
    )
    store.add(blobs)
    policy = TrustPolicy(
        notation_certificates=(TrustedCertificate("ca", signing.cert_pem(pki.root)),),
        notation_identities=("x509.subject: C=US, CN=good",),
    )
    verdict = await run(store, [referrer(manifest)], policy)
    assert verdict.results[0].detail == "identity C=US, CN=evil?[31m?name is not trusted"
