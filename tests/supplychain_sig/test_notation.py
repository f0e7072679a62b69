"""notation signatures: JWS and COSE envelopes, x509 chains, trusted identities."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Literal

import cbor2
import pytest

from dockyard.supplychain.signatures import (
    ArtifactKind,
    Reason,
    TrustedCertificate,
    TrustPolicy,
)
from tests.supplychain_sig.conftest import (
    IMAGE,
    IMAGE_DIGEST,
    OTHER_IMAGE_DIGEST,
    Store,
    referrer,
    run,
)
from tests.support import signing

Keys = dict[str, signing.PrivateKey]
Envelope = Literal["jws", "cose"]
ENVELOPES: list[Envelope] = ["jws", "cose"]
IDENTITY = "SecureBuilder"
LEAF_DN = "C=US, ST=WA, L=Seattle, O=acme-rockets.io, OU=Finance, CN=SecureBuilder"
NOW = dt.datetime.now(dt.UTC)


def trust(pki: signing.Pki, identities: tuple[str, ...] = ("*",)) -> TrustPolicy:
    return TrustPolicy(
        notation_certificates=(TrustedCertificate("acme-ca", signing.cert_pem(pki.root)),),
        notation_identities=identities,
    )


def sign(
    pki: signing.Pki,
    envelope: Envelope,
    digest: str = IMAGE_DIGEST,
    **options: object,
) -> tuple[bytes, signing.Blobs]:
    return signing.notation_signature(
        digest,
        signing.OCI_MANIFEST,
        len(IMAGE),
        pki.leaf_key,
        pki.chain,
        envelope,
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def pki() -> signing.Pki:
    return signing.make_ca_and_leaf(signing.generate_key("p256"), intermediates=1)


@pytest.mark.parametrize("envelope", ENVELOPES)
@pytest.mark.parametrize("kind", ["p256", "p384", "rsa2048", "rsa3072"])
async def test_valid_signature(store: Store, keys: Keys, envelope: Envelope, kind: str) -> None:
    pki = signing.make_ca_and_leaf(keys[kind])
    signing_time = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.UTC)
    manifest, blobs = sign(pki, envelope, signing_time=signing_time)
    store.add(blobs)
    verdict = await run(store, [referrer(manifest)], trust(pki))
    assert verdict.signed, verdict.results
    (result,) = verdict.results
    assert result.kind is ArtifactKind.NOTATION
    assert result.signature_digest == signing.sha256_digest(manifest)
    assert result.signer == LEAF_DN
    assert result.detail == "chains to acme-ca"
    assert result.signed_at == signing_time


@pytest.mark.parametrize("envelope", ENVELOPES)
async def test_with_intermediate_and_old_config_form(
    store: Store, pki: signing.Pki, envelope: Envelope
) -> None:
    manifest, blobs = sign(pki, envelope, config_form=True)
    assert json.loads(manifest)["config"]["mediaType"] == "application/vnd.cncf.notary.signature"
    store.add(blobs)
    assert (await run(store, [referrer(manifest)], trust(pki))).signers == (LEAF_DN,)


@pytest.mark.parametrize(
    "identity",
    [
        "x509.subject: " + LEAF_DN,
        "x509.subject: C=US, ST=WA, O=acme-rockets.io",
        "x509.subject:CN=SecureBuilder,O=acme-rockets.io,C=US,ST=WA",
        "*",
    ],
)
async def test_trusted_identity_matches(store: Store, pki: signing.Pki, identity: str) -> None:
    manifest, blobs = sign(pki, "jws")
    store.add(blobs)
    assert (await run(store, [referrer(manifest)], trust(pki, (identity,)))).signed


@pytest.mark.parametrize(
    "identity",
    [
        "x509.subject: C=US, ST=WA, O=wabbit-networks.io",
        "x509.subject: C=US, ST=WA, O=acme-rockets.io, CN=Other",
        "x509.subject: garbage",
        "x509.issuer: C=US",
        "",
    ],
)
async def test_untrusted_identity(store: Store, pki: signing.Pki, identity: str) -> None:
    manifest, blobs = sign(pki, "cose")
    store.add(blobs)
    verdict = await run(store, [referrer(manifest)], trust(pki, (identity,)))
    assert verdict.reason is Reason.UNTRUSTED_KEY
    assert verdict.results[0].detail == f"identity {LEAF_DN} is not trusted"


@pytest.mark.parametrize("envelope", ENVELOPES)
async def test_chain_to_another_ca_is_untrusted(
    store: Store, pki: signing.Pki, envelope: Envelope
) -> None:
    manifest, blobs = sign(pki, envelope)
    store.add(blobs)
    other = signing.make_ca_and_leaf()
    verdict = await run(store, [referrer(manifest)], trust(other))
    assert verdict.reason is Reason.UNTRUSTED_KEY
    assert verdict.results[0].detail.startswith("certificate chain not trusted")


async def test_self_signed_leaf_in_the_trust_store(store: Store, keys: Keys) -> None:
    pki = signing.make_ca_and_leaf(keys["rsa2048"])
    manifest, blobs = signing.notation_signature(
        IMAGE_DIGEST, signing.OCI_MANIFEST, 1, pki.leaf_key, [pki.leaf]
    )
    store.add(blobs)
    policy = TrustPolicy(
        notation_certificates=(TrustedCertificate("test-cert", signing.cert_pem(pki.leaf)),),
        notation_identities=("*",),
    )
    verdict = await run(store, [referrer(manifest)], policy)
    assert verdict.signed
    assert verdict.results[0].detail == "chains to test-cert"


@pytest.mark.parametrize("envelope", ENVELOPES)
async def test_expired_leaf(store: Store, envelope: Envelope) -> None:
    pki = signing.make_ca_and_leaf(
        not_valid_before=NOW - dt.timedelta(days=30),
        leaf_not_valid_after=NOW - dt.timedelta(days=1),
    )
    manifest, blobs = sign(pki, envelope)
    store.add(blobs)
    verdict = await run(store, [referrer(manifest)], trust(pki))
    assert verdict.reason is Reason.EXPIRED_CERTIFICATE
    assert verdict.results[0].detail.startswith("signing certificate C=US")


async def test_expired_intermediate(store: Store) -> None:
    pki = signing.make_ca_and_leaf(
        intermediates=1,
        not_valid_before=NOW - dt.timedelta(days=30),
        ca_not_valid_after=NOW - dt.timedelta(days=1),
    )
    manifest, blobs = sign(pki, "jws")
    store.add(blobs)
    verdict = await run(store, [referrer(manifest)], trust(pki))
    assert verdict.reason is Reason.EXPIRED_CERTIFICATE
    assert verdict.results[0].detail.startswith("chain certificate")


async def test_verified_now_expired_later(store: Store, pki: signing.Pki) -> None:
    manifest, blobs = sign(pki, "cose")
    store.add(blobs)
    later = NOW + dt.timedelta(days=400)
    assert (await run(store, [referrer(manifest)], trust(pki), now=NOW)).signed
    verdict = await run(store, [referrer(manifest)], trust(pki), now=later)
    assert verdict.reason is Reason.EXPIRED_CERTIFICATE


@pytest.mark.parametrize("envelope", ENVELOPES)
async def test_signature_expiry_header(store: Store, pki: signing.Pki, envelope: Envelope) -> None:
    manifest, blobs = sign(pki, envelope, expiry=NOW - dt.timedelta(hours=1))
    store.add(blobs)
    verdict = await run(store, [referrer(manifest)], trust(pki))
    assert verdict.reason is Reason.EXPIRED_CERTIFICATE
    assert verdict.results[0].detail.startswith("the signature expired")
    manifest, blobs = sign(pki, envelope, expiry=NOW + dt.timedelta(days=1))
    store.add(blobs)
    assert (await run(store, [referrer(manifest)], trust(pki))).signed


@pytest.mark.parametrize("envelope", ENVELOPES)
async def test_signature_for_another_digest(
    store: Store, pki: signing.Pki, envelope: Envelope
) -> None:
    payload = signing.notation_payload(OTHER_IMAGE_DIGEST, signing.OCI_MANIFEST, 10)
    if envelope == "jws":
        data = signing.notation_jws(payload, pki.leaf_key, pki.chain)
        media_type = signing.JWS_MEDIA_TYPE
    else:
        data = signing.notation_cose(payload, pki.leaf_key, pki.chain)
        media_type = signing.COSE_MEDIA_TYPE
    manifest, blobs = signing.notation_referrer(
        data, media_type, IMAGE_DIGEST, signing.OCI_MANIFEST, 10, pki.chain
    )
    store.add(blobs)
    verdict = await run(store, [referrer(manifest)], trust(pki))
    assert verdict.reason is Reason.OTHER_DIGEST


async def test_referrer_of_another_subject(store: Store, pki: signing.Pki) -> None:
    manifest, blobs = sign(pki, "jws", digest=OTHER_IMAGE_DIGEST)
    store.add(blobs)
    assert (await run(store, [referrer(manifest)], trust(pki))).reason is Reason.OTHER_DIGEST


async def test_tampered_jws_payload(store: Store, pki: signing.Pki) -> None:
    manifest, blobs = sign(pki, "jws")
    (digest,) = [d for d, b in blobs.items() if b != signing.EMPTY_CONFIG]
    envelope = json.loads(blobs[digest])
    payload = signing.notation_payload(IMAGE_DIGEST, signing.OCI_MANIFEST, 999)
    envelope["payload"] = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
    data = signing.compact_json(envelope)
    manifest, blobs = signing.notation_referrer(
        data, signing.JWS_MEDIA_TYPE, IMAGE_DIGEST, signing.OCI_MANIFEST, 1, pki.chain
    )
    store.add(blobs)
    verdict = await run(store, [referrer(manifest)], trust(pki))
    assert verdict.reason is Reason.INVALID_SIGNATURE
    assert verdict.results[0].detail == (
        "the 'ES256' signature does not verify with the signing certificate"
    )


async def test_tampered_cose_signature(store: Store, pki: signing.Pki) -> None:
    manifest, blobs = sign(pki, "cose")
    (digest,) = [d for d, b in blobs.items() if b != signing.EMPTY_CONFIG]
    message = cbor2.loads(blobs[digest])
    protected, unprotected, payload, signature = message.value
    flipped = bytes([signature[0] ^ 1]) + signature[1:]
    data = cbor2.dumps(cbor2.CBORTag(18, [protected, unprotected, payload, flipped]))
    manifest, blobs = signing.notation_referrer(
        data, signing.COSE_MEDIA_TYPE, IMAGE_DIGEST, signing.OCI_MANIFEST, 1, pki.chain
    )
    store.add(blobs)
    assert (await run(store, [referrer(manifest)], trust(pki))).reason is Reason.INVALID_SIGNATURE


async def test_algorithm_substitution_is_refused(store: Store, pki: signing.Pki) -> None:
    """A header claiming ES384 over a P-256 key does not verify, even though the bytes
    were signed with that key."""
    payload = signing.notation_payload(IMAGE_DIGEST, signing.OCI_MANIFEST, 1)
    data = signing.notation_jws(payload, pki.leaf_key, pki.chain, alg="ES384")
    manifest, blobs = signing.notation_referrer(
        data, signing.JWS_MEDIA_TYPE, IMAGE_DIGEST, signing.OCI_MANIFEST, 1, pki.chain
    )
    store.add(blobs)
    assert (await run(store, [referrer(manifest)], trust(pki))).reason is Reason.INVALID_SIGNATURE


async def test_unknown_critical_header(store: Store, pki: signing.Pki) -> None:
    payload = signing.notation_payload(IMAGE_DIGEST, signing.OCI_MANIFEST, 1)
    data = signing.notation_jws(
        payload,
        pki.leaf_key,
        pki.chain,
        extra_protected={
            "crit": ["io.cncf.notary.signingScheme", "io.cncf.notary.verificationPlugin"],
            "io.cncf.notary.verificationPlugin": "com.example.plugin",
        },
    )
    manifest, blobs = signing.notation_referrer(
        data, signing.JWS_MEDIA_TYPE, IMAGE_DIGEST, signing.OCI_MANIFEST, 1, pki.chain
    )
    store.add(blobs)
    verdict = await run(store, [referrer(manifest)], trust(pki))
    assert verdict.results[0].reason is Reason.MALFORMED
    assert verdict.results[0].detail == (
        "unsupported critical header 'io.cncf.notary.verificationPlugin'"
    )


async def test_no_trust_store(store: Store, pki: signing.Pki) -> None:
    manifest, blobs = sign(pki, "jws")
    store.add(blobs)
    assert (await run(store, [referrer(manifest)], TrustPolicy())).reason is Reason.NO_TRUST
    no_identity = TrustPolicy(notation_certificates=trust(pki).notation_certificates)
    assert (await run(store, [referrer(manifest)], no_identity)).reason is Reason.NO_TRUST


@pytest.mark.parametrize(
    ("envelope", "media_type", "detail"),
    [
        (b"{}", signing.JWS_MEDIA_TYPE, "JWS envelope lacks protected or payload"),
        (
            b'{"payload":"e30","protected":"e30","signature":"","header":{},"x":1}',
            signing.JWS_MEDIA_TYPE,
            "JWS envelope has fields besides payload/protected/header/signature",
        ),
        (
            b'{"payload":"e30","protected":"e30=","signature":"","header":{}}',
            signing.JWS_MEDIA_TYPE,
            "JWS protected header is not valid base64",
        ),
        (
            b'{"payload":"e30","protected":"e30","signature":"","header":{}}',
            signing.JWS_MEDIA_TYPE,
            "JWS x5c missing, empty or too long",
        ),
        (b"\xa0", signing.COSE_MEDIA_TYPE, "not a COSE_Sign1_Tagged message"),
        (
            cbor2.dumps(cbor2.CBORTag(18, [b"", {}, b""])),
            signing.COSE_MEDIA_TYPE,
            "COSE_Sign1 is not a 4-element array",
        ),
        (b"\xd2\x84", signing.COSE_MEDIA_TYPE, "COSE envelope is not valid CBOR: CBORDecodeEOF"),
        (
            b"{}",
            "application/pkcs7-signature",
            "not a signature manifest",
        ),
    ],
)
async def test_malformed_envelopes(
    store: Store, pki: signing.Pki, envelope: bytes, media_type: str, detail: str
) -> None:
    manifest, blobs = signing.notation_referrer(
        envelope, media_type, IMAGE_DIGEST, signing.OCI_MANIFEST, 1, pki.chain
    )
    store.add(blobs)
    verdict = await run(store, [referrer(manifest)], trust(pki))
    assert [(r.kind, r.reason, r.detail) for r in verdict.results] == [
        (ArtifactKind.NOTATION, Reason.MALFORMED, detail)
    ]


def test_generated_jws_has_notation_headers(pki: signing.Pki) -> None:
    payload = signing.notation_payload(IMAGE_DIGEST, signing.OCI_MANIFEST, 7)
    envelope = json.loads(signing.notation_jws(payload, pki.leaf_key, pki.chain))
    assert set(envelope) == {"payload", "protected", "header", "signature"}
    protected = json.loads(base64.urlsafe_b64decode(envelope["protected"] + "=="))
    assert protected["alg"] == "ES256"
    assert protected["cty"] == "application/vnd.cncf.notary.payload.v1+json"
    assert protected["crit"] == ["io.cncf.notary.signingScheme"]
    assert protected["io.cncf.notary.signingScheme"] == "notary.x509"
    assert len(envelope["header"]["x5c"]) == 3
    assert json.loads(base64.urlsafe_b64decode(envelope["payload"] + "==")) == {
        "targetArtifact": {"digest": IMAGE_DIGEST, "mediaType": signing.OCI_MANIFEST, "size": 7}
    }


def _leaf_with(pki: signing.Pki, **extensions: object) -> signing.Pki:
    """The pki with its leaf re-issued carrying other extensions."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    builder = (
        x509.CertificateBuilder()
        .subject_name(pki.leaf.subject)
        .issuer_name(pki.root.subject)
        .public_key(pki.leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(pki.leaf.not_valid_before_utc)
        .not_valid_after(pki.leaf.not_valid_after_utc)
    )
    for extension in extensions.values():
        assert isinstance(extension, x509.ExtensionType)
        builder = builder.add_extension(extension, critical=False)
    leaf = builder.sign(pki.root_key, hashes.SHA256())
    return signing.Pki(pki.root_key, pki.root, (), pki.leaf_key, leaf)


