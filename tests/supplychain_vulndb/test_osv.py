"""The OSV reader: folders, zips, zips of zips, and hostile input skipped with a reason."""

from __future__ import annotations

import zipfile
from pathlib import Path

from dockyard.supplychain.vulndb import osv
from tests.supplychain_vulndb.osv_support import (
    DATASET,
    dataset_as_zips,
    dump,
    ecosystem_range,
    record,
    write_folder,
    zip_bytes,
)

DATASET_IDS = sorted(p.stem for p in DATASET.glob("*/*.json"))


def read(path: Path) -> tuple[list[osv.Advisory], list[osv.Skipped]]:
    items = list(osv.advisories(path))
    return (
        [i for i in items if isinstance(i, osv.Advisory)],
        [i for i in items if isinstance(i, osv.Skipped)],
    )


def test_the_dataset_folder_reads_whole() -> None:
    found, skipped = read(DATASET)
    assert skipped == []
    assert sorted(a.id for a in found) == DATASET_IDS
    assert len(DATASET_IDS) == 24
    assert osv.count_documents(DATASET) == 24
    assert [a.id for a in found if a.withdrawn] == ["DEBIAN-CVE-2019-18276"]


def test_a_record_is_trimmed_to_what_the_matcher_reads() -> None:
    found, _ = read(DATASET / "Debian" / "DEBIAN-CVE-2023-4911.json")
    (adv,) = found
    assert adv.modified == "2024-09-03T06:20:55.000000Z"
    assert adv.packages == (("Debian:12", "glibc"), ("Debian:11", "glibc"))
    assert adv.record == {
        "id": "DEBIAN-CVE-2023-4911",
        "aliases": ["CVE-2023-4911"],
        "summary": "A buffer overflow was discovered in the GNU C Library's dynamic loader ld.so",
        "severity": [],
        "text_severity": "",
        "references": ["https://security-tracker.debian.org/tracker/CVE-2023-4911"],
        "affected": [
            {
                "ecosystem": "Debian:12",
                "name": "glibc",
                "ranges": [
                    {
                        "type": "ECOSYSTEM",
                        "events": [["introduced", "0"], ["fixed", "2.36-9+deb12u3"]],
                    }
                ],
                "versions": [],
                "severity": [],
                "text_severity": "high",
                "all_versions": False,
            },
            {
                "ecosystem": "Debian:11",
                "name": "glibc",
                "ranges": [
                    {
                        "type": "ECOSYSTEM",
                        "events": [["introduced", "0"], ["fixed", "2.31-13+deb11u7"]],
                    }
                ],
                "versions": [],
                "severity": [],
                "text_severity": "not yet assigned",
                "all_versions": False,
            },
        ],
    }


def test_git_ranges_are_dropped_and_times_normalized() -> None:
    rec = record(
        "GHSA-aaaa-bbbb-cccc",
        "PyPI",
        "x",
        {"type": "GIT", "repo": "https://example.org/x", "events": [{"introduced": "abc"}]},
        ecosystem_range(("introduced", "0")),
        modified="2024-05-01T12:00:00+02:00",
    )
    adv = osv.parse(dump(rec), "x.json")
    assert isinstance(adv, osv.Advisory)
    assert adv.modified == "2024-05-01T10:00:00.000000Z"
    assert [r["type"] for r in adv.record["affected"][0]["ranges"]] == ["ECOSYSTEM"]


def test_a_zip_of_records(tmp_path: Path) -> None:
    members = {f"{p.stem}.json": p.read_bytes() for p in sorted(DATASET.glob("PyPI/*.json"))}
    path = tmp_path / "all.zip"
    path.write_bytes(zip_bytes(members))
    found, skipped = read(path)
    assert skipped == []
    assert sorted(a.id for a in found) == sorted(p.stem for p in DATASET.glob("PyPI/*.json"))
    assert osv.count_documents(path) == 4
    sources = [d.source for d in osv.documents(path)]
    assert sources == [f"all.zip!{name}" for name in members]


