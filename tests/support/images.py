"""Build test images with known package contents: layer tarballs (gzip, zstd or plain),
package databases and metadata files as each ecosystem writes them, a minimal Go ELF
binary with real build info, jars, and the OCI manifest + config of an image.

File builders return ``{path: content}`` fragments to merge into ``layer({...})``;
a value of ``None`` is a whiteout, ``File(data, mode)`` sets the mode. Everything is
deterministic (mtime 0, gzip mtime 0), so the same arguments give the same digests.

    img = image([
        layer({**os_release("debian", "12"), **dpkg_status([{"Package": "libc6",
               "Version": "2.36-9", "Source": "glibc", "Architecture": "amd64"}])}),
        layer({**python_dist_info("requests", "2.31.0"), **go_binary("usr/bin/app"),
               "var/lib/dpkg/status": None}, compression="zstd"),   # a whiteout
    ])
    img.manifest, img.config, img.blobs      # to push: bytes, bytes, {digest: bytes}
    await read_image(img.layers(), img.open_layer)
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import sqlite3
import struct
import tarfile
import zipfile
import zlib
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass

import zstandard

from dockyard.supplychain.sbom import Layer

MT_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MT_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
MT_TAR = "application/vnd.oci.image.layer.v1.tar"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
ZSTD_MAGIC_FOR_TESTS = b"\x28\xb5\x2f\xfd"


@dataclass(frozen=True)
class File:
    data: bytes
    mode: int = 0o644


Content = bytes | File | None
Files = dict[str, Content]


# --- layers -------------------------------------------------------------------------


def tar_bytes(
    files: Mapping[str, Content],
    *,
    symlinks: Mapping[str, str] | None = None,
    hardlinks: Mapping[str, str] | None = None,
    opaque: Sequence[str] = (),
    raw_names: bool = False,
) -> bytes:
    """An uncompressed tar: parent directories, then files, whiteouts (None values),
    opaque-directory markers, symlinks and hardlinks (path -> target), in that order.
    raw_names writes names exactly as given (for hostile ones like "../x")."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        dirs: set[str] = set()
        every = [*files, *(symlinks or {}), *(hardlinks or {}), *(f"{d}/x" for d in opaque)]
        for path in every:
            parts = path.strip("/").split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d and d not in dirs and ".." not in parts[:i] and not raw_names:
                    dirs.add(d)
                    ti = tarfile.TarInfo(d)
                    ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                    tf.addfile(ti)
        for path, content in files.items():
            if content is None:
                head, _, base = path.rpartition("/")
                ti = tarfile.TarInfo(f"{head}/.wh.{base}" if head else f".wh.{base}")
                tf.addfile(ti, io.BytesIO(b""))
                continue
            f = content if isinstance(content, File) else File(content)
            ti = tarfile.TarInfo(path)
            ti.size, ti.mode = len(f.data), f.mode
            tf.addfile(ti, io.BytesIO(f.data))
        for d in opaque:
            tf.addfile(tarfile.TarInfo(f"{d}/.wh..wh..opq"), io.BytesIO(b""))
        for kind, links in ((tarfile.SYMTYPE, symlinks), (tarfile.LNKTYPE, hardlinks)):
            for path, target in (links or {}).items():
                ti = tarfile.TarInfo(path)
                ti.type, ti.linkname = kind, target
                tf.addfile(ti)
    return buf.getvalue()


def compress(tar: bytes, compression: str = "gzip") -> bytes:
    if compression == "gzip":
        return gzip.compress(tar, mtime=0)
    if compression == "zstd":
        return zstandard.ZstdCompressor().compress(tar)
    return tar


def layer(
    files: Mapping[str, Content],
    *,
    symlinks: Mapping[str, str] | None = None,
    hardlinks: Mapping[str, str] | None = None,
    opaque: Sequence[str] = (),
    compression: str = "gzip",
) -> bytes:
    """A layer blob (gzip tar by default; "zstd" or "none")."""
    tar = tar_bytes(files, symlinks=symlinks, hardlinks=hardlinks, opaque=opaque)
    return compress(tar, compression)


# --- package databases and metadata --------------------------------------------------


def os_release(id: str, version_id: str, codename: str = "", path: str = "etc/os-release") -> Files:
    lines = [f"ID={id}", f'VERSION_ID="{version_id}"', f'PRETTY_NAME="{id} {version_id}"']
    if codename:
        lines.append(f"VERSION_CODENAME={codename}")
    return {path: ("\n".join(lines) + "\n").encode()}


