"""Build and verify OCI image layouts on disk, locally and without any network.

The builders here produce real, spec-conformant OCI image layouts
(https://github.com/opencontainers/image-spec/blob/main/image-layout.md):

* ``oci-layout`` marker file and ``index.json``,
* ``blobs/sha256/<hex>`` content-addressed blobs,
* gzip-compressed tar layers, an image config with ``rootfs.diff_ids`` and an
  OCI image manifest, or an OCI image index for multi-platform images.

Layers are streamed to disk: a 200 MiB layer is generated in small chunks of
deterministic pseudo-random (incompressible) bytes, written through tar and
gzip, and both the compressed digest and the uncompressed ``diff_id`` are
computed on the fly, so memory use does not grow with layer size.

Everything is deterministic: the same arguments (and seed) give byte-identical
blobs, hence identical digests. Pass a distinct ``seed`` to get content no
other test has pushed (so registry-side blob de-duplication cannot mask bugs).

Several images/indexes can share a layout; each call adds (or replaces) one
``org.opencontainers.image.ref.name`` entry in ``index.json``, so
``skopeo copy oci:LAYOUT:TAG ...`` resolves it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import random
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

OCI_LAYOUT_VERSION = "1.0.0"
REF_NAME = "org.opencontainers.image.ref.name"

MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MT_OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
MT_OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"

MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MT_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MT_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MT_DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"

MANIFEST_TYPES = frozenset({MT_OCI_MANIFEST, MT_DOCKER_MANIFEST})
INDEX_TYPES = frozenset({MT_OCI_INDEX, MT_DOCKER_LIST})
GZIP_LAYER_TYPES = frozenset({MT_OCI_LAYER_GZIP, MT_DOCKER_LAYER_GZIP})

CHUNK = 1 << 16  # 64 KiB streaming chunk
FIXED_MTIME = 1_000_000_000  # 2001-09-09, any fixed value keeps tars reproducible
CREATED = "2001-09-09T01:46:40Z"

Platform = tuple[str, str] | tuple[str, str, str]  # (os, arch[, variant])
LayerSpec = int | bytes  # int: that many random bytes; bytes: that exact file content


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Layer:
    digest: str  # sha256 of the compressed blob
    size: int  # compressed size
    diff_id: str  # sha256 of the uncompressed tar
    media_type: str = MT_OCI_LAYER_GZIP

    def descriptor(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


@dataclass(frozen=True)
class BuiltImage:
    layout: Path
    tag: str | None
    platform: Platform
    manifest_digest: str
    manifest_size: int
    manifest_bytes: bytes
    config_digest: str
    config_size: int
    config_bytes: bytes
    layers: tuple[Layer, ...]

    @property
    def manifest(self) -> dict[str, Any]:
        return dict(json.loads(self.manifest_bytes))

    @property
    def config(self) -> dict[str, Any]:
        return dict(json.loads(self.config_bytes))

    @property
    def image_id(self) -> str:
        """What podman/buildah call the image ID: the config digest's hex part."""
        return self.config_digest.removeprefix("sha256:")

    def blob_digests(self) -> list[str]:
        return [self.config_digest, *(layer.digest for layer in self.layers)]


@dataclass(frozen=True)
class BuiltIndex:
    layout: Path
    tag: str
    index_digest: str
    index_size: int
    index_bytes: bytes
    children: tuple[BuiltImage, ...]

    @property
    def index(self) -> dict[str, Any]:
        return dict(json.loads(self.index_bytes))

    def child(self, os_: str, arch: str) -> BuiltImage:
        for c in self.children:
            if c.platform[0] == os_ and c.platform[1] == arch:
                return c
        raise KeyError((os_, arch))


@dataclass
class LayoutReport:
    """What verify_layout() checked; raises LayoutError on the first problem."""

    blobs: dict[str, int] = field(default_factory=dict)  # digest -> size, all files
    manifests: list[str] = field(default_factory=list)
    indexes: list[str] = field(default_factory=list)
    layers: list[str] = field(default_factory=list)
    configs: list[str] = field(default_factory=list)
    refs: dict[str, dict[str, Any]] = field(default_factory=dict)  # ref name -> descriptor


class LayoutError(AssertionError):
    pass


# --------------------------------------------------------------------------- streams


class _HashingWriter:
    """File-like sink that hashes and counts what passes through to `sink`."""

    def __init__(self, sink: BinaryIO | Any) -> None:
        self.sink = sink
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        self.sink.write(data)
        return len(data)

    def flush(self) -> None:
        self.sink.flush()

    @property
    def digest(self) -> str:
        return "sha256:" + self.sha.hexdigest()


