"""Start a real `dockyard serve` process on a free loopback port for tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.registry_auth import RegistryAuth

ADMIN_PASSWORD = "test-admin-password"


# Each test process (pytest-xdist worker) takes its ports from a range of its own,
# below the kernel's ephemeral range (32768-60999 on Linux): a port one process found
# free and has not bound yet cannot be found free by another process too (two servers
# on one port, each test talking to the other's) nor be taken by an outgoing connection.
_PORTS_PER_PROCESS = 1000
_PORTS_FROM = 15000
_next_port: list[int] = []


def _port_range() -> range:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    index = int(worker.removeprefix("gw")) + 1 if worker.startswith("gw") else 0
    start = _PORTS_FROM + (index % 17) * _PORTS_PER_PROCESS
    return range(start, start + _PORTS_PER_PROCESS)


def free_port() -> int:
    """A loopback port nothing listens on, from this process's own range."""
    ports = _port_range()
    if not _next_port:
        _next_port.append(ports.start + os.getpid() % len(ports))
    for _ in range(len(ports)):
        port = _next_port[0]
        _next_port[0] = ports.start + (port + 1 - ports.start) % len(ports)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue  # in use (a server of this process, or something else)
            return port
    raise RuntimeError(f"no free port in {ports.start}-{ports.stop - 1}")


@dataclass
class RunningServer:
    url: str
    host: str
    port: int
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    list_storage: Callable[[str], list[str]] | None = None
    """Names directly under a storage prefix ("uploads"); set for non-filesystem storage."""
    admin: tuple[str, str] = ("admin", ADMIN_PASSWORD)
    credentials: tuple[str, str] | None = None
    """what the tests push and pull as (a system robot once created; the admin until then)"""

    @property
    def login(self) -> tuple[str, str]:
        return self.credentials or self.admin

    def auth(
        self, credentials: tuple[str, str] | None = None, *, also: tuple[str, ...] = ()
    ) -> RegistryAuth:
        """Token auth against this server (and the replicas at `also`, sharing its key)."""
        user, password = credentials or self.login
        return RegistryAuth(user, password, self.url, also=also)

    def client(self, credentials: tuple[str, str] | None = None, **kwargs: object) -> httpx.Client:
        """An httpx client that authenticates like docker (token auth) as `credentials`."""
        kwargs.setdefault("timeout", 60.0)
        return httpx.Client(base_url=self.url, auth=self.auth(credentials), **kwargs)  # type: ignore[arg-type]

    def storage_names(self, prefix: str) -> list[str]:
        if self.list_storage is not None:
            return self.list_storage(prefix)
        root = self.data_dir / "storage" / prefix
        return sorted(p.name for p in root.iterdir()) if root.exists() else []

    @property
    def hostport(self) -> str:
        return f"{self.host}:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the server and every worker, as a power cut or OOM kill would."""
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Poll /readyz until it answers 200; fail fast if the process exits."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}")
            try:
                if client.get(f"{url}/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)  # polling interval, not a race cover-up
    raise TimeoutError(f"{url} not ready after {timeout}s")


@contextmanager
def run_server(
    data_dir: Path,
    *,
    workers: int = 2,
    extra_args: list[str] | None = None,
    env: dict[str, str] | None = None,
    port: int | None = None,
) -> Iterator[RunningServer]:
    """`port`: a free port the caller chose (to name the server's URL in `env`)."""
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir.parent / f"server-{port}.log"
    cmd = [
        sys.executable,
        "-m",
        "dockyard",
        "serve",
        "--data-dir",
        str(data_dir),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        *(extra_args or []),
    ]
    # Idle keep-alive connections hold granian's graceful shutdown until this
    # timeout; tests close their clients, but keep teardown bounded anyway.
    full_env = {
        **os.environ,
        "DOCKYARD__SERVER__GRACEFUL_TIMEOUT": "5",
        "DOCKYARD_ADMIN_PASSWORD": ADMIN_PASSWORD,
        **(env or {}),
    }
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=full_env, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc)
        yield RunningServer(url, "127.0.0.1", port, data_dir, proc, log_path)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