def test_a_folder_of_per_ecosystem_zips(tmp_path: Path) -> None:
    root = dataset_as_zips(tmp_path / "osv")
    found, skipped = read(root)
    assert skipped == []
    assert sorted(a.id for a in found) == DATASET_IDS
    assert osv.count_documents(root) == 24


def test_a_zip_of_per_ecosystem_zips(tmp_path: Path) -> None:
    root = dataset_as_zips(tmp_path / "osv")
    outer = {f"{p.parent.name}/all.zip": p.read_bytes() for p in sorted(root.glob("*/all.zip"))}
    path = tmp_path / "everything.zip"
    path.write_bytes(zip_bytes(outer, zipfile.ZIP_STORED))
    found, skipped = read(path)
    assert skipped == []
    assert sorted(a.id for a in found) == DATASET_IDS
    assert osv.count_documents(path) is None  # zips in zips: not known before reading
    first = next(iter(osv.documents(path)))
    assert first.source == "everything.zip!Alpine/all.zip!ALPINE-CVE-2023-42363.json"


def test_hostile_records_are_skipped_with_the_file_named(tmp_path: Path) -> None:
    good = record("PYSEC-2024-1", "PyPI", "x", ecosystem_range(("introduced", "0")))
    files = {
        "a-good.json": dump(good),
        "b-bad-json.json": b'{"id": "X", ',
        "c-list.json": b"[1, 2, 3]",
        "d-int-id.json": dump({**good, "id": 12}),
        "e-affected-dict.json": dump({**good, "affected": {"package": "x"}}),
        "f-int-version.json": dump(
            record("PYSEC-2024-2", "PyPI", "x", {"type": "ECOSYSTEM", "events": [{"fixed": 2}]})
        ),
        "g-big.json": b'{"id": "PYSEC-2024-3", "summary": "' + b"a" * (1 << 20) + b'"}',
        "h-deep.json": b"[" * 100_000 + b"]" * 100_000,
        "i-no-package.json": dump({"id": "GHSA-x", "modified": "2024-01-01T00:00:00Z"}),
        "j-bad-time.json": dump({**good, "modified": "yesterday"}),
        "k-bad-id.json": dump({**good, "id": "../etc/passwd"}),
    }
    root = tmp_path / "in"
    root.mkdir()
    for name, data in files.items():
        (root / name).write_bytes(data)
    (root / "z-link.json").symlink_to(root / "a-good.json")
    found, skipped = read(root)
    assert [a.id for a in found] == ["PYSEC-2024-1"]
    assert [s.source for s in skipped] == [n for n in files if n != "a-good.json"]
    reasons = {s.source: s.reason for s in skipped}
    assert reasons["b-bad-json.json"].startswith("not an OSV record (record: Invalid JSON")
    assert reasons["c-list.json"].startswith("not an OSV record (record: Input should be")
    assert reasons["d-int-id.json"] == "not an OSV record (id: Input should be a valid string)"
    assert reasons["e-affected-dict.json"].startswith("not an OSV record (affected:")
    assert reasons["f-int-version.json"].startswith(
        "not an OSV record (affected.0.ranges.0.events.0.fixed:"
    )
    assert reasons["g-big.json"] == "over 1048576 bytes"
    assert reasons["h-deep.json"].startswith("not an OSV record")
    assert reasons["i-no-package.json"] == "GHSA-x names no affected package"
    assert reasons["j-bad-time.json"].startswith("not an OSV record (modified:")
    assert reasons["k-bad-id.json"].startswith("not an OSV record (id: String should match")