class RandomReader:
    """Deterministic, incompressible pseudo-random bytes, produced on demand."""

    def __init__(self, seed: str | bytes, size: int) -> None:
        self._rng = random.Random(seed if isinstance(seed, bytes) else seed.encode())
        self._remaining = size

    def read(self, n: int = -1) -> bytes:
        if n < 0 or n > self._remaining:
            n = self._remaining
        self._remaining -= n
        return self._rng.randbytes(n) if n else b""


def sha256_file(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return "sha256:" + h.hexdigest(), size


def sha256_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


# --------------------------------------------------------------------------- layout io


def blob_path(layout: Path, digest: str) -> Path:
    algo, _, hexpart = digest.partition(":")
    return Path(layout) / "blobs" / algo / hexpart


def init_layout(layout: Path) -> None:
    layout = Path(layout)
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    marker = layout / "oci-layout"
    if not marker.exists():
        marker.write_text(json.dumps({"imageLayoutVersion": OCI_LAYOUT_VERSION}))
    if not (layout / "index.json").exists():
        _write_index_json(layout, {"schemaVersion": 2, "mediaType": MT_OCI_INDEX, "manifests": []})


def _write_index_json(layout: Path, index: dict[str, Any]) -> None:
    tmp = layout / "index.json.tmp"
    tmp.write_bytes(json.dumps(index, indent=2).encode())
    os.replace(tmp, layout / "index.json")


def read_index_json(layout: Path) -> dict[str, Any]:
    return dict(json.loads((Path(layout) / "index.json").read_bytes()))


def write_blob(layout: Path, data: bytes) -> tuple[str, int]:
    digest = sha256_bytes(data)
    path = blob_path(layout, digest)
    if not path.exists():
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    return digest, len(data)


def read_blob(layout: Path, digest: str) -> bytes:
    return blob_path(layout, digest).read_bytes()


def add_ref(layout: Path, tag: str, descriptor: dict[str, Any]) -> None:
    """Point `tag` at `descriptor` in index.json (replacing a previous entry)."""
    index = read_index_json(layout)
    manifests = [
        m for m in index.get("manifests", []) if m.get("annotations", {}).get(REF_NAME) != tag
    ]
    desc = dict(descriptor)
    desc["annotations"] = {**desc.get("annotations", {}), REF_NAME: tag}
    manifests.append(desc)
    index["manifests"] = manifests
    _write_index_json(layout, index)


def resolve_ref(layout: Path, tag: str | None = None) -> dict[str, Any]:
    """The index.json descriptor for `tag` (or the only one if tag is None)."""
    manifests = read_index_json(layout).get("manifests", [])
    if tag is None:
        if len(manifests) != 1:
            raise LayoutError(f"{layout}: expected exactly one manifest, got {len(manifests)}")
        return dict(manifests[0])
    for m in manifests:
        if m.get("annotations", {}).get(REF_NAME) == tag:
            return dict(m)
    raise LayoutError(f"{layout}: no ref {tag!r} in index.json")


# --------------------------------------------------------------------------- layers


def write_layer(
    layout: Path,
    spec: LayerSpec,
    *,
    seed: str,
    name: str = "payload.bin",
    directory: str = "data",
    compress: bool = True,
) -> Layer:
    """Stream one tar(+gzip) layer into the layout's blob store.

    The tar holds `directory/` and `directory/name`, whose content is either
    `spec` (bytes) or `spec` pseudo-random bytes seeded by `seed`.
    """
    layout = Path(layout)
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=blobs, prefix=".layer-", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as raw:
            outer = _HashingWriter(raw)  # compressed bytes -> digest
            gz = (
                gzip.GzipFile(filename="", mode="wb", fileobj=outer, mtime=0, compresslevel=6)
                if compress
                else None
            )
            inner = _HashingWriter(gz if gz is not None else outer)  # tar bytes -> diff_id
            with tarfile.open(fileobj=inner, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                for info, content in _tar_members(spec, seed, directory, name):
                    tar.addfile(info, content)
            if gz is not None:
                gz.close()
        digest = outer.digest
        final = blob_path(layout, digest)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    media_type = MT_OCI_LAYER_GZIP if compress else MT_OCI_LAYER_TAR
    return Layer(digest=digest, size=outer.size, diff_id=inner.digest, media_type=media_type)


def _tar_members(
    spec: LayerSpec, seed: str, directory: str, name: str
) -> Iterator[tuple[tarfile.TarInfo, Any]]:
    def info(path: str, kind: bytes, size: int, mode: int) -> tarfile.TarInfo:
        ti = tarfile.TarInfo(path)
        ti.type = kind
        ti.size = size
        ti.mode = mode
        ti.mtime = FIXED_MTIME
        ti.uid = ti.gid = 0
        ti.uname = ti.gname = "root"
        return ti

    yield info(directory, tarfile.DIRTYPE, 0, 0o755), None
    if isinstance(spec, bytes | bytearray):
        data = bytes(spec)
        yield info(f"{directory}/{name}", tarfile.REGTYPE, len(data), 0o644), io.BytesIO(data)
    else:
        if spec < 0:
            raise ValueError("layer size must be >= 0")
        yield (
            info(f"{directory}/{name}", tarfile.REGTYPE, spec, 0o644),
            RandomReader(f"{seed}/content", spec),
        )


# --------------------------------------------------------------------------- images


def _platform_fields(platform: Platform) -> dict[str, str]:
    fields = {"os": platform[0], "architecture": platform[1]}
    if len(platform) > 2:
        fields["variant"] = platform[2]
    return fields


def write_image(
    layout: Path,
    *,
    layers: Sequence[LayerSpec | Layer],
    platform: Platform = ("linux", "amd64"),
    seed: str,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    env: Sequence[str] = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",),
    cmd: Sequence[str] = ("/bin/sh",),
) -> BuiltImage:
    """Write layers, config and manifest blobs; does not touch index.json."""
    layout = Path(layout)
    init_layout(layout)
    built: list[Layer] = []
    for i, spec in enumerate(layers):
        if isinstance(spec, Layer):
            built.append(spec)
        else:
            built.append(write_layer(layout, spec, seed=f"{seed}/layer{i}", directory=f"layer{i}"))

    config_obj: dict[str, Any] = {
        "created": CREATED,
        **_platform_fields(platform),
        "config": {
            "Env": list(env),
            "Cmd": list(cmd),
            "Labels": {"dockyard.test.seed": seed, **(labels or {})},
        },
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in built]},
        "history": [
            {"created": CREATED, "created_by": f"dockyard-tests layer {i} ({seed})"}
            for i in range(len(built))
        ],
    }
    config_bytes = canonical_json(config_obj)
    config_digest, config_size = write_blob(layout, config_bytes)

    manifest_obj: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": MT_OCI_MANIFEST,
        "config": {"mediaType": MT_OCI_CONFIG, "digest": config_digest, "size": config_size},
        "layers": [layer.descriptor() for layer in built],
    }
    if annotations:
        manifest_obj["annotations"] = dict(annotations)
    manifest_bytes = canonical_json(manifest_obj)
    manifest_digest, manifest_size = write_blob(layout, manifest_bytes)
    return BuiltImage(
        layout=layout,
        tag=None,
        platform=platform,
        manifest_digest=manifest_digest,
        manifest_size=manifest_size,
        manifest_bytes=manifest_bytes,
        config_digest=config_digest,
        config_size=config_size,
        config_bytes=config_bytes,
        layers=tuple(built),
    )


