"""Fixtures for the signature verifier tests: keys made once per session, an in-memory
blob store behind `read_blob`, and an image to sign."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

import pytest

from dockyard.supplychain.signatures import (
    Candidate,
    TrustedKey,
    TrustPolicy,
    Verdict,
    cosign_tag,
    verify,
)
from tests.support import signing

IMAGE = signing.compact_json(
    {
        "schemaVersion": 2,
        "mediaType": signing.OCI_MANIFEST,
        "config": {"mediaType": signing.OCI_CONFIG, "digest": "sha256:" + "1" * 64, "size": 2},
        "layers": [],
    }
)
IMAGE_DIGEST = signing.sha256_digest(IMAGE)
OTHER_IMAGE_DIGEST = "sha256:" + "ab" * 32
REFERENCE = "registry.test/project/app"


@dataclass
class Store:
    """Blobs by digest; read_blob refuses a blob larger than the limit, as storage does."""

    blobs: dict[str, bytes] = field(default_factory=dict)
    reads: list[tuple[str, int]] = field(default_factory=list)

    def add(self, blobs: Mapping[str, bytes]) -> None:
        self.blobs.update(blobs)

    async def read_blob(self, digest: str, limit: int) -> bytes:
        self.reads.append((digest, limit))
        data = self.blobs[digest]
        if len(data) > limit:
            raise ValueError("blob larger than the limit")
        return data


@pytest.fixture
def store() -> Store:
    return Store()


@pytest.fixture(scope="session")
def keys() -> dict[str, signing.PrivateKey]:
    kinds = ("p256", "p384", "p521", "rsa2048", "rsa3072", "ed25519")
    made = {kind: signing.generate_key(kind) for kind in kinds}
    made["other"] = signing.generate_key("p256")
    return made


def trust_keys(**named: signing.PrivateKey) -> TrustPolicy:
    return TrustPolicy(keys=tuple(TrustedKey(n, signing.public_pem(k)) for n, k in named.items()))


def tag_candidate(manifest: bytes, digest: str = IMAGE_DIGEST) -> Candidate:
    return Candidate(
        digest=signing.sha256_digest(manifest),
        media_type=signing.OCI_MANIFEST,
        content=manifest,
        via_tag=cosign_tag(digest),
    )


def referrer(manifest: bytes) -> Candidate:
    return Candidate(
        digest=signing.sha256_digest(manifest), media_type=signing.OCI_MANIFEST, content=manifest
    )


async def run(
    store: Store,
    candidates: list[Candidate],
    trust: TrustPolicy,
    now: dt.datetime | None = None,
    digest: str = IMAGE_DIGEST,
) -> Verdict:
    return await verify(digest, candidates, store.read_blob, trust, now)
