"""Go modules from a binary's build info (the `.go.buildinfo` blob, Go 1.18+ format).

The blob starts with the 14-byte magic "\\xff Go buildinf:", then the pointer size, a
flags byte (0x2: strings inline), padding to 32 bytes, then two varint-prefixed
strings: the Go version and the module info (framed by 16-byte sentinels; lines
`path`, `mod`, `dep`, `=>`, `build`). Binaries arrive as tar stream members, where
the ELF section table (at the end of the file) cannot be reached before the data, so
the blob is found by scanning the stream for the magic at 16-byte alignment (Go's
own reader falls back to a scan too) and validating it; no ELF parser is needed.
Pre-1.18 binaries (pointers instead of inline strings) are reported as unreadable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from packageurl import PackageURL

from dockyard.supplychain.model import Package

MAGIC = b"\xff Go buildinf:"
_HEADER = 32
_FLAG_INLINE = 0x2
_MAX_BLOB = 4 << 20
_MAX_VERSION = 256
_MAX_CANDIDATES = 256
_CHUNK = 1 << 20


class BuildInfoError(ValueError):
    """Build info found but not readable (pre-1.18 layout)."""


class _Truncated(Exception):
    pass


@dataclass(frozen=True, slots=True)
class BuildInfo:
    go_version: str
    modinfo: str


Buffer = bytes | bytearray | memoryview


def _uvarint(blob: Buffer, pos: int) -> tuple[int, int]:
    value = shift = 0
    for i in range(10):
        if pos + i >= len(blob):
            raise _Truncated
        byte = blob[pos + i]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos + i + 1
        shift += 7
    raise ValueError("varint too long")


def _span(blob: Buffer, pos: int, limit: int) -> tuple[int, int]:
    """(start, end) of a varint-prefixed string; checked before anything is copied."""
    length, start = _uvarint(blob, pos)
    if length > limit:
        raise ValueError("string too long")
    if start + length > len(blob):
        raise _Truncated
    return start, start + length


def parse_buildinfo(blob: Buffer) -> BuildInfo | None:
    """The build info at the start of blob; None if it is not one. Raises _Truncated
    when blob ends too early, BuildInfoError for the pre-1.18 layout."""
    if len(blob) < _HEADER:
        raise _Truncated
    if bytes(blob[: len(MAGIC)]) != MAGIC or blob[14] not in (4, 8):
        return None
    if not blob[15] & _FLAG_INLINE:
        raise BuildInfoError("Go build info in the pre-1.18 layout is not read")
    try:
        start, end = _span(blob, _HEADER, _MAX_VERSION)
        version = bytes(blob[start:end]).decode("utf-8", "replace")
        if not version.startswith(("go", "devel")):
            return None
        start, end = _span(blob, end, _MAX_BLOB)
    except ValueError:
        return None
    mod = bytes(blob[start:end]).decode("utf-8", "replace")
    mod = mod[16:-16] if len(mod) >= 33 and mod[-17] == "\n" else ""  # strip the sentinels
    return BuildInfo(version, mod)


def find_buildinfo(read: Callable[[int], bytes]) -> BuildInfo | None:
    """Scan a binary, read sequentially through read(n), for its build info. At most
    _MAX_CANDIDATES aligned magics are tried, none copied until it parses whole."""
    buf = bytearray()
    base = start = 0  # file offset of buf[0]; where the next search begins in buf
    eof = False
    tried = 0
    while True:
        idx = buf.find(MAGIC, start)
        if idx < 0:
            if eof:
                return None
            drop = max(0, len(buf) - len(MAGIC) + 1)
            del buf[:drop]
            base, start = base + drop, 0
            chunk = read(_CHUNK)
            eof = not chunk
            buf += chunk
            continue
        start = idx + 1
        if (base + idx) % 16:
            continue
        tried += 1
        if tried > _MAX_CANDIDATES:
            return None
        while True:
            try:
                with memoryview(buf) as view:
                    info = parse_buildinfo(view[idx : idx + _HEADER + 16 + _MAX_BLOB])
            except _Truncated:
                if eof or len(buf) - idx >= _HEADER + 16 + _MAX_BLOB:
                    break
                chunk = read(_CHUNK)
                eof = not chunk
                buf += chunk
                continue
            if info is not None:
                return info
            break


def _purl(path: str, version: str) -> str:
    namespace, _, name = path.rpartition("/")
    return PackageURL(
        type="golang", namespace=namespace or None, name=name, version=version or None
    ).to_string()


def modules(info: BuildInfo) -> list[tuple[str, str]]:
    """(module path, version) of the main module and each dependency, replacements
    applied (a local-directory replacement keeps the path with version "(devel)")."""
    found: list[list[str]] = []
    for line in info.modinfo.split("\n"):
        fields = line.split("\t")
        if fields[0] in ("mod", "dep") and len(fields) >= 2 and fields[1]:
            found.append([fields[1], fields[2] if len(fields) > 2 else ""])
        elif fields[0] == "=>" and found and len(fields) >= 2:
            if len(fields) > 2 and fields[2]:
                found[-1] = [fields[1], fields[2]]
            else:
                found[-1][1] = "(devel)"
    return [(p, v) for p, v in found if v]  # a module line without a version is damage


def packages(info: BuildInfo, location: str) -> list[Package]:
    """The modules of a binary and the Go standard library (pkg:golang/stdlib)."""
    out = [
        Package(type="golang", name=p, version=v, purl=_purl(p, v), location=location)
        for p, v in modules(info)
    ]
    go = info.go_version.split()[0] if info.go_version.split() else ""
    if go.startswith("go"):
        version = go[2:]
        out.append(
            Package(
                type="golang",
                name="stdlib",
                version=version,
                purl=_purl("stdlib", version),
                location=location,
            )
        )
    return out
