"""read_image: each layer read once, in order, as a tar stream in a worker thread
(stream.py feeds it); whiteouts and opaque directories applied so the packages are
those of the final filesystem.

Member names are normalized (leading "./" and "/" dropped); a name with a ".."
component is ignored. Nothing is ever written to disk and no link is followed: a
symlink only hides what lower layers had at its path, and a hardlink is resolved only
to a file kept earlier in the same layer. Only the files the extractors want are kept,
each bounded (metadata: max_member_bytes; jars and ELF binaries: max_binary_bytes);
member data nobody wants is skipped by tarfile's stream mode. A layer that is not a
tar, is corrupt, or is a bomb raises LayerRefused; one unreadable file is a warning.
"""

from __future__ import annotations

import asyncio
import tarfile
import zlib
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from typing import IO, Any, cast

import zstandard

from dockyard.supplychain.model import ImageContents
from dockyard.supplychain.sbom import Layer, LayerRefused, Limits, OpenLayer
from dockyard.supplychain.sbom.extractors import (
    DEFERRED,
    Entry,
    Kind,
    classify,
    distro_of,
    extract_all,
    extract_now,
    golang,
    java,
)
from dockyard.supplychain.sbom.stream import (
    Bounded,
    ChunkSource,
    Refused,
    SourceFailed,
    decompressed,
)

_TAR_BUFSIZE = 32 << 10  # larger: tarfile's stream re-slices its buffer per header
_MAX_EXT_HEADER = 1 << 20
_EXT_TYPES = frozenset(
    {
        tarfile.GNUTYPE_LONGNAME,
        tarfile.GNUTYPE_LONGLINK,
        tarfile.XHDTYPE,
        tarfile.XGLTYPE,
        tarfile.SOLARIS_XHDTYPE,
    }
)
_OPAQUE = ".wh..wh..opq"
_MAX_KEPT = 200_000  # package files (and Go binaries) kept for one image
_ELF = b"\x7fELF"


class _BoundedTarInfo(tarfile.TarInfo):
    """Refuses pax / GNU long-name headers past 1 MiB (tarfile would read them whole)
    and old-GNU sparse members with extension blocks (tarfile would collect an
    unbounded sparse map; container tools write PAX sparse files instead)."""

    def _proc_member(self, tf: tarfile.TarFile) -> Any:
        if self.type in _EXT_TYPES and self.size > _MAX_EXT_HEADER:
            raise Refused(f"extended tar header of {self.size} bytes")
        sparse = getattr(self, "_sparse_structs", None)
        if self.type == tarfile.GNUTYPE_SPARSE and sparse is not None and sparse[1]:
            raise Refused("old GNU sparse member with extension blocks")
        return super()._proc_member(tf)  # type: ignore[misc]


@dataclass(slots=True)
class _LayerResult:
    files: dict[str, Entry] = field(default_factory=dict)
    whiteouts: list[str] = field(default_factory=list)
    opaque: list[str] = field(default_factory=list)
    shadowed: set[str] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)


def normalize(name: str) -> str | None:
    """A member name relative to the root; None for ".." components or the root.
    Bytes that are not UTF-8 (tarfile keeps them as surrogates) become U+FFFD."""
    if not name.isascii():
        name = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    parts = [p for p in name.split("/") if p and p != "."]
    if not parts or ".." in parts:
        return None
    return "/".join(parts)


def _relocated(entry: Entry, old: str, new: str) -> Entry:
    """A hardlinked file's entry, its packages' locations at the link's path."""
    packages = tuple(
        replace(p, location=new + p.location[len(old) :]) if p.location.startswith(old) else p
        for p in entry.packages
    )
    return Entry(entry.kind, entry.data, packages)


def _is_tar_layer(media_type: str) -> bool:
    subtype = media_type.rpartition("/")[2]
    return ("layer" in subtype or "rootfs" in subtype) and "tar" in subtype