def build_image(
    path: Path,
    tag: str,
    layers: Sequence[LayerSpec | Layer] = (1024,),
    platform: Platform = ("linux", "amd64"),
    *,
    seed: str | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> BuiltImage:
    """Build a single-platform OCI image in the layout at `path`, tagged `tag`.

    `layers` items are sizes (int, random content), exact file contents
    (bytes) or already-written Layer objects (to share a layer between images).
    """
    path = Path(path)
    img = write_image(
        path,
        layers=layers,
        platform=platform,
        seed=seed if seed is not None else f"image:{tag}",
        labels=labels,
        annotations=annotations,
    )
    add_ref(
        path,
        tag,
        {"mediaType": MT_OCI_MANIFEST, "digest": img.manifest_digest, "size": img.manifest_size},
    )
    return BuiltImage(**{**img.__dict__, "tag": tag})


def build_index(
    path: Path,
    tag: str,
    platforms: Sequence[Platform] = (("linux", "amd64"), ("linux", "arm64")),
    layers: Sequence[LayerSpec | Layer] = (1024, 2048),
    *,
    seed: str | None = None,
    annotations: dict[str, str] | None = None,
) -> BuiltIndex:
    """Build a multi-platform OCI image index (one image per platform) tagged `tag`.

    Each platform gets its own layers (different content) and config.
    """
    path = Path(path)
    base_seed = seed if seed is not None else f"index:{tag}"
    children: list[BuiltImage] = []
    for platform in platforms:
        children.append(
            write_image(
                path, layers=layers, platform=platform, seed=f"{base_seed}/{'/'.join(platform)}"
            )
        )
    index_obj: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": MT_OCI_INDEX,
        "manifests": [
            {
                "mediaType": MT_OCI_MANIFEST,
                "digest": c.manifest_digest,
                "size": c.manifest_size,
                "platform": _platform_fields(c.platform),
            }
            for c in children
        ],
    }
    if annotations:
        index_obj["annotations"] = dict(annotations)
    index_bytes = canonical_json(index_obj)
    index_digest, index_size = write_blob(path, index_bytes)
    add_ref(path, tag, {"mediaType": MT_OCI_INDEX, "digest": index_digest, "size": index_size})
    return BuiltIndex(
        layout=path,
        tag=tag,
        index_digest=index_digest,
        index_size=index_size,
        index_bytes=index_bytes,
        children=tuple(children),
    )


