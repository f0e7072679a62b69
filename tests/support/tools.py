"""Thin wrappers to drive real container tools (skopeo, umoci, podman, buildah).

Every command runs with a timeout and, on failure, raises an AssertionError
carrying the full command line, exit status, stdout and stderr, so a failing
e2e test says exactly what the client saw.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

DEFAULT_TIMEOUT = 300.0


class CommandFailed(AssertionError):
    def __init__(self, result: subprocess.CompletedProcess[Any]) -> None:
        self.result = result
        super().__init__(describe(result))


def describe(result: subprocess.CompletedProcess[Any]) -> str:
    cmd = shlex.join(str(a) for a in result.args)
    return (
        f"command: {cmd}\nexit status: {result.returncode}\n"
        f"--- stdout ---\n{_tail(result.stdout)}\n--- stderr ---\n{_tail(result.stderr)}"
    )


def _tail(text: str | bytes, limit: int = 6000) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return text if len(text) <= limit else "...[truncated]...\n" + text[-limit:]


def run(
    cmd: Sequence[str | os.PathLike[str]],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    binary_output: bool = False,
) -> subprocess.CompletedProcess[Any]:
    """Run `cmd`; stdout/stderr are str, or bytes if `binary_output`."""
    args = [str(a) for a in cmd]
    result = subprocess.run(
        args,
        capture_output=True,
        text=not binary_output,
        timeout=timeout,
        env={**os.environ, **env} if env else None,
        input=input,
        check=False,
    )
    if check and result.returncode != 0:
        raise CommandFailed(result)
    return result


def require_binary(name: str) -> str:
    """Path of `name`, or pytest.skip with a clear reason if it is not installed."""
    import pytest

    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} binary not found on PATH ({os.environ.get('PATH', '')})")
    return path


class Skopeo:
    """skopeo against a plain-HTTP registry, logged in (`skopeo login`) when given
    credentials."""

    def __init__(
        self,
        hostport: str,
        *,
        binary: str = "skopeo",
        workdir: Path,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        self.hostport = hostport
        self.binary = binary
        # A private auth file keeps skopeo from picking up credentials from the host.
        self.authfile = workdir / f"auth-{hostport.replace(':', '_')}.json"
        if not self.authfile.exists():
            self.authfile.write_text('{"auths": {}}')
        self.env = {"REGISTRY_AUTH_FILE": str(self.authfile)}
        if credentials is not None:
            self.login(*credentials)

    def login(self, username: str, password: str) -> None:
        run(
            [
                self.binary,
                "login",
                "--tls-verify=false",
                "-u",
                username,
                "--password-stdin",
                self.hostport,
            ],
            env=self.env,
            input=password,
        )

    def ref(self, repo: str, tag_or_digest: str) -> str:
        sep = "@" if tag_or_digest.startswith("sha256:") else ":"
        return f"docker://{self.hostport}/{repo}{sep}{tag_or_digest}"

    def __call__(
        self,
        *args: str | os.PathLike[str],
        timeout: float = DEFAULT_TIMEOUT,
        check: bool = True,
        binary_output: bool = False,
    ) -> subprocess.CompletedProcess[Any]:
        return run(
            [self.binary, *args],
            timeout=timeout,
            check=check,
            env=self.env,
            binary_output=binary_output,
        )

    def copy(
        self,
        src: str,
        dst: str,
        *extra: str | os.PathLike[str],
        timeout: float = DEFAULT_TIMEOUT,
        check: bool = True,
    ) -> subprocess.CompletedProcess[Any]:
        flags: list[str] = []
        if src.startswith("docker://"):
            flags.append("--src-tls-verify=false")
        if dst.startswith("docker://"):
            flags.append("--dest-tls-verify=false")
        return self("copy", *flags, *extra, src, dst, timeout=timeout, check=check)

    def push_oci(
        self, layout: Path, tag: str, repo: str, dest_tag: str, *extra: str, all_: bool = False
    ) -> str:
        """Push oci:layout:tag to repo:dest_tag; return the manifest digest skopeo wrote."""
        digestfile = layout.parent / f".digest-{repo.replace('/', '_')}-{dest_tag}"
        args = ["--digestfile", str(digestfile), *extra]
        if all_:
            args.insert(0, "--all")
        self.copy(f"oci:{layout}:{tag}", self.ref(repo, dest_tag), *args)
        return digestfile.read_text().strip()

    def pull_oci(
        self, repo: str, tag_or_digest: str, layout: Path, tag: str, *extra: str
    ) -> subprocess.CompletedProcess[Any]:
        return self.copy(self.ref(repo, tag_or_digest), f"oci:{layout}:{tag}", *extra)

    def inspect_json(self, ref: str, *extra: str) -> Any:
        out = self("inspect", "--tls-verify=false", *extra, ref).stdout
        return json.loads(out)

    def inspect_raw(self, ref: str, *extra: str) -> bytes:
        """The exact bytes skopeo got from the registry (manifest, or config with --config)."""
        result = self("inspect", "--tls-verify=false", "--raw", *extra, ref, binary_output=True)
        return bytes(result.stdout)
