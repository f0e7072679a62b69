"""Reading OSV data as OSV publishes it: a folder of `*.json` records, a zip of them
(`<Ecosystem>/all.zip`), or folders and zips holding those zips, streamed one record at
a time. Every record is bounded (MAX_RECORD_BYTES, read with a limit whatever the zip
header claims), validated (pydantic, strict about types) and trimmed to what the matcher
needs; what cannot be read becomes a `Skipped` naming the file and the reason.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

MAX_RECORD_BYTES = 1 << 20
MAX_ARCHIVE_BYTES = 2 << 30
"""a zip inside a zip is copied to a temporary file (zips need to seek): at most this"""
MAX_ARCHIVE_RATIO = 50
"""a zip inside a zip is compressed already: one that expands more than this is a bomb"""
MAX_DEPTH = 3
MAX_SUMMARY = 500
MAX_REFERENCES = 5
_RANGE_TYPES = ("ECOSYSTEM", "SEMVER")


@dataclass(frozen=True, slots=True)
class Advisory:
    id: str
    modified: str
    """UTC, fixed width ("2024-01-02T03:04:05.000000Z"): strings order as times do"""
    withdrawn: bool
    record: dict[str, Any]
    """the trimmed record the matcher reads (matcher.py documents its shape)"""
    packages: tuple[tuple[str, str], ...]
    """(ecosystem, name) of every package it affects"""


@dataclass(frozen=True, slots=True)
class Skipped:
    source: str
    reason: str

    def describe(self) -> str:
        return f"{self.source}: {self.reason}"


@dataclass(frozen=True, slots=True)
class Document:
    source: str
    data: bytes


# -- the OSV schema, as far as it is read ----------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Event(_Model):
    introduced: str | None = Field(default=None, max_length=256)
    fixed: str | None = Field(default=None, max_length=256)
    last_affected: str | None = Field(default=None, max_length=256)
    limit: str | None = Field(default=None, max_length=256)


class _Range(_Model):
    type: str = Field(max_length=32)
    events: list[_Event] = Field(max_length=2000)


class _Package(_Model):
    ecosystem: str = Field(min_length=1, max_length=128)
    name: str = Field(min_length=1, max_length=512)
    purl: str | None = None


class _Severity(_Model):
    type: str = Field(max_length=32)
    score: str = Field(max_length=256)


class _Affected(_Model):
    package: _Package | None = None
    ranges: list[_Range] = Field(default_factory=list, max_length=200)
    versions: list[str] = Field(default_factory=list, max_length=20000)
    severity: list[_Severity] = Field(default_factory=list, max_length=20)
    ecosystem_specific: dict[str, Any] | None = None
    database_specific: dict[str, Any] | None = None


class _Reference(_Model):
    type: str | None = None
    url: str = Field(max_length=2048)


class _Record(_Model):
    id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:+-]*$")
    modified: dt.datetime
    withdrawn: dt.datetime | None = None
    aliases: list[str] = Field(default_factory=list, max_length=200)
    upstream: list[str] = Field(default_factory=list, max_length=200)
    summary: str = ""
    details: str = ""
    severity: list[_Severity] = Field(default_factory=list, max_length=20)
    affected: list[_Affected] = Field(default_factory=list, max_length=5000)
    references: list[_Reference] = Field(default_factory=list, max_length=2000)
    database_specific: dict[str, Any] | None = None


def _utc(value: dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _text_severity(*places: dict[str, Any] | None) -> str:
    """A qualitative severity named in database_specific / ecosystem_specific (GitHub's
    `severity`, Debian's `urgency`), if any."""
    for place in places:
        if not place:
            continue
        for field in ("severity", "urgency"):
            value = place.get(field)
            if isinstance(value, str) and value:
                return value[:32]
    return ""


def _summary(record: _Record) -> str:
    text = record.summary or record.details.strip().split("\n", 1)[0]
    return text[:MAX_SUMMARY]


def parse(data: bytes, source: str) -> Advisory | Skipped:
    """One OSV record, validated and trimmed, or why it was skipped."""
    try:
        rec = _Record.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "record"
        return Skipped(source, f"not an OSV record ({where}: {first['msg']})")
    except (ValueError, RecursionError) as exc:
        return Skipped(source, f"not an OSV record ({exc})")
    affected: list[dict[str, Any]] = []
    packages: dict[tuple[str, str], None] = {}
    for a in rec.affected:
        if a.package is None:
            continue
        ranges = [
            {
                "type": r.type,
                "events": [
                    [kind, value]
                    for e in r.events
                    for kind, value in (
                        ("introduced", e.introduced),
                        ("fixed", e.fixed),
                        ("last_affected", e.last_affected),
                        ("limit", e.limit),
                    )
                    if value is not None
                ],
            }
            for r in a.ranges
            if r.type in _RANGE_TYPES
        ]
        affected.append(
            {
                "ecosystem": a.package.ecosystem,
                "name": a.package.name,
                "ranges": ranges,
                "versions": a.versions,
                "severity": [[s.type, s.score] for s in a.severity],
                "text_severity": _text_severity(a.ecosystem_specific, a.database_specific),
                # neither ranges (of any type) nor versions: every version is affected,
                # as osv-scanner reads it
                "all_versions": not a.ranges and not a.versions,
            }
        )
        packages[(a.package.ecosystem, a.package.name)] = None
    if not packages and rec.withdrawn is None:
        return Skipped(source, f"{rec.id} names no affected package")
    record = {
        "id": rec.id,
        # distributions name the CVE a record is about as `upstream` (OSV 1.7), not as an
        # alias: both are what an allowlist entry may name
        "aliases": list(dict.fromkeys((*rec.aliases, *rec.upstream))),
        "summary": _summary(rec),
        "severity": [[s.type, s.score] for s in rec.severity],
        "text_severity": _text_severity(rec.database_specific),
        "references": [r.url for r in rec.references[:MAX_REFERENCES]],
        "affected": affected,
    }
    return Advisory(rec.id, _utc(rec.modified), rec.withdrawn is not None, record, tuple(packages))


# -- where records come from -------------------------------------------------------------


def _read_bounded(stream: IO[bytes]) -> bytes | None:
    data = stream.read(MAX_RECORD_BYTES + 1)
    return None if len(data) > MAX_RECORD_BYTES else data


_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError, RuntimeError)


