"""`dockyard fsck` against real servers: each kind of damage made by hand is found
(and the digest re-hash finds bytes of the right size but the wrong content), the
harmless leftovers are reported as garbage and --repair removes them, and damage
--repair cannot fix safely is reported and keeps the exit status non-zero."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from dockyard.storage import layout
from tests.lifecycle.conftest import Store
from tests.lifecycle.helpers import digest_of, pull_sync, push_blob_sync, push_image_sync

pytestmark = pytest.mark.e2e


def kinds(items: list[dict[str, str]]) -> dict[str, str]:
    return {item["digest"]: item["kind"] for item in items}


def test_fsck_finds_and_repairs(store: Store) -> None:
    with store.client() as c:
        intact = push_image_sync(c, "fsck/ok", "v1", [os.urandom(1000)])
        victims = [push_image_sync(c, f"fsck/v{i}", "v1", [os.urandom(800 + i)]) for i in range(4)]
        loose = [push_blob_sync(c, "fsck/loose", os.urandom(300 + i)) for i in range(2)]
    code, report = store.fsck()
    assert code == 0 and report["clean"] and report["garbage"] == []

    # -- garbage: harmless, fsck stays clean, --repair removes it --------------------
    orphan = os.urandom(512)
    store.write(layout.blob_path(digest_of(orphan)), orphan)  # bytes without a row
    ghost = "sha256:" + "ab" * 32
    store.sql(
        "INSERT INTO blobs (digest, size, created_at, touched_at) VALUES (:d, 10, :at, :at)",
        d=ghost,
        at=dt.datetime.now(dt.UTC),
    )  # a row without bytes that nothing links
    store.sql("DELETE FROM repository_blobs WHERE digest IN (:a, :b)", a=loose[0], b=loose[1])
    store.sql(
        "UPDATE blobs SET deleting_since = :at WHERE digest = :d",
        at=dt.datetime.now(dt.UTC),
        d=loose[0],
    )  # claimed by a pass that died
    store.write(layout.blob_path(loose[1]), b"short")  # corrupt, but nothing refers to it
    code, report = store.fsck()
    assert kinds(report["garbage"]) == {
        digest_of(orphan): "orphan-bytes",
        ghost: "row-without-bytes",
        loose[0]: "claimed",
    }
    assert kinds(report["damage"]) == {loose[1]: "size-mismatch"}
    assert code == 1
    code, report = store.fsck("--repair", "--grace", "0s")
    assert kinds(report["repaired"]) == {
        digest_of(orphan): "orphan-bytes",
        ghost: "row-without-bytes",
        loose[0]: "claimed",
        loose[1]: "size-mismatch",
    }
    assert code == 0, report
    code, report = store.fsck()
    assert code == 0 and report["garbage"] == [] and report["damage"] == []
    assert layout.blob_path(digest_of(orphan)) not in store.keys("blobs")

    # -- damage: found, reported, not "repaired" away --------------------------------
    missing, resized, rehashed, unlinked = victims
    store.write(layout.blob_path(missing.blobs[1]), None)  # bytes gone under a live image
    store.write(layout.blob_path(resized.blobs[1]), b"x" * 3)  # wrong size
    same_size = os.urandom(resized.sizes[1] + 1)[: rehashed.sizes[1]]
    store.write(layout.blob_path(rehashed.blobs[1]), same_size)  # right size, wrong content
    store.sql(
        "DELETE FROM repository_blobs WHERE digest = :d AND repository_id = "
        "(SELECT id FROM repositories WHERE name = 'fsck/v3')",
        d=unlinked.blobs[1],
    )  # a manifest references a blob its repository no longer links
    code, report = store.fsck()
    assert code == 1
    found = kinds(report["damage"])
    assert found[missing.blobs[1]] == "missing-bytes"
    assert found[resized.blobs[1]] == "size-mismatch"
    assert found[unlinked.blobs[1]] == "dangling-reference"
    assert rehashed.blobs[1] not in found  # same size: only a re-hash tells
    code, report = store.fsck("--verify-digests")
    assert kinds(report["damage"])[rehashed.blobs[1]] == "digest-mismatch"
    assert report["verified"] == 8  # every row with bytes of the right size
    code, report = store.fsck("--verify-digests", "--repair", "--grace", "0s")
    assert code == 1
    assert {
        missing.blobs[1],
        resized.blobs[1],
        rehashed.blobs[1],
    } <= set(kinds(report["unrepaired"]))
    with store.client() as c:  # the intact image is untouched by all of it
        pull_sync(c, intact)
