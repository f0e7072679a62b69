"""VulnDb on SQLite and PostgreSQL: imports (folder, zip, zips of zips), idempotence,
updates, withdrawals, hostile records, status, and the index cached per generation."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from dockyard.errors import InvalidRequest
from dockyard.supplychain.model import Distro, ImageContents, Package
from dockyard.supplychain.vulndb import ImportResult, VulnDb, osv
from dockyard.supplychain.vulndb.tables import advisories, affected, state
from tests.supplychain_vulndb.conftest import Engines
from tests.supplychain_vulndb.osv_support import (
    DATASET,
    dataset_as_zips,
    dump,
    ecosystem_range,
    record,
    write_folder,
    zip_bytes,
)

LIVE = 23  # the dataset's 24 records, less the withdrawn one
ECOSYSTEMS = {
    "Alpine:v3.18": 2,
    "Alpine:v3.19": 1,
    "Debian:11": 2,
    "Debian:12": 4,
    "Go": 3,
    "Maven": 2,
    "PyPI": 4,
    "Ubuntu:22.04:LTS": 2,
    "Ubuntu:23.10": 1,
    "npm": 3,
}


def result(
    files: int,
    added: int = 0,
    updated: int = 0,
    removed: int = 0,
    unchanged: int = 0,
    skipped: int = 0,
    reasons: tuple[str, ...] = (),
    generation: int = 1,
) -> ImportResult:
    return ImportResult(files, added, updated, removed, unchanged, skipped, reasons, generation)


async def rows(engines: Engines) -> tuple[int, int]:
    async with engines.read_engine.connect() as conn:
        a = await conn.scalar(select(func.count()).select_from(advisories))
        b = await conn.scalar(select(func.count()).select_from(affected))
    return int(a or 0), int(b or 0)


async def test_an_empty_database(db: VulnDb) -> None:
    assert await db.generation() == 0
    status = await db.status()
    assert (status.generation, status.advisories, status.ecosystems) == (0, 0, {})
    assert status.imported_at is None and status.changed_at is None
    index = await db.index()
    assert index.generation == 0 and index.advisories == 0


async def test_import_the_dataset_folder(db: VulnDb, engines: Engines) -> None:
    seen: list[tuple[int, int | None]] = []
    before = dt.datetime.now(dt.UTC)
    got = await db.import_osv(DATASET, lambda done, total: seen.append((done, total)))
    # the withdrawn record is not stored: it counts as unchanged (nothing to remove)
    assert got == result(24, added=LIVE, unchanged=1)
    assert got.changed
    assert seen == [(24, 24)]
    assert await db.generation() == 1
    status = await db.status()
    assert status.generation == 1
    assert status.advisories == LIVE
    assert status.ecosystems == ECOSYSTEMS
    assert status.imported_at is not None and status.imported_at >= before
    assert status.changed_at == status.imported_at
    assert await rows(engines) == (LIVE, 24)


async def test_reimport_changes_nothing(db: VulnDb, engines: Engines) -> None:
    await db.import_osv(DATASET)
    first = await db.status()
    again = await db.import_osv(DATASET)
    assert again == result(24, unchanged=24, generation=1)
    assert not again.changed
    status = await db.status()
    assert status.generation == 1
    assert status.changed_at == first.changed_at
    assert status.imported_at is not None and first.imported_at is not None
    assert status.imported_at >= first.imported_at
    assert await rows(engines) == (LIVE, 24)


async def test_the_same_data_as_per_ecosystem_zips_is_the_same_data(
    db: VulnDb, tmp_path: Path
) -> None:
    await db.import_osv(DATASET)
    zips = dataset_as_zips(tmp_path / "osv")
    assert await db.import_osv(zips) == result(24, unchanged=24)
    outer = tmp_path / "all.zip"
    outer.write_bytes(
        zip_bytes({f"{p.parent.name}/all.zip": p.read_bytes() for p in sorted(zips.glob("*/*"))})
    )
    seen: list[tuple[int, int | None]] = []
    got = await db.import_osv(outer, lambda done, total: seen.append((done, total)))
    assert got == result(24, unchanged=24)
    assert seen == [(24, None)]


async def test_import_a_zip_of_zips_into_an_empty_database(db: VulnDb, tmp_path: Path) -> None:
    zips = dataset_as_zips(tmp_path / "osv")
    outer = tmp_path / "all.zip"
    outer.write_bytes(
        zip_bytes(
            {f"{p.parent.name}/all.zip": p.read_bytes() for p in sorted(zips.glob("*/*"))},
            zipfile.ZIP_STORED,
        )
    )
    assert await db.import_osv(outer, batch_size=5) == result(24, added=LIVE, unchanged=1)
    assert (await db.status()).ecosystems == ECOSYSTEMS


async def test_batches_report_progress(db: VulnDb) -> None:
    seen: list[tuple[int, int | None]] = []
    await db.import_osv(DATASET, lambda done, total: seen.append((done, total)), batch_size=10)
    assert seen == [(10, 24), (20, 24), (24, 24)]


def pysec(modified: str, fixed: str, summary: str = "x") -> dict[str, object]:
    return record(
        "PYSEC-2024-1",
        "PyPI",
        "demo",
        ecosystem_range(("introduced", "0"), ("fixed", fixed)),
        modified=modified,
        summary=summary,
    )


DEMO = Package("pypi", "demo", "1.5", "pkg:pypi/demo@1.5")


async def test_a_newer_record_replaces_the_old_one(db: VulnDb, tmp_path: Path) -> None:
    old = write_folder(tmp_path / "old", {"a.json": pysec("2024-01-01T00:00:00Z", "1.2")})
    new = write_folder(tmp_path / "new", {"a.json": pysec("2024-02-01T00:00:00Z", "2.0")})
    assert await db.import_osv(old) == result(1, added=1)
    contents = ImageContents(None, (DEMO,))
    assert (await db.index()).match(contents) == []  # 1.5 is past the fix 1.2
    assert await db.import_osv(new) == result(1, updated=1, generation=2)
    index = await db.index()
    assert index.generation == 2
    assert [(f.id, f.fixed_versions) for f in index.match(contents)] == [("PYSEC-2024-1", ("2.0",))]
    # an older copy does not win back
    assert await db.import_osv(old) == result(1, unchanged=1, generation=2)


async def test_within_one_import_the_newest_copy_wins(db: VulnDb, tmp_path: Path) -> None:
    root = write_folder(
        tmp_path,
        {
            "a/x.json": pysec("2024-02-01T00:00:00Z", "2.0"),
            "b/x.json": pysec("2024-01-01T00:00:00Z", "1.2"),
        },
    )
    assert await db.import_osv(root) == result(2, added=1, unchanged=1)
    index = await db.index()
    assert [f.fixed_versions for f in index.match(ImageContents(None, (DEMO,)))] == [("2.0",)]


async def test_a_withdrawn_record_removes_the_advisory(
    db: VulnDb, engines: Engines, tmp_path: Path
) -> None:
    live = write_folder(tmp_path / "a", {"a.json": pysec("2024-01-01T00:00:00Z", "2.0")})
    gone_rec = {**pysec("2024-03-01T00:00:00Z", "2.0"), "withdrawn": "2024-03-01T00:00:00Z"}
    gone = write_folder(tmp_path / "b", {"a.json": gone_rec})
    await db.import_osv(live)
    assert len((await db.index()).match(ImageContents(None, (DEMO,)))) == 1
    assert await db.import_osv(gone) == result(1, removed=1, generation=2)
    assert (await db.index()).match(ImageContents(None, (DEMO,))) == []
    assert await rows(engines) == (0, 0)
    assert (await db.status()).ecosystems == {}
    assert await db.import_osv(gone) == result(1, unchanged=1, generation=2)


async def test_hostile_records_are_counted_and_named(
    db: VulnDb, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "in"
    root.mkdir()
    (root / "a.json").write_bytes(dump(pysec("2024-01-01T00:00:00Z", "2.0")))
    (root / "b.json").write_bytes(b"{not json")
    (root / "c.json").write_bytes(b" " * ((1 << 20) + 1))
    (root / "d.json").write_bytes(json.dumps({"id": 5}).encode())
    (root / "e.zip").write_bytes(zip_bytes({"f.json": b'{"id": "' + b"A" * (2 << 20) + b'"}'}))
    got = await db.import_osv(root)
    assert (got.files, got.added, got.skipped, got.generation) == (5, 1, 4, 1)
    assert [r.split(":", 1)[0] for r in got.reasons] == [
        "b.json",
        "c.json",
        "d.json",
        "e.zip!f.json",
    ]
    assert got.reasons[1] == "c.json: over 1048576 bytes"
    assert got.reasons[3] == "e.zip!f.json: over 1048576 bytes"
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warned == [f"vulndb import: skipped {reason}" for reason in got.reasons]


async def test_only_the_first_reasons_are_kept(
    db: VulnDb, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "in"
    root.mkdir()
    for i in range(15):
        (root / f"{i:02}.json").write_bytes(b"[]")
    got = await db.import_osv(root)
    assert (got.files, got.skipped, got.generation) == (15, 15, 0)
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 11
    assert warned[-1] == "vulndb import: skipped 15 records in all (the first 10 are logged above)"
    assert [r.split(":", 1)[0] for r in got.reasons] == [f"{i:02}.json" for i in range(10)]
    assert await db.generation() == 0


async def test_a_path_that_is_not_there(db: VulnDb, tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest):
        await db.import_osv(tmp_path / "missing")


async def test_a_failing_import_leaves_nothing_behind(
    db: VulnDb, engines: Engines, tmp_path: Path
) -> None:
    await db.import_osv(DATASET)

    def boom(done: int, total: int | None) -> None:
        raise RuntimeError("interrupted")

    root = write_folder(tmp_path, {"a.json": pysec("2024-01-01T00:00:00Z", "2.0")})
    with pytest.raises(RuntimeError):
        await db.import_osv(root, boom)
    assert await db.generation() == 1
    assert await rows(engines) == (LIVE, 24)


async def test_the_index_is_built_once_per_generation(db: VulnDb, tmp_path: Path) -> None:
    await db.import_osv(DATASET)
    first = await db.index()
    assert first.generation == 1 and first.advisories == LIVE
    assert await db.index() is first
    both = await asyncio.gather(db.index(), db.index())
    assert both[0] is first and both[1] is first
    await db.import_osv(DATASET)  # no change: same generation, same index
    assert await db.index() is first
    await db.import_osv(write_folder(tmp_path, {"a.json": pysec("2024-01-01T00:00:00Z", "2")}))
    second = await db.index()
    assert second is not first
    assert second.generation == 2 and second.advisories == LIVE + 1
    # another VulnDb over the same database sees the same generation
    other = VulnDb(db_engines(db))
    assert (await other.index()).generation == 2


def db_engines(db: VulnDb) -> Engines:
    return Engines(db._read, db._write)


async def test_findings_from_the_stored_dataset(db: VulnDb) -> None:
    await db.import_osv(DATASET)
    contents = ImageContents(
        Distro("debian", "12", "bookworm"),
        (
            Package(
                "deb",
                "libc6",
                "2.36-9+deb12u1",
                "pkg:deb/debian/libc6@2.36-9%2Bdeb12u1?distro=debian-12",
                source_name="glibc",
            ),
            Package("pypi", "requests", "2.28.1", "pkg:pypi/requests@2.28.1"),
        ),
    )
    found = (await db.index()).match(contents)
    assert [(f.id, f.package, f.fixed_versions) for f in found] == [
        ("DEBIAN-CVE-2023-4911", "libc6", ("2.36-9+deb12u3",)),
        ("PYSEC-2023-74", "requests", ("2.31.0",)),
    ]


class _Watching(VulnDb):
    """Reads, through the reader engine, what another connection sees after each chunk
    the import writes."""

    seen: list[tuple[int, int]]

    async def _apply(self, conn: Any, items: list[osv.Advisory], counts: Any) -> None:
        await super()._apply(conn, items, counts)
        status = await self.status()
        self.seen.append((status.generation, status.advisories))


async def test_a_reader_never_sees_half_an_import(engines: Engines) -> None:
    db = _Watching(engines)
    db.seen = []
    assert await db.import_osv(DATASET, batch_size=5) == result(24, added=LIVE, unchanged=1)
    assert db.seen == [(0, 0)] * 5  # 24 staged records, 5 a chunk
    assert (await db.status()).advisories == LIVE


async def test_an_unreadable_row_is_left_out_of_the_index(
    db: VulnDb, engines: Engines, caplog: pytest.LogCaptureFixture
) -> None:
    await db.import_osv(DATASET)
    async with engines.write_engine.begin() as conn:
        await conn.execute(
            advisories.insert().values(
                id="BAD-1", modified="2024-01-01T00:00:00.000000Z", record=b"x"
            )
        )
        await conn.execute(update(state).values(generation=5))
    index = await db.index()
    assert (index.generation, index.advisories) == (5, LIVE)
    assert any("advisory BAD-1 is unreadable" in r.getMessage() for r in caplog.records)


async def test_two_imports_at_once_queue(db: VulnDb, engines: Engines) -> None:
    other = VulnDb(engines)
    first, second = await asyncio.gather(
        db.import_osv(DATASET, batch_size=4), other.import_osv(DATASET, batch_size=4)
    )
    # whichever wrote second found it all there already (in its staging or its re-check)
    assert sorted([first.added, second.added]) == [0, LIVE]
    assert {first.generation, second.generation} == {1}
    assert first.unchanged + second.unchanged == 1 + 24  # the withdrawn one; all again
    assert await db.generation() == 1
    assert await rows(engines) == (LIVE, 24)