# --------------------------------------------------------------------------- verification


def _gunzip_digest(path: Path) -> str:
    h = hashlib.sha256()
    with gzip.open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def verify_layout(layout: Path, *, check_diff_ids: bool = True) -> LayoutReport:
    """Check a layout (e.g. one skopeo pulled) thoroughly; raise LayoutError if broken.

    * `oci-layout` exists and declares imageLayoutVersion;
    * every file under blobs/<algo>/ re-hashes to its own name;
    * every descriptor reachable from index.json points at an existing blob
      whose size and digest match the descriptor;
    * manifests/indexes are walked recursively; for gzip layers (if
      `check_diff_ids`) the uncompressed sha256 equals the config's diff_id.
    """
    layout = Path(layout)
    report = LayoutReport()
    marker = layout / "oci-layout"
    if not marker.is_file():
        raise LayoutError(f"{layout}: missing oci-layout file")
    if "imageLayoutVersion" not in json.loads(marker.read_text()):
        raise LayoutError(f"{layout}: oci-layout lacks imageLayoutVersion")

    blobs_root = layout / "blobs"
    for algo_dir in sorted(p for p in blobs_root.iterdir() if p.is_dir()):
        if algo_dir.name != "sha256":
            raise LayoutError(f"{layout}: unexpected digest algorithm dir {algo_dir.name}")
        for blob in sorted(algo_dir.iterdir()):
            digest, size = sha256_file(blob)
            if digest != f"sha256:{blob.name}":
                raise LayoutError(f"blob {blob.name} re-hashes to {digest}")
            report.blobs[digest] = size

    def check_desc(desc: dict[str, Any], where: str) -> bytes | None:
        digest = desc.get("digest")
        size = desc.get("size")
        if not isinstance(digest, str) or not isinstance(size, int):
            raise LayoutError(f"{where}: descriptor lacks digest/size: {desc}")
        if digest not in report.blobs:
            raise LayoutError(f"{where}: blob {digest} missing from layout")
        if report.blobs[digest] != size:
            raise LayoutError(
                f"{where}: descriptor size {size} != blob size {report.blobs[digest]} ({digest})"
            )
        mt = desc.get("mediaType")
        if mt in MANIFEST_TYPES or mt in INDEX_TYPES or mt in (MT_OCI_CONFIG, MT_DOCKER_CONFIG):
            return read_blob(layout, digest)
        return None

    def walk(desc: dict[str, Any], where: str) -> None:
        data = check_desc(desc, where)
        mt = desc.get("mediaType")
        if mt in INDEX_TYPES:
            assert data is not None
            report.indexes.append(desc["digest"])
            obj = json.loads(data)
            if obj.get("mediaType", mt) != mt:
                raise LayoutError(f"{where}: mediaType {obj.get('mediaType')} != {mt}")
            for i, child in enumerate(obj.get("manifests", [])):
                walk(child, f"{where}>manifests[{i}]")
        elif mt in MANIFEST_TYPES:
            assert data is not None
            report.manifests.append(desc["digest"])
            obj = json.loads(data)
            if obj.get("mediaType", mt) != mt:
                raise LayoutError(f"{where}: mediaType {obj.get('mediaType')} != {mt}")
            config_data = check_desc(obj["config"], f"{where}>config")
            report.configs.append(obj["config"]["digest"])
            layer_descs = obj.get("layers", [])
            for i, layer in enumerate(layer_descs):
                check_desc(layer, f"{where}>layers[{i}]")
                report.layers.append(layer["digest"])
            if check_diff_ids and config_data is not None:
                diff_ids = json.loads(config_data).get("rootfs", {}).get("diff_ids", [])
                if len(diff_ids) != len(layer_descs):
                    raise LayoutError(
                        f"{where}: {len(layer_descs)} layers but {len(diff_ids)} diff_ids"
                    )
                for i, (layer, diff_id) in enumerate(zip(layer_descs, diff_ids, strict=True)):
                    lp = blob_path(layout, layer["digest"])
                    if layer.get("mediaType") in GZIP_LAYER_TYPES:
                        actual = _gunzip_digest(lp)
                    elif layer.get("mediaType") == MT_OCI_LAYER_TAR:
                        actual = layer["digest"]
                    else:
                        continue
                    if actual != diff_id:
                        raise LayoutError(f"{where}>layers[{i}]: diff_id {actual} != {diff_id}")
        else:
            raise LayoutError(f"{where}: unexpected top-level mediaType {mt}")

    for i, desc in enumerate(read_index_json(layout).get("manifests", [])):
        walk(desc, f"index.json[{i}]")
        ref = desc.get("annotations", {}).get(REF_NAME)
        if ref is not None:
            report.refs[ref] = desc
    return report
