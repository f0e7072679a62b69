"""The OCI layout builder is trustworthy, and a layout made by a real tool (umoci) round-trips.

The first tests need no server: they check tests/support/oci_layout.py against
umoci and skopeo, so a bug in the test helper is not mistaken for a registry bug.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support.oci_layout import (
    MT_OCI_INDEX,
    LayoutError,
    blob_path,
    build_image,
    build_index,
    read_blob,
    read_index_json,
    resolve_ref,
    verify_layout,
)
from tests.support.tools import Skopeo, require_binary, run

pytestmark = pytest.mark.e2e

KiB = 1024
MiB = 1024 * KiB


def test_builder_is_deterministic(tmp_path: Path) -> None:
    a = build_image(tmp_path / "a", "v1", layers=[10 * KiB, b"abc"], seed="same")
    b = build_image(tmp_path / "b", "v1", layers=[10 * KiB, b"abc"], seed="same")
    c = build_image(tmp_path / "c", "v1", layers=[10 * KiB, b"abc"], seed="other")
    assert a.manifest_digest == b.manifest_digest
    assert a.manifest_bytes == b.manifest_bytes
    assert a.layers[0].digest != c.layers[0].digest
    assert a.layers[1].diff_id == c.layers[1].diff_id  # same explicit content

    ia = build_index(tmp_path / "ia", "m", seed="same")
    ib = build_index(tmp_path / "ib", "m", seed="same")
    assert ia.index_digest == ib.index_digest
    assert len({c.manifest_digest for c in ia.children}) == 2


def test_builder_output_verifies_and_tags_accumulate(tmp_path: Path) -> None:
    layout = tmp_path / "l"
    img = build_image(layout, "v1", layers=[0, 1, 5 * KiB], seed="t")
    idx = build_index(layout, "multi", seed="t")
    img2 = build_image(layout, "v2", layers=[7], seed="t2")
    report = verify_layout(layout)
    assert set(report.refs) == {"v1", "multi", "v2"}
    assert report.refs["v1"]["digest"] == img.manifest_digest
    assert report.refs["multi"]["digest"] == idx.index_digest
    assert report.refs["multi"]["mediaType"] == MT_OCI_INDEX
    assert report.refs["v2"]["digest"] == img2.manifest_digest
    assert img.config["rootfs"]["diff_ids"] == [layer.diff_id for layer in img.layers]
    # Re-tagging replaces the entry instead of duplicating it.
    build_image(layout, "v1", layers=[9], seed="t3")
    names = [
        m["annotations"]["org.opencontainers.image.ref.name"]
        for m in read_index_json(layout)["manifests"]
    ]
    assert sorted(names) == ["multi", "v1", "v2"]


def test_verify_layout_detects_corruption(tmp_path: Path) -> None:
    img = build_image(tmp_path / "l", "v1", layers=[4 * KiB], seed="corrupt")
    verify_layout(img.layout)
    path = blob_path(img.layout, img.layers[0].digest)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(LayoutError, match="re-hashes"):
        verify_layout(img.layout)

    img = build_image(tmp_path / "l2", "v1", layers=[4 * KiB], seed="size")
    index = read_index_json(img.layout)
    index["manifests"][0]["size"] += 1
    (img.layout / "index.json").write_text(json.dumps(index))
    with pytest.raises(LayoutError, match="size"):
        verify_layout(img.layout)

    img = build_image(tmp_path / "l3", "v1", layers=[4 * KiB], seed="missing")
    blob_path(img.layout, img.config_digest).unlink()
    with pytest.raises(LayoutError, match="missing"):
        verify_layout(img.layout)


def test_umoci_reads_builder_output(tmp_path: Path) -> None:
    require_binary("umoci")
    content = b"exact file content\n"
    img = build_image(tmp_path / "l", "v1", layers=[content, 12345], seed="umoci-read")
    stat = json.loads(run(["umoci", "stat", "--json", "--image", f"{img.layout}:v1"]).stdout)
    assert [h["created_by"] for h in stat["history"]] == [
        f"dockyard-tests layer {i} (umoci-read)" for i in range(2)
    ]
    bundle = tmp_path / "bundle"
    run(["umoci", "unpack", "--image", f"{img.layout}:v1", bundle])
    rootfs = bundle / "rootfs"
    assert (rootfs / "layer0" / "payload.bin").read_bytes() == content
    assert (rootfs / "layer1" / "payload.bin").stat().st_size == 12345


def test_skopeo_local_copy_preserves_builder_digests(tmp_path: Path) -> None:
    require_binary("skopeo")
    img = build_image(tmp_path / "src", "v1", layers=[3 * KiB, 40 * KiB], seed="local")
    idx = build_index(tmp_path / "src", "multi", seed="local")
    out = tmp_path / "out"
    run(["skopeo", "copy", f"oci:{img.layout}:v1", f"oci:{out}:v1"])
    run(["skopeo", "copy", "--all", f"oci:{idx.layout}:multi", f"oci:{out}:multi"])
    verify_layout(out)
    assert resolve_ref(out, "v1")["digest"] == img.manifest_digest
    assert resolve_ref(out, "multi")["digest"] == idx.index_digest


@pytest.mark.slow
def test_big_layer_is_streamed_not_buffered(tmp_path: Path) -> None:
    """Building a 100 MiB layer must not hold it in memory (peak RSS stays small)."""
    code = textwrap.dedent(
        f"""
        from tests.support.oci_layout import build_image
        img = build_image({str(tmp_path / "big")!r}, "v1", layers=[100 * 1024 * 1024], seed="rss")
        # VmHWM belongs to this image; ru_maxrss would carry over the forking parent's peak
        hwm = open("/proc/self/status").read().split("VmHWM:")[1].split()[0]
        print(img.layers[0].size, hwm)
        """
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    size, maxrss_kib = map(int, out.split())
    assert size > 100 * MiB
    assert maxrss_kib < 80 * 1024, f"peak RSS {maxrss_kib} KiB: layer was buffered in memory"


def test_umoci_built_image_roundtrips_through_registry(skopeo: Skopeo, tmp_path: Path) -> None:
    """An image made entirely by umoci is pushed, pulled back and stays bit-identical."""
    require_binary("umoci")
    layout = tmp_path / "umoci-layout"
    image = f"{layout}:v1"
    run(["umoci", "init", "--layout", layout])
    run(["umoci", "new", "--image", image])
    payload = tmp_path / "hello.txt"
    payload.write_text("hello from umoci\n")
    run(["umoci", "insert", "--image", image, payload, "/etc/hello.txt"])
    bundle = tmp_path / "bundle"
    run(["umoci", "unpack", "--image", image, bundle])
    (bundle / "rootfs" / "usr" / "share").mkdir(parents=True)
    (bundle / "rootfs" / "usr" / "share" / "data.bin").write_bytes(bytes(range(256)) * 4096)
    run(["umoci", "repack", "--image", image, bundle])
    run(
        [
            "umoci",
            "config",
            "--image",
            image,
            "--config.cmd",
            "/bin/true",
            "--config.label",
            "made.by=umoci",
            "--os",
            "linux",
            "--architecture",
            "amd64",
        ]
    )
    run(["umoci", "gc", "--layout", layout])

    src = verify_layout(layout)
    src_desc = resolve_ref(layout, "v1")
    manifest = json.loads(read_blob(layout, src_desc["digest"]))
    assert len(manifest["layers"]) == 2

    repo = "e2e/umoci"
    assert skopeo.push_oci(layout, "v1", repo, "v1") == src_desc["digest"]

    out = tmp_path / "out"
    skopeo.pull_oci(repo, "v1", out, "v1")
    pulled = verify_layout(out)
    assert resolve_ref(out, "v1")["digest"] == src_desc["digest"]
    for digest in [manifest["config"]["digest"], *(x["digest"] for x in manifest["layers"])]:
        assert pulled.blobs[digest] == src.blobs[digest]
        assert read_blob(out, digest) == read_blob(layout, digest)

    # umoci itself can unpack what came back from the registry.
    bundle2 = tmp_path / "bundle2"
    run(["umoci", "unpack", "--image", f"{out}:v1", bundle2])
    assert (bundle2 / "rootfs" / "etc" / "hello.txt").read_text() == "hello from umoci\n"
    assert (bundle2 / "rootfs" / "usr" / "share" / "data.bin").read_bytes() == (
        bytes(range(256)) * 4096
    )
    info = skopeo.inspect_json(skopeo.ref(repo, "v1"))
    assert info["Labels"] == {"made.by": "umoci"}