class _Scanner:
    """One layer's members, read in the worker thread."""

    def __init__(self, lower: Mapping[str, Entry], limits: Limits) -> None:
        self.lower = lower
        self.limits = limits
        self.out = _LayerResult()
        self.warned_full = False

    def member(self, tf: tarfile.TarFile, ti: tarfile.TarInfo) -> None:
        path = normalize(ti.name)
        if path is None:
            return
        dirname, _, base = path.rpartition("/")
        if base.startswith(".wh."):
            if base == _OPAQUE:
                self.out.opaque.append(dirname)
            elif base[4:] not in ("", ".", ".."):
                self.out.whiteouts.append(f"{dirname}/{base[4:]}" if dirname else base[4:])
            return
        files = self.out.files
        files.pop(path, None)  # a later member of the same name replaces an earlier one
        if path in self.lower:
            self.out.shadowed.add(path)
        kind = classify(path)
        if (kind is not None or ti.mode & 0o111) and self._full():
            return
        if ti.isreg():
            if kind is not None:
                self._keep(tf, ti, path, kind)
            elif ti.mode & 0o111 and ti.size >= 64:
                self._binary(tf, ti, path)
        elif ti.islnk() and kind is not None:
            target = normalize(ti.linkname)
            if target is not None and target in files:
                files[path] = _relocated(files[target], target, path)

    def _full(self) -> bool:
        """Whether the image already has _MAX_KEPT files kept (warned once)."""
        if len(self.out.files) + len(self.lower) < _MAX_KEPT:
            return False
        if not self.warned_full:
            self.warned_full = True
            self.out.warnings.append(f"more than {_MAX_KEPT} package files; the rest skipped")
        return True

    def _open(self, tf: tarfile.TarFile, ti: tarfile.TarInfo) -> IO[bytes]:
        f = tf.extractfile(ti)
        assert f is not None  # a regular file always has data
        return f

    def _keep(self, tf: tarfile.TarFile, ti: tarfile.TarInfo, path: str, kind: Kind) -> None:
        limits, out = self.limits, self.out
        if kind is Kind.RPM_LEGACY:
            out.files[path] = Entry(kind)
            return
        limit = limits.max_binary_bytes if kind is Kind.JAR else limits.max_member_bytes
        if ti.size > limit:
            out.warnings.append(f"{path}: {ti.size} bytes, over the {limit}-byte limit; skipped")
            return
        data = self._open(tf, ti).read(limit)
        try:
            if kind in DEFERRED:
                out.files[path] = Entry(kind, data)
            elif kind is Kind.JAR:
                pkgs = java.extract(path, data, nested_budget=limits.max_binary_bytes)
                out.files[path] = Entry(kind, packages=tuple(pkgs))
            else:
                pkgs = extract_now(kind, path, data)
                out.files[path] = Entry(kind, packages=tuple(pkgs))
        except Exception as exc:  # hostile bytes: one file's failure is a warning
            out.warnings.append(f"{path}: {exc}")

    def _binary(self, tf: tarfile.TarFile, ti: tarfile.TarInfo, path: str) -> None:
        f = self._open(tf, ti)
        head = f.read(4)
        if head != _ELF:
            return
        if ti.size > self.limits.max_binary_bytes:
            self.out.warnings.append(
                f"{path}: ELF binary of {ti.size} bytes, over the "
                f"{self.limits.max_binary_bytes}-byte limit; skipped"
            )
            return
        pending = [head]

        def read(n: int) -> bytes:
            return pending.pop() if pending else f.read(n)

        try:
            info = golang.find_buildinfo(read)
        except golang.BuildInfoError as exc:
            self.out.warnings.append(f"{path}: {exc}")
            return
        if info is not None:
            self.out.files[path] = Entry(Kind.GO, packages=tuple(golang.packages(info, path)))


