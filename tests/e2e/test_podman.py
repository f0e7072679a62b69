"""podman and buildah push/pull against a live Dockyard.

Both tools use a throwaway containers/storage root under tmp_path with the
vfs driver, so nothing touches the host's image store. Whether the tools can
work at all in this environment is probed at runtime with purely local
operations (no registry involved); if the probe fails the test is skipped
with the tool's own error, so a registry bug can never be turned into a skip.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.oci_layout import (
    BuiltImage,
    build_image,
    read_blob,
    resolve_ref,
    sha256_bytes,
    verify_layout,
)
from tests.support.server import RunningServer
from tests.support.tools import CommandFailed, Skopeo, require_binary, run

pytestmark = pytest.mark.e2e

KiB = 1024
MiB = 1024 * KiB


@dataclass
class StorageTool:
    """podman or buildah bound to a private vfs storage root."""

    binary: str
    base: Path
    runroot: Path
    authfile: Path

    def global_args(self) -> list[str]:
        args = [
            "--root",
            str(self.base / "root"),
            "--runroot",
            str(self.runroot),
            "--storage-driver",
            "vfs",
        ]
        if Path(self.binary).name == "podman":
            args += ["--tmpdir", str(self.base / "tmp"), "--events-backend", "none"]
        return args

    def __call__(
        self, *args: str | Path, timeout: float = 300, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[Any]:
        return run(
            [self.binary, *self.global_args(), *args],
            timeout=timeout,
            check=check,
            env={"REGISTRY_AUTH_FILE": str(self.authfile)},
            input=input,
        )

    def login(self, server: RunningServer) -> StorageTool:
        """`podman login` / `buildah login` as the test identity."""
        user, password = server.login
        self(
            "login",
            "--tls-verify=false",
            "-u",
            user,
            "--password-stdin",
            server.hostport,
            input=password,
        )
        return self


def _probe(tool_name: str, tmp_path: Path, runroot: Path) -> StorageTool:
    """Return a usable tool, or skip with the precise reason it cannot run here."""
    binary = require_binary(tool_name)
    base = tmp_path / f"{tool_name}-storage"
    base.mkdir()
    authfile = tmp_path / f"{tool_name}-auth.json"
    authfile.write_text('{"auths": {}}')
    tool = StorageTool(binary, base, runroot, authfile)

    probe_layout = tmp_path / f"{tool_name}-probe"
    build_image(probe_layout, "probe", layers=[b"probe\n"], seed=f"{tool_name}-probe")
    steps: list[list[str]] = [["info"]]
    if tool_name == "podman":
        steps.append(["pull", "-q", f"oci:{probe_layout}:probe"])
    else:
        steps.append(["from", "-q", "--name", "probe", f"oci:{probe_layout}:probe"])
    for step in steps:
        try:
            tool(*step, timeout=120)
        except CommandFailed as exc:
            err = (exc.result.stderr or exc.result.stdout or "").strip().splitlines()
            reason = err[-1] if err else f"exit status {exc.result.returncode}"
            pytest.skip(
                f"{tool_name} cannot use a vfs storage root in this environment: "
                f"`{tool_name} {' '.join(step)}` failed (local operation, no registry): {reason}"
            )
        except subprocess.TimeoutExpired:
            pytest.skip(f"{tool_name} {' '.join(step)} hung for 120s in this environment")
    return tool


@pytest.fixture
def short_runroot() -> Iterator[Path]:
    """podman refuses a runroot longer than 50 characters; tmp_path is usually longer."""
    path = Path(tempfile.mkdtemp(prefix="dy-run-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def podman(server: RunningServer, tmp_path: Path, short_runroot: Path) -> StorageTool:
    return _probe("podman", tmp_path, short_runroot).login(server)


@pytest.fixture
def buildah(server: RunningServer, tmp_path: Path, short_runroot: Path) -> StorageTool:
    return _probe("buildah", tmp_path, short_runroot).login(server)


def _image_ids(tool: StorageTool) -> set[str]:
    out = tool("images", "-q", "--no-trunc").stdout
    return {line.strip().removeprefix("sha256:") for line in out.splitlines() if line.strip()}


def _inspect_image(tool: StorageTool, ref: str) -> dict[str, Any]:
    data = json.loads(tool("image", "inspect", ref).stdout)
    assert isinstance(data, list) and len(data) == 1
    return dict(data[0])


def test_podman_push_remove_pull(
    podman: StorageTool, skopeo: Skopeo, tmp_path: Path, repo: str
) -> None:
    img: BuiltImage = build_image(
        tmp_path / "src", "v1", layers=[32 * KiB, 1 * MiB, b"#!/bin/sh\necho hi\n"], seed=repo
    )
    # Load the image from the OCI layout; podman's image ID is the config digest.
    loaded_id = podman("pull", "-q", f"oci:{img.layout}:v1").stdout.split()[-1]
    assert loaded_id == img.image_id

    ref = f"{skopeo.hostport}/{repo}:v1"
    podman("tag", loaded_id, ref)
    digestfile = tmp_path / "pushed.digest"
    podman("push", "--tls-verify=false", "--digestfile", digestfile, ref)
    pushed = digestfile.read_text().strip()
    assert pushed.startswith("sha256:")

    # The registry holds exactly what podman pushed.
    raw = skopeo.inspect_raw(skopeo.ref(repo, "v1"))
    assert sha256_bytes(raw) == pushed
    manifest = json.loads(raw)
    assert manifest["config"]["digest"] == img.config_digest
    assert len(manifest["layers"]) == len(img.layers)
    assert skopeo.inspect_raw(skopeo.ref(repo, "v1"), "--config") == img.config_bytes

    # Remove every local trace of the image.
    podman("rmi", "--force", loaded_id)
    assert img.image_id not in _image_ids(podman)
    assert podman("image", "exists", ref, check=False).returncode == 1

    # Pull it back by tag: same image ID (config digest) and the pushed manifest digest.
    pulled_id = podman("pull", "-q", "--tls-verify=false", ref).stdout.split()[-1]
    assert pulled_id == img.image_id
    info = _inspect_image(podman, ref)
    assert info["Id"] == img.image_id
    assert info["Digest"] == pushed
    assert f"{skopeo.hostport}/{repo}@{pushed}" in info["RepoDigests"]
    assert info["Architecture"] == "amd64" and info["Os"] == "linux"
    assert info["RootFS"]["Layers"] == [layer.diff_id for layer in img.layers]

    # And by digest, after removing it again.
    podman("rmi", "--force", pulled_id)
    by_digest = f"{skopeo.hostport}/{repo}@{pushed}"
    assert podman("pull", "-q", "--tls-verify=false", by_digest).stdout.split()[-1] == (
        img.image_id
    )

    # Export what came from the registry to an OCI layout: every blob re-hashes and every
    # layer decompresses to the config's diff_id.
    out = tmp_path / "exported"
    podman("push", img.image_id, f"oci:{out}:v1")
    verify_layout(out)
    exported = json.loads(read_blob(out, resolve_ref(out, "v1")["digest"]))
    assert exported["config"]["digest"] == img.config_digest


def test_buildah_build_on_oci_image_and_push(
    buildah: StorageTool, skopeo: Skopeo, tmp_path: Path, repo: str
) -> None:
    base = build_image(tmp_path / "src", "base", layers=[16 * KiB, 256 * KiB], seed=repo)
    ctr = buildah("from", "-q", "--name", "work", f"oci:{base.layout}:base").stdout.strip()
    assert ctr == "work"
    added = tmp_path / "added.txt"
    added.write_text("added by buildah\n")
    buildah("copy", ctr, added, "/srv/added.txt")
    buildah("config", "--label", "built.by=buildah", "--cmd", "/bin/true", ctr)
    buildah("commit", "-q", "--format", "oci", ctr, "localhost/e2e-built:v1")

    ref = f"{skopeo.hostport}/{repo}:v1"
    digestfile = tmp_path / "pushed.digest"
    buildah(
        "push",
        "--tls-verify=false",
        "--digestfile",
        digestfile,
        "localhost/e2e-built:v1",
        f"docker://{ref}",
    )
    pushed = digestfile.read_text().strip()

    out = tmp_path / "out"
    skopeo.pull_oci(repo, "v1", out, "v1")
    verify_layout(out)
    assert resolve_ref(out, "v1")["digest"] == pushed
    manifest = json.loads(read_blob(out, pushed))
    config = json.loads(read_blob(out, manifest["config"]["digest"]))
    diff_ids = config["rootfs"]["diff_ids"]
    assert len(diff_ids) == len(base.layers) + 1
    assert diff_ids[: len(base.layers)] == [layer.diff_id for layer in base.layers]
    assert config["config"]["Labels"]["built.by"] == "buildah"

    # The new top layer carries the copied file.
    top = out / "blobs" / "sha256" / manifest["layers"][-1]["digest"].removeprefix("sha256:")
    with gzip.open(top, "rb") as gz, tarfile.open(fileobj=gz, mode="r|") as tar:
        for member in tar:
            if member.name.lstrip("./") == "srv/added.txt":
                f = tar.extractfile(member)
                assert f is not None and f.read() == b"added by buildah\n"
                break
        else:
            pytest.fail("srv/added.txt not found in the pushed top layer")

    # buildah can pull it back into fresh storage and gets the same image ID.
    buildah("rmi", "--all", "--force")
    buildah("pull", "-q", "--tls-verify=false", ref)
    info = json.loads(buildah("inspect", "--type", "image", ref).stdout)
    assert info["FromImageDigest"] == pushed
    assert info["FromImageID"] == manifest["config"]["digest"].removeprefix("sha256:")