def _zip_members(zf: zipfile.ZipFile, source: str, depth: int) -> Iterator[Document | Skipped]:
    for info in zf.infolist():
        if info.is_dir():
            continue
        name = f"{source}!{info.filename}"
        lower = info.filename.lower()
        if lower.endswith(".json"):
            if info.file_size > MAX_RECORD_BYTES:
                yield Skipped(name, f"over {MAX_RECORD_BYTES} bytes")
                continue
            try:
                with zf.open(info) as member:
                    data = _read_bounded(member)
            except _ZIP_ERRORS as exc:
                yield Skipped(name, f"unreadable ({exc})")
                continue
            yield (
                Skipped(name, f"over {MAX_RECORD_BYTES} bytes")
                if data is None
                else Document(name, data)
            )
        elif lower.endswith(".zip"):
            yield from _nested_zip(zf, info, name, depth + 1)


def _nested_zip(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, source: str, depth: int
) -> Iterator[Document | Skipped]:
    if depth > MAX_DEPTH:
        yield Skipped(source, f"zips nested deeper than {MAX_DEPTH}")
        return
    if info.file_size > MAX_ARCHIVE_BYTES:
        yield Skipped(source, f"over {MAX_ARCHIVE_BYTES} bytes")
        return
    if info.file_size > MAX_ARCHIVE_RATIO * max(info.compress_size, 1 << 16):
        yield Skipped(source, f"expands more than {MAX_ARCHIVE_RATIO} times")
        return
    with tempfile.TemporaryFile() as tmp:
        try:
            with zf.open(info) as member:
                copied = _copy_bounded(member, tmp)
        except _ZIP_ERRORS as exc:
            yield Skipped(source, f"unreadable ({exc})")
            return
        if not copied:
            yield Skipped(source, f"over {MAX_ARCHIVE_BYTES} bytes")
            return
        tmp.seek(0)
        yield from _zip_file(tmp, source, depth)


def _copy_bounded(src: IO[bytes], dst: IO[bytes]) -> bool:
    left = MAX_ARCHIVE_BYTES
    while chunk := src.read(1 << 20):
        left -= len(chunk)
        if left < 0:
            return False
        dst.write(chunk)
    return True


def _zip_file(file: str | IO[bytes], source: str, depth: int) -> Iterator[Document | Skipped]:
    try:
        zf = zipfile.ZipFile(file)
    except _ZIP_ERRORS as exc:
        yield Skipped(source, f"not a readable zip ({exc})")
        return
    with zf:
        try:
            yield from _zip_members(zf, source, depth)
        except _ZIP_ERRORS as exc:  # a central directory that lies about its members
            yield Skipped(source, f"unreadable ({exc})")


def _json_file(path: Path, source: str) -> Document | Skipped:
    try:
        if path.stat().st_size > MAX_RECORD_BYTES:
            return Skipped(source, f"over {MAX_RECORD_BYTES} bytes")
        with path.open("rb") as f:
            data = _read_bounded(f)
    except OSError as exc:
        return Skipped(source, f"unreadable ({exc.strerror or exc})")
    return (
        Skipped(source, f"over {MAX_RECORD_BYTES} bytes")
        if data is None
        else Document(source, data)
    )


def _files(root: Path) -> Iterator[Path]:
    """Regular files under `root`, in a stable order, not following symbolic links."""
    for top, dirs, names in os.walk(root):
        dirs.sort()
        for name in sorted(names):
            path = Path(top, name)
            if path.is_file() and not path.is_symlink():
                yield path


def documents(path: Path) -> Iterator[Document | Skipped]:
    """Every OSV document under `path` (a folder, a zip, or one JSON file)."""
    if path.is_dir():
        for file in _files(path):
            source = str(file.relative_to(path))
            lower = file.name.lower()
            if lower.endswith(".json"):
                yield _json_file(file, source)
            elif lower.endswith(".zip"):
                yield from _zip_file(str(file), source, 1)
    elif path.is_file() and (path.name.lower().endswith(".zip") or zipfile.is_zipfile(path)):
        yield from _zip_file(str(path), path.name, 1)
    elif path.is_file():
        yield _json_file(path, path.name)


def advisories(path: Path) -> Iterator[Advisory | Skipped]:
    for doc in documents(path):
        yield doc if isinstance(doc, Skipped) else parse(doc.data, doc.source)


def count_documents(path: Path) -> int | None:
    """How many documents `documents(path)` will yield, or None when zips hold zips."""
    if path.is_file() and not (path.name.lower().endswith(".zip") or zipfile.is_zipfile(path)):
        return 1
    zips = [path] if path.is_file() else []
    total = 0
    if path.is_dir():
        for file in _files(path):
            lower = file.name.lower()
            if lower.endswith(".json"):
                total += 1
            elif lower.endswith(".zip"):
                zips.append(file)
    for z in zips:
        try:
            with zipfile.ZipFile(z) as zf:
                names = [i.filename.lower() for i in zf.infolist() if not i.is_dir()]
        except _ZIP_ERRORS:
            total += 1
            continue
        if any(n.endswith(".zip") for n in names):
            return None
        total += sum(1 for n in names if n.endswith(".json"))
    return total