def dpkg_status(entries: Sequence[Mapping[str, str]], path: str = "var/lib/dpkg/status") -> Files:
    """A dpkg status file; each entry's fields in order (Status defaults to installed)."""
    paras = []
    for entry in entries:
        fields = {"Package": entry["Package"], "Status": "install ok installed", **entry}
        fields.setdefault("Priority", "optional")
        fields.setdefault("Description", "a package\n some long description\n .\n more")
        paras.append("".join(f"{k}: {v}\n" for k, v in fields.items() if v is not None))
    return {path: "\n".join(paras).encode()}


def apk_installed(
    entries: Sequence[Mapping[str, str]], path: str = "lib/apk/db/installed"
) -> Files:
    """An apk installed database; entries keyed by the one-letter fields (P, V, A, o, L)."""
    blocks = []
    for entry in entries:
        fields = {"C": "Q1abc=", **entry, "T": entry.get("T", "a package")}
        body = "".join(f"{k}:{v}\n" for k, v in fields.items())
        blocks.append(body + f"F:usr/lib\nR:lib{entry.get('P', 'x')}.so\n")
    return {path: "\n".join(blocks).encode() + b"\n"}


RPM_NAME, RPM_VERSION, RPM_RELEASE, RPM_EPOCH = 1000, 1001, 1002, 1003
RPM_LICENSE, RPM_ARCH, RPM_SOURCERPM, RPM_SUMMARY = 1014, 1022, 1044, 1004


def rpm_header(tags: Mapping[int, str | int]) -> bytes:
    """An RPM header blob as rpmdb.sqlite stores it: counts, index entries (sorted by
    tag, an immutable-region entry first), data store with the region trailer last."""
    store = bytearray()
    index: list[tuple[int, int, int, int]] = []
    for tag in sorted(tags):
        value = tags[tag]
        if isinstance(value, int):
            store += b"\0" * (-len(store) % 4)
            index.append((tag, 4, len(store), 1))
            store += struct.pack(">I", value)
        else:
            typ = 9 if tag == RPM_SUMMARY else 6
            index.append((tag, typ, len(store), 1))
            store += value.encode() + b"\0"
    trailer_at = len(store)
    n = len(index) + 1
    store += struct.pack(">IIii", 63, 7, -16 * n, 16)  # region trailer
    entries = [(63, 7, trailer_at, 16), *index]
    head = struct.pack(">II", n, len(store))
    return head + b"".join(struct.pack(">IIII", *e) for e in entries) + bytes(store)


def rpmdb_sqlite(
    packages: Sequence[Mapping[int, str | int]], path: str = "var/lib/rpm/rpmdb.sqlite"
) -> Files:
    """A SQLite rpmdb with the schema rpm 4.16+ writes (Packages + a Name index)."""
    conn = sqlite3.connect(":memory:")
    conn.execute(
        "CREATE TABLE 'Packages' (hnum INTEGER PRIMARY KEY AUTOINCREMENT,blob BLOB NOT NULL)"
    )
    conn.execute(
        "CREATE TABLE 'Name' (key TEXT NOT NULL, hnum INTEGER NOT NULL, idx INTEGER NOT NULL,"
        " FOREIGN KEY (hnum) REFERENCES 'Packages'(hnum))"
    )
    for tags in packages:
        cur = conn.execute("INSERT INTO Packages (blob) VALUES (?)", (rpm_header(tags),))
        conn.execute("INSERT INTO Name VALUES (?, ?, 0)", (tags[RPM_NAME], cur.lastrowid))
    conn.commit()
    data = conn.serialize()
    conn.close()
    return {path: data}


def python_dist_info(
    name: str,
    version: str,
    license: str | None = None,
    site: str = "usr/local/lib/python3.11/site-packages",
) -> Files:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    if license:
        lines.append(f"License: {license}")
    body = "\n".join(lines) + "\n\n# " + name + "\n\nA long README.\nName: not-a-header\n"
    stem = f"{name.replace('-', '_')}-{version}"
    return {
        f"{site}/{stem}.dist-info/METADATA": body.encode(),
        f"{site}/{stem}.dist-info/RECORD": b"",
    }


def python_egg_info(
    name: str, version: str, site: str = "usr/lib/python3/dist-packages", as_file: bool = False
) -> Files:
    body = f"Metadata-Version: 1.1\nName: {name}\nVersion: {version}\nLicense: BSD\n".encode()
    stem = f"{name}-{version}.egg-info"
    return {f"{site}/{stem}": body} if as_file else {f"{site}/{stem}/PKG-INFO": body}