def _scan(source: ChunkSource, lower: Mapping[str, Entry], limits: Limits) -> _LayerResult:
    """Runs in the worker thread. Raises Refused, SourceFailed."""
    if not source.peek(1):
        return _LayerResult()  # an empty blob: an empty layer
    inner, compression = decompressed(source)
    stream = Bounded(inner, source, limits, compression)
    scanner = _Scanner(lower, limits)
    count = 0
    try:
        with tarfile.open(
            fileobj=cast(IO[bytes], stream),
            mode="r|",
            bufsize=_TAR_BUFSIZE,
            tarinfo=_BoundedTarInfo,
        ) as tf:
            members: list[tarfile.TarInfo] = tf.members  # type: ignore[attr-defined]
            while (ti := tf.next()) is not None:
                members.clear()  # stream mode would keep every member otherwise
                count += 1
                if count > limits.max_members:
                    raise Refused(f"more than {limits.max_members} tar members")
                scanner.member(tf, ti)
    except (Refused, SourceFailed):
        raise
    except (EOFError, zlib.error, zstandard.ZstdError, OSError) as exc:
        # gzip.BadGzipFile is an OSError
        raise Refused(f"truncated or corrupt {compression} stream: {exc}") from None
    except tarfile.TarError as exc:
        if count == 0 and stream.total == 0:
            return _LayerResult()  # compressed nothing: an empty layer too
        if count == 0:
            raise Refused(f"not a tar archive ({exc})") from None
        raise Refused(f"corrupt tar stream after {count} members: {exc}") from None
    return scanner.out


async def _read_layer(
    layer: Layer, open_layer: OpenLayer, limits: Limits, lower: Mapping[str, Entry]
) -> _LayerResult:
    source = ChunkSource(asyncio.get_running_loop())
    pump = asyncio.create_task(source.pump(open_layer(layer)))
    try:
        return await asyncio.to_thread(_scan, source, lower, limits)
    except Refused as exc:
        raise LayerRefused(f"layer {layer.digest}: {exc}") from None
    except SourceFailed as exc:
        raise exc.original from None
    finally:
        source.close()
        pump.cancel()
        with suppress(asyncio.CancelledError):
            await pump


def _apply(state: dict[str, Entry], layer: _LayerResult) -> None:
    """Lay one layer over the state: opaque dirs and whiteouts hide lower paths, any
    member at a kept path replaces it, then the layer's kept files are added. Each
    kept path's ancestors are looked up (not each whiteout scanned over every path)."""
    whiteouts, opaque = set(layer.whiteouts), set(layer.opaque)
    doomed: set[str] = set(layer.shadowed)
    if "" in opaque:
        doomed.update(state)
    elif whiteouts or opaque:
        for path in state:
            if path in whiteouts:
                doomed.add(path)
                continue
            head = path
            while "/" in head:
                head = head.rpartition("/")[0]
                if head in whiteouts or head in opaque:
                    doomed.add(path)
                    break
    for path in doomed:
        state.pop(path, None)
    state.update(layer.files)


async def read_image(
    layers: Sequence[Layer], open_layer: OpenLayer, limits: Limits = Limits()
) -> ImageContents:
    """The distro and packages of an image. Raises LayerRefused."""
    state: dict[str, Entry] = {}
    warnings: list[str] = []
    for layer in layers:
        if not _is_tar_layer(layer.media_type):
            warnings.append(f"layer {layer.digest}: media type {layer.media_type!r} skipped")
            continue
        result = await _read_layer(layer, open_layer, limits, state)
        _apply(state, result)
        warnings += result.warnings
    return await asyncio.to_thread(_contents, state, warnings)


def _contents(state: Mapping[str, Entry], warnings: list[str]) -> ImageContents:
    """The final filesystem's packages (OS databases parsed now that the distro is
    known), sorted; in the worker thread too (an rpmdb can take a while)."""
    distro = distro_of(state)
    packages, failed = extract_all(state, distro)
    unique = sorted(set(packages), key=lambda p: (p.type, p.name, p.version, p.location, p.purl))
    return ImageContents(distro=distro, packages=tuple(unique), warnings=(*warnings, *failed))