@pytest.mark.parametrize(
    ("extensions", "detail"),
    [
        ("ca", "the signing certificate is a CA certificate"),
        ("server", "the signing certificate is not for code signing"),
        ("encipher", "the signing certificate lacks keyUsage digitalSignature"),
    ],
)
async def test_signing_certificate_requirements(store: Store, extensions: str, detail: str) -> None:
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    base = signing.make_ca_and_leaf()
    options: dict[str, dict[str, object]] = {
        "ca": {"bc": x509.BasicConstraints(ca=True, path_length=None)},
        "server": {"eku": x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])},
        "encipher": {
            "ku": x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            )
        },
    }
    pki = _leaf_with(base, **options[extensions])
    manifest, blobs = sign(pki, "jws")
    store.add(blobs)
    verdict = await run(store, [referrer(manifest)], trust(pki))
    assert [(r.reason, r.detail) for r in verdict.results] == [(Reason.UNTRUSTED_KEY, detail)]


async def test_leaf_without_extensions_verifies(store: Store) -> None:
    pki = _leaf_with(signing.make_ca_and_leaf())
    manifest, blobs = sign(pki, "cose")
    store.add(blobs)
    assert (await run(store, [referrer(manifest)], trust(pki))).signed


async def test_oras_artifact_manifest_with_blobs(store: Store, pki: signing.Pki) -> None:
    manifest, blobs = sign(pki, "jws")
    doc = json.loads(manifest)
    doc["mediaType"] = "application/vnd.oci.artifact.manifest.v1+json"
    doc["blobs"] = doc.pop("layers")
    store.add(blobs)
    assert (await run(store, [referrer(signing.compact_json(doc))], trust(pki))).signed