def npm_package(
    name: str, version: str, license: str | None = "MIT", root: str = "app/node_modules"
) -> Files:
    doc: dict[str, object] = {"name": name, "version": version, "main": "index.js"}
    if license:
        doc["license"] = license
    return {
        f"{root}/{name}/package.json": json.dumps(doc, indent=2).encode(),
        f"{root}/{name}/index.js": b"module.exports = {}\n",
        # a package.json inside a package that is not a package manifest
        f"{root}/{name}/lib/package.json": b'{"type": "module"}',
    }


def jar(
    group: str,
    artifact: str,
    version: str,
    *,
    path: str | None = None,
    pom: bool = True,
    manifest: Mapping[str, str] | None = None,
    nested: Mapping[str, bytes] | None = None,
) -> Files:
    """A jar with META-INF/maven/<g>/<a>/pom.properties (pom=True) and MANIFEST.MF;
    nested: {"BOOT-INF/lib/x.jar": jar bytes}."""
    return {
        path or f"opt/app/{artifact}-{version}.jar": jar_bytes(
            group, artifact, version, pom=pom, manifest=manifest, nested=nested
        )
    }


def jar_bytes(
    group: str,
    artifact: str,
    version: str,
    *,
    pom: bool = True,
    manifest: Mapping[str, str] | None = None,
    nested: Mapping[str, bytes] | None = None,
) -> bytes:
    buf = io.BytesIO()
    attrs = {"Manifest-Version": "1.0", "Created-By": "Maven", **(manifest or {})}
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(
            "META-INF/MANIFEST.MF", "".join(f"{k}: {v}\r\n" for k, v in attrs.items()) + "\r\n"
        )
        if pom:
            props = (
                f"#Generated by Maven\nartifactId={artifact}\ngroupId={group}\nversion={version}\n"
            )
            zf.writestr(f"META-INF/maven/{group}/{artifact}/pom.properties", props)
            zf.writestr(f"META-INF/maven/{group}/{artifact}/pom.xml", "<project/>")
        zf.writestr(f"{group.replace('.', '/')}/Main.class", b"\xca\xfe\xba\xbe")
        for name, data in (nested or {}).items():
            zf.writestr(name, data, compress_type=zipfile.ZIP_STORED)
    return buf.getvalue()


# --- a Go binary ---------------------------------------------------------------------

GO_MAGIC = b"\xff Go buildinf:"
_INFO_START = bytes.fromhex("3077af0c9274080241e1c107e6d618e6")
_INFO_END = bytes.fromhex("f932433186182072008242104116d8f2")


def _uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def go_modinfo(
    main: tuple[str, str],
    deps: Sequence[tuple[str, str]] = (),
    replace: Mapping[str, tuple[str, str]] | None = None,
) -> str:
    """The module info text `go version -m` prints (framing not included)."""
    lines = [f"path\t{main[0]}", f"mod\t{main[0]}\t{main[1]}\t"]
    for path, version in deps:
        lines.append(f"dep\t{path}\t{version}\th1:{hashlib.sha256(path.encode()).hexdigest()[:8]}=")
        if replace and path in replace:
            new_path, new_version = replace[path]
            lines.append(f"=>\t{new_path}\t{new_version}\t" + ("h1:x=" if new_version else ""))
    lines += ["build\t-compiler=gc", "build\tGOOS=linux", "build\tGOARCH=amd64"]
    return "\n".join(lines) + "\n"


def go_buildinfo_blob(go_version: str, modinfo: str, *, inline: bool = True) -> bytes:
    """The .go.buildinfo section contents (Go 1.18+ layout when inline)."""
    header = GO_MAGIC + bytes([8, 0x2 if inline else 0x0]) + b"\0" * 16
    if not inline:
        return header  # the pre-1.18 layout: two pointers follow (left zero)
    framed = _INFO_START + modinfo.encode() + _INFO_END
    version = go_version.encode()
    return header + _uvarint(len(version)) + version + _uvarint(len(framed)) + framed


