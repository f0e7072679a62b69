"""The Debian Go registry (/usr/bin/docker-registry, distribution 2.8) on a free loopback
port, for tests that talk to a registry that is not Dockyard: no referrers API, no token
service; optionally htpasswd basic auth. Deletes are enabled."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.server import free_port

BINARY = "/usr/bin/docker-registry"

CONFIG = """\
version: 0.1
log:
  level: info
  accesslog:
    disabled: {access_disabled}
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: 127.0.0.1:{port}
  headers:
    X-Content-Type-Options: [nosniff]
{auth}"""

AUTH = """\
auth:
  htpasswd:
    realm: go-registry
    path: {path}
"""


@dataclass
class GoRegistry:
    url: str
    """http://127.0.0.1:<port>"""
    port: int
    root: Path
    """the storage root"""
    log_path: Path
    process: subprocess.Popen[bytes]
    credentials: tuple[str, str] | None = None
    """the htpasswd user, when basic auth is on"""

    @property
    def hostport(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """Stop it (SIGTERM, then SIGKILL): an upstream or a target going away."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"docker-registry exited with {process.returncode}")
            try:
                # 200 open, 401 with htpasswd: either way it serves
                if client.get(f"{url}/v2/").status_code in (200, 401):
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)  # polling interval, not a race cover-up
    raise TimeoutError(f"{url} not ready after {timeout}s")


def _start(
    base: Path, port: int, htpasswd: tuple[str, str] | None, access_log: bool
) -> tuple[subprocess.Popen[bytes], Path, Path]:
    root = base / "go-data"
    root.mkdir(parents=True, exist_ok=True)
    auth = ""
    if htpasswd is not None:
        path = base / "htpasswd"
        subprocess.run(
            ["htpasswd", "-Bbc", str(path), htpasswd[0], htpasswd[1]],
            check=True,
            capture_output=True,
        )
        auth = AUTH.format(path=path)
    config = base / "go-config.yml"
    config.write_text(
        CONFIG.format(
            root=root,
            port=port,
            auth=auth,
            access_disabled="false" if access_log else "true",
        )
    )
    log_path = base / f"go-registry-{port}.log"
    # the Go registry takes S3 settings from its config only; an inherited AWS_CA_BUNDLE
    # even stops it from starting (see bench/servers.py)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [BINARY, "serve", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    return process, root, log_path


@contextmanager
def go_registry(
    base: Path,
    *,
    htpasswd: tuple[str, str] | None = None,
    access_log: bool = False,
    port: int | None = None,
) -> Iterator[GoRegistry]:
    """A running Go registry storing under `base` (created). `htpasswd=(user, password)`
    turns on basic auth; `access_log` writes one line per request into the log (to
    count what a client fetched); `port` reuses a port (a registry restarted on the
    same data with `restart`)."""
    base.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    process, root, log_path = _start(base, port, htpasswd, access_log)
    url = f"http://127.0.0.1:{port}"
    registry = GoRegistry(url, port, root, log_path, process, htpasswd)
    try:
        _wait_ready(url, process)
        yield registry
    finally:
        registry.stop()


def restart(registry: GoRegistry, base: Path, *, access_log: bool = False) -> None:
    """Start a stopped registry again on its port and data (the target coming back)."""
    registry.stop()
    process, _, _ = _start(base, registry.port, registry.credentials, access_log)
    registry.process = process
    _wait_ready(registry.url, process)
