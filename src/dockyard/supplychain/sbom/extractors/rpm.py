"""RPM packages from the SQLite rpmdb of Fedora / RHEL 9 and later
(/var/lib/rpm/rpmdb.sqlite, /usr/lib/sysimage/rpm/rpmdb.sqlite).

The table Packages(hnum, blob) holds one RPM header per package. No maintained Python
library parses a header blob without librpm (rpmfile reads .rpm files: a lead and
magic-prefixed headers, not rpmdb's bare blobs), so the index is read by hand: it is
two big-endian int32 counts (entries, data bytes), then 16-byte entries (tag, type,
offset, count), then the data store. The database is opened from memory
(sqlite3 deserialize): nothing is written to disk. BerkeleyDB and NDB databases are
not read (a warning says so).
"""

from __future__ import annotations

import sqlite3
import struct

from packageurl import PackageURL

from dockyard.supplychain.model import Distro, Package
from dockyard.supplychain.sbom.extractors.osrelease import distro_qualifier

SQLITE_PATHS = ("var/lib/rpm/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite")
LEGACY_PATHS = (
    "var/lib/rpm/Packages",
    "var/lib/rpm/Packages.db",
    "usr/lib/sysimage/rpm/Packages",
    "usr/lib/sysimage/rpm/Packages.db",
)

NAME, VERSION, RELEASE, EPOCH, LICENSE, ARCH, SOURCERPM = 1000, 1001, 1002, 1003, 1014, 1022, 1044
_WANTED = {NAME, VERSION, RELEASE, EPOCH, LICENSE, ARCH, SOURCERPM}
_INT32, _STRING, _I18NSTRING = 4, 6, 9
_MAX_ENTRIES = 65_536
_MAX_PACKAGES = 200_000
MAX_LICENSE = 256
_MAX_PROGRESS_CALLS = 200_000  # of 1000 VM steps each


class RpmError(ValueError):
    """An rpmdb or a header that cannot be read."""


def parse_header(blob: bytes) -> dict[int, str | int]:
    """The tags this reader needs from one header blob (strings and the epoch)."""
    if len(blob) < 8:
        raise RpmError("header shorter than its counts")
    il, dl = struct.unpack_from(">II", blob, 0)
    store = 8 + 16 * il
    if il > _MAX_ENTRIES or store + dl > len(blob):
        raise RpmError("header counts exceed the blob")
    end_of_store = store + dl
    tags: dict[int, str | int] = {}
    for i in range(il):
        tag, typ, offset, count = struct.unpack_from(">IIII", blob, 8 + 16 * i)
        if tag not in _WANTED or offset >= dl:
            continue
        at = store + offset
        if typ == _INT32 and count >= 1 and offset + 4 <= dl:
            tags[tag] = struct.unpack_from(">I", blob, at)[0]
        elif typ in (_STRING, _I18NSTRING):
            end = blob.find(b"\0", at, end_of_store)
            if end < 0:
                raise RpmError(f"unterminated string for tag {tag}")
            tags[tag] = blob[at:end].decode("utf-8", "replace")
    return tags


def source_of(sourcerpm: str) -> tuple[str, str]:
    """glibc-2.34-60.el9.src.rpm -> (glibc, 2.34-60.el9)."""
    stem = sourcerpm.removesuffix(".rpm")
    stem = stem.rsplit(".", 1)[0] if stem.endswith((".src", ".nosrc")) else stem
    parts = stem.rsplit("-", 2)
    if len(parts) != 3:
        return "", ""
    return parts[0], f"{parts[1]}-{parts[2]}"


def headers(data: bytes) -> list[bytes]:
    """The header blobs of a SQLite rpmdb (read from memory). Packages must be a real
    table (a view could compute rows without end), schema code is not trusted, and a
    progress budget bounds the work a corrupt file can cause."""
    conn = sqlite3.connect(":memory:")
    steps = [0]

    def budget() -> int:
        steps[0] += 1
        return 1 if steps[0] > _MAX_PROGRESS_CALLS else 0

    try:
        conn.deserialize(data)
        conn.text_factory = bytes  # a damaged schema's text need not be UTF-8
        conn.set_progress_handler(budget, 1000)
        conn.execute("PRAGMA trusted_schema = OFF")
        conn.execute("PRAGMA cell_size_check = ON")
        kind = conn.execute("SELECT type FROM sqlite_master WHERE name = 'Packages'").fetchone()
        if kind is None or kind[0] != b"table":
            raise RpmError("rpmdb.sqlite has no Packages table")
        rows = conn.execute("SELECT blob FROM Packages LIMIT ?", (_MAX_PACKAGES,)).fetchall()
    except (sqlite3.Error, ValueError) as exc:
        raise RpmError(f"unreadable rpmdb.sqlite: {exc}") from None
    finally:
        conn.close()
    return [bytes(row[0]) for row in rows if isinstance(row[0], bytes | memoryview)]


def extract(
    path: str, data: bytes, distro: Distro | None, warnings: list[str] | None = None
) -> list[Package]:
    """The packages of a SQLite rpmdb. Raises RpmError for an unreadable database; an
    unreadable header is skipped (counted in warnings)."""
    namespace = distro.id if distro is not None else None
    qualifier = distro_qualifier(distro)
    found: list[Package] = []
    skipped = 0
    for blob in headers(data):
        try:
            tags = parse_header(blob)
        except RpmError:
            skipped += 1
            continue
        name, version, release = (str(tags.get(t, "")) for t in (NAME, VERSION, RELEASE))
        if not name or not version or name == "gpg-pubkey":
            continue
        epoch = tags.get(EPOCH)
        evr = f"{version}-{release}" if release else version
        qualifiers = {"arch": str(tags.get(ARCH, ""))}
        if isinstance(epoch, int) and epoch:
            qualifiers["epoch"] = str(epoch)
        if qualifier:
            qualifiers["distro"] = qualifier
        purl = PackageURL(
            type="rpm",
            namespace=namespace,
            name=name,
            version=evr,
            qualifiers={k: v for k, v in qualifiers.items() if v},
        ).to_string()
        source_name, source_version = source_of(str(tags.get(SOURCERPM, "")))
        license_ = str(tags.get(LICENSE, ""))[:MAX_LICENSE]
        found.append(
            Package(
                type="rpm",
                name=name,
                version=f"{epoch}:{evr}" if isinstance(epoch, int) and epoch else evr,
                purl=purl,
                location=path,
                source_name=source_name,
                source_version=source_version,
                licenses=(license_,) if license_ else (),
            )
        )
    if skipped and warnings is not None:
        warnings.append(f"{path}: {skipped} unreadable package headers skipped")
    return found