def go_binary_bytes(
    go_version: str = "go1.22.1",
    main: tuple[str, str] = ("example.com/app", "(devel)"),
    deps: Sequence[tuple[str, str]] = (),
    replace: Mapping[str, tuple[str, str]] | None = None,
    *,
    inline: bool = True,
    text_size: int = 4096,
) -> bytes:
    """A minimal ELF64 little-endian x86-64 executable: ELF header, two PT_LOAD program
    headers (text r-x, data rw-), sections .text, .go.buildinfo (16-aligned, the first
    of the data segment, as Go's linker lays it out), .shstrtab, and the section header
    table at the end. The text holds a decoy magic at an unaligned offset."""
    blob = go_buildinfo_blob(go_version, go_modinfo(main, deps, replace), inline=inline)
    text = bytearray(b"\x90" * text_size)
    text[101 : 101 + len(GO_MAGIC)] = GO_MAGIC  # unaligned: must not be taken
    ehsize, phsize, shsize = 64, 56, 64
    text_off = 0x1000
    data_off = text_off + ((len(text) + 0xFFF) & ~0xFFF)
    shstr = b"\0.text\0.go.buildinfo\0.shstrtab\0"
    shstr_off = data_off + len(blob)
    sh_off = (shstr_off + len(shstr) + 7) & ~7
    base = 0x400000
    out = bytearray(sh_off + 4 * shsize)
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\0" * 8
    out[0:64] = ident + struct.pack(
        "<HHIQQQIHHHHHH",
        2,
        62,
        1,
        base + text_off,
        ehsize,
        sh_off,
        0,
        ehsize,
        phsize,
        2,
        shsize,
        4,
        3,
    )
    phdrs = [
        (1, 5, text_off, base + text_off, base + text_off, len(text), len(text), 0x1000),
        (1, 6, data_off, base + data_off, base + data_off, len(blob), len(blob), 0x1000),
    ]
    for i, ph in enumerate(phdrs):
        out[ehsize + i * phsize : ehsize + (i + 1) * phsize] = struct.pack("<IIQQQQQQ", *ph)
    out[text_off : text_off + len(text)] = text
    out[data_off : data_off + len(blob)] = blob
    out[shstr_off : shstr_off + len(shstr)] = shstr
    sections = [
        (0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
        (1, 1, 6, base + text_off, text_off, len(text), 0, 0, 16, 0),
        (7, 1, 3, base + data_off, data_off, len(blob), 0, 0, 16, 0),
        (21, 3, 0, 0, shstr_off, len(shstr), 0, 0, 1, 0),
    ]
    for i, sh in enumerate(sections):
        out[sh_off + i * shsize : sh_off + (i + 1) * shsize] = struct.pack("<IIQQQQIIQQ", *sh)
    return bytes(out)


go_binary_with_buildinfo = go_binary_bytes


def go_binary(path: str = "usr/local/bin/app", **kwargs: object) -> Files:
    """{path: an executable Go binary}; kwargs as go_binary_bytes."""
    return {path: File(go_binary_bytes(**kwargs), 0o755)}  # type: ignore[arg-type]


# --- images --------------------------------------------------------------------------


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Image:
    """An OCI image: manifest, config and layer blobs, all by digest."""

    manifest: bytes
    config: bytes
    layer_blobs: tuple[bytes, ...]
    layer_media_types: tuple[str, ...]

    @property
    def digest(self) -> str:
        return digest(self.manifest)

    @property
    def blobs(self) -> dict[str, bytes]:
        return {digest(b): b for b in (self.config, *self.layer_blobs)}

    def layers(self) -> list[Layer]:
        """The layers as read_image takes them."""
        return [
            Layer(digest(b), mt, len(b))
            for b, mt in zip(self.layer_blobs, self.layer_media_types, strict=True)
        ]

    async def open_layer(self, layer: Layer) -> AsyncIterator[bytes]:
        """Serve a layer's bytes in 64 KiB chunks (as a storage driver would)."""
        data = self.blobs[layer.digest]
        for i in range(0, len(data), 64 << 10):
            yield data[i : i + (64 << 10)]


def _media_type(blob: bytes) -> str:
    if blob[:2] == b"\x1f\x8b":
        return MT_GZIP
    if blob[:4] == b"\x28\xb5\x2f\xfd":
        return MT_ZSTD
    return MT_TAR


def image(layers: Sequence[bytes], *, media_types: Sequence[str] | None = None) -> Image:
    """An OCI image manifest + config (rootfs.diff_ids of the uncompressed tars) for
    these layer blobs; media types sniffed from the blobs unless given."""
    types = tuple(media_types) if media_types is not None else tuple(_media_type(b) for b in layers)
    diff_ids = []
    for blob in layers:
        kind = _media_type(blob)  # by magic: a hostile blob's media type may lie
        try:
            if kind == MT_GZIP:
                raw = gzip.decompress(blob)
            elif kind == MT_ZSTD:
                raw = zstandard.ZstdDecompressor().decompressobj().decompress(blob)
            else:
                raw = blob
        except (OSError, EOFError, zlib.error, zstandard.ZstdError):
            raw = blob
        diff_ids.append(digest(raw))
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created_by": "dockyard tests"} for _ in layers],
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MT_MANIFEST,
            "config": {"mediaType": MT_CONFIG, "digest": digest(config), "size": len(config)},
            "layers": [
                {"mediaType": mt, "digest": digest(b), "size": len(b)}
                for b, mt in zip(layers, types, strict=True)
            ],
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    return Image(manifest, config, tuple(layers), types)