def test_hostile_zips_are_skipped(tmp_path: Path) -> None:
    good = dump(record("PYSEC-2024-1", "PyPI", "x", ecosystem_range(("introduced", "0"))))
    bomb = b'{"id": "PYSEC-2024-9", "summary": "' + b" " * (64 << 20) + b'"}'
    deep = good
    for level in range(4):
        deep = zip_bytes({f"level{level}.zip" if level else "r.json": deep})
    root = tmp_path / "in"
    root.mkdir()
    (root / "a.zip").write_bytes(zip_bytes({"bomb.json": bomb, "ok.json": good, "dir/": b""}))
    (root / "b-broken.zip").write_bytes(b"PK\x03\x04 this is not a zip")
    (root / "c-deep.zip").write_bytes(deep)
    (root / "d-truncated.zip").write_bytes(zip_bytes({"ok.json": good})[:-30])
    found, skipped = read(root)
    assert [a.id for a in found] == ["PYSEC-2024-1"]
    assert [s.describe() for s in skipped][:2] == [
        "a.zip!bomb.json: over 1048576 bytes",
        "b-broken.zip: not a readable zip (File is not a zip file)",
    ]
    assert skipped[2].describe() == (
        "c-deep.zip!level3.zip!level2.zip!level1.zip: zips nested deeper than 3"
    )
    assert skipped[3].source == "d-truncated.zip"
    assert len(skipped) == 4


def test_a_zip_member_whose_header_understates_its_size_is_bounded(tmp_path: Path) -> None:
    """A member that decompresses to more than its header says fails its CRC check
    after at most the declared size: skipped, never read whole."""
    payload = b'{"id": "PYSEC-2024-9", "summary": "' + b" " * (4 << 20) + b'"}'
    data = bytearray(zip_bytes({"x.json": payload}))
    # rewrite the declared uncompressed size (local header and central directory)
    size = len(payload).to_bytes(4, "little")
    small = (100).to_bytes(4, "little")
    assert data.count(size) == 2
    data = bytearray(bytes(data).replace(size, small))
    path = tmp_path / "liar.zip"
    path.write_bytes(bytes(data))
    found, skipped = read(path)
    assert found == []
    assert len(skipped) == 1
    assert skipped[0].source == "liar.zip!x.json"


def test_other_files_are_ignored(tmp_path: Path) -> None:
    root = write_folder(
        tmp_path,
        {"PyPI/A.json": record("PYSEC-2024-1", "PyPI", "x", ecosystem_range(("introduced", "0")))},
    )
    (root / "README.md").write_text("hello")
    (root / "PyPI" / "notes.txt").write_text("hello")
    found, skipped = read(root)
    assert [a.id for a in found] == ["PYSEC-2024-1"] and skipped == []
    assert osv.count_documents(root) == 1


def test_a_truncated_zip_given_directly(tmp_path: Path) -> None:
    good = dump(record("PYSEC-2024-1", "PyPI", "x", ecosystem_range(("introduced", "0"))))
    path = tmp_path / "cut.zip"
    path.write_bytes(zip_bytes({"ok.json": good})[:-30])
    found, skipped = read(path)
    assert found == []
    assert [s.describe() for s in skipped] == [
        "cut.zip: not a readable zip (File is not a zip file)"
    ]


def test_upstream_ids_count_as_aliases() -> None:
    rec = record(
        "UBUNTU-CVE-2024-1",
        "Ubuntu:22.04:LTS",
        "x",
        ecosystem_range(("introduced", "0")),
        aliases=["USN-1-1", "CVE-2024-1"],
        upstream=["CVE-2024-1", "GHSA-aaaa-bbbb-cccc"],
    )
    adv = osv.parse(dump(rec), "x.json")
    assert isinstance(adv, osv.Advisory)
    assert adv.record["aliases"] == ["USN-1-1", "CVE-2024-1", "GHSA-aaaa-bbbb-cccc"]


def test_a_zip_bomb_inside_a_zip_is_not_unpacked(tmp_path: Path) -> None:
    inner = b"PK" + b"\0" * (16 << 20)  # 16 MiB that deflate to a few KiB
    path = tmp_path / "outer.zip"
    path.write_bytes(zip_bytes({"Debian/all.zip": inner}))
    found, skipped = read(path)
    assert found == []
    assert [s.describe() for s in skipped] == [
        "outer.zip!Debian/all.zip: expands more than 50 times"
    ]
