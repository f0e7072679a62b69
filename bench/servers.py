"""Start, probe and stop the registries under test; measure their memory from /proc.

Everything here talks to 127.0.0.1 only and every wait loop has a deadline.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from credentials import Credentials, TokenSource

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
CLK_TCK = os.sysconf("SC_CLK_TCK")
MIB = 1024 * 1024

DEFAULT_DOCKYARD_CMD = (
    "{python} -m dockyard serve --data-dir {data_dir} --host {host} --port {port}"
)

GO_CONFIG_TEMPLATE = """\
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
{storage}
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: 127.0.0.1:{port}
  headers:
    X-Content-Type-Options: [nosniff]
"""

GO_FILESYSTEM_STORAGE = """\
  filesystem:
    rootdirectory: {root}"""


def go_environment() -> dict[str, str]:
    """The harness's environment minus AWS_*: the Go registry takes its S3 settings
    from its config file only. (An inherited AWS_CA_BUNDLE even stops it from starting:
    aws-sdk-go cannot load a CA bundle into the registry's own HTTP transport.)"""
    return {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """One running registry process (plus whatever children it forks)."""

    name: str
    host: str
    port: int
    data_dir: Path
    log_path: Path
    argv: list[str]
    env: dict[str, str] | None = None  # the whole environment; None = inherit ours
    process: subprocess.Popen[bytes] | None = None
    startup_s: float = 0.0
    seen_pids: dict[int, int] = field(default_factory=dict)  # pid -> starttime
    credentials: Credentials | None = None  # None: no authentication (the Go registry)
    _tokens: TokenSource | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def tokens(self) -> TokenSource | None:
        if self.credentials is None:
            return None
        if self._tokens is None:
            self._tokens = TokenSource(self.host, self.port, self.credentials)
        return self._tokens

    def auth_headers(self, repos: Iterable[str]) -> dict[str, str]:
        """`Authorization: Bearer` with a token for these repositories (one token per
        set, fetched once and cached); {} for a server without authentication."""
        tokens = self.tokens
        return {} if tokens is None else tokens.headers(repos)

    def basic_headers(self) -> dict[str, str]:
        """`Authorization: Basic` (checked by the server on every request); {} for a
        server without authentication."""
        return {} if self.credentials is None else {"Authorization": self.credentials.basic}

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def start(self, ready_timeout: float = 60.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
            )
        wait_ready(self, ready_timeout)
        self.startup_s = time.monotonic() - t0

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM the PID we started, wait; SIGKILL only our own leftovers, by PID."""
        proc = self.process
        if proc is None:
            return None
        # Remember the tree now: children may be re-parented once the master exits.
        for pid in process_tree(proc.pid):
            st = _starttime(pid)
            if st is not None:
                self.seen_pids.setdefault(pid, st)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        leftovers = self._live_leftovers()
        while leftovers and time.monotonic() < deadline:
            time.sleep(0.1)
            leftovers = self._live_leftovers()
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return proc.returncode

    def _live_leftovers(self) -> list[int]:
        assert self.process is not None
        return [
            pid
            for pid, st in self.seen_pids.items()
            if pid != self.process.pid and _starttime(pid) == st
        ]


def go_server(
    base: Path,
    binary: str = "/usr/bin/docker-registry",
    storage: str | None = None,
    tag: str = "",
) -> Server:
    """The Go registry on a free port. `storage` is the YAML under `storage:` (indented
    two spaces); the default is a filesystem root in `base`. `tag` keeps the config and
    log of a second instance (another phase) apart from the first."""
    port = free_port()
    root = base / f"go-data{tag}"
    config = base / f"go-config{tag}.yml"
    if storage is None:
        storage = GO_FILESYSTEM_STORAGE.format(root=root)
    config.write_text(GO_CONFIG_TEMPLATE.format(storage=storage, port=port))
    return Server(
        name="go",
        host="127.0.0.1",
        port=port,
        data_dir=root,
        log_path=base / f"go{tag}.log",
        argv=[binary, "serve", str(config)],
        env=go_environment(),
    )


def dockyard_server(
    base: Path,
    cmd_template: str = DEFAULT_DOCKYARD_CMD,
    env: dict[str, str] | None = None,
    tag: str = "",
    credentials: Credentials | None = None,
) -> Server:
    """Dockyard on a free port; `env` is added to the harness's environment, and so is
    what `credentials` need (the administrator's password, the token lifetime)."""
    env = {**(env or {}), **(credentials.server_env() if credentials else {})}
    port = free_port()
    data_dir = base / f"dockyard-data{tag}"
    values = {
        "python": sys.executable,
        "data_dir": str(data_dir),
        "host": "127.0.0.1",
        "port": str(port),
    }
    argv = [tok.format(**values) for tok in shlex.split(cmd_template)]
    return Server(
        name="dockyard",
        host="127.0.0.1",
        port=port,
        data_dir=data_dir,
        log_path=base / f"dockyard{tag}.log",
        argv=argv,
        env={**os.environ, **env} if env else None,
        credentials=credentials,
    )


def wait_ready(server: Server, timeout: float) -> None:
    """Poll GET /v2/ until 200, or for a server with credentials until the 401 with a
    Bearer challenge (the probe carries no credentials: there is no token before the
    server answers; run.py then checks GET /v2/ with one). Fail fast if it exits."""
    assert server.process is not None
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        code = server.process.poll()
        if code is not None:
            raise RuntimeError(
                f"{server.name} exited with {code} before becoming ready; log tail:\n"
                + server.log_tail()
            )
        try:
            conn = http.client.HTTPConnection(server.host, server.port, timeout=2)
            try:
                conn.request("GET", "/v2/")
                resp = conn.getresponse()
                resp.read()
                if resp.status == 200:
                    return
                challenge = resp.getheader("WWW-Authenticate", "")
                if (
                    server.credentials is not None
                    and resp.status == 401
                    and challenge.lower().startswith("bearer ")
                ):
                    return
                last = f"HTTP {resp.status} {challenge}".strip()
            finally:
                conn.close()
        except OSError as exc:
            last = repr(exc)
        time.sleep(0.05)
    raise TimeoutError(
        f"{server.name} not ready on {server.url}/v2/ after {timeout}s ({last}); log tail:\n"
        + server.log_tail()
    )


# --- /proc helpers -----------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm (field 2) may contain spaces and parens: split after the last ')'.
    return raw[raw.rfind(")") + 2 :].split()


def _starttime(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None  # field 22 overall


def _all_ppids() -> dict[int, int]:
    out: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields:
            out[int(entry.name)] = int(fields[1])  # field 4 overall
    return out


def process_tree(root: int) -> list[int]:
    """root and all its live descendants."""
    ppids = _all_ppids()
    if root not in ppids:
        return []
    children: dict[int, list[int]] = {}
    for pid, ppid in ppids.items():
        children.setdefault(ppid, []).append(pid)
    tree: list[int] = []
    stack = [root]
    while stack:
        pid = stack.pop()
        tree.append(pid)
        stack.extend(children.get(pid, []))
    return tree


def rss_bytes(pids: Iterable[int]) -> int:
    total = 0
    for pid in pids:
        try:
            resident = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
        total += resident * PAGE_SIZE
    return total


def pss_bytes(pids: Iterable[int]) -> int:
    """Proportional set size: shared pages split between the sharers (kB in smaps_rollup)."""
    total = 0
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("Pss:"):
                total += int(line.split()[1]) * 1024
                break
    return total


@dataclass
class CpuSnapshot:
    """Machine CPU-seconds since boot, split by who can be billed for it."""

    total: float  # all time, idle included, summed over CPUs
    process: float  # user + nice + system: billed to some task
    irq: float  # irq + softirq (loopback TCP work lands here, billed to no task)
    steal: float  # taken by the hypervisor for other guests
    kthreads: float  # of `process`, used by kernel threads (writeback, ...)

    def __sub__(self, other: CpuSnapshot) -> CpuSnapshot:
        return CpuSnapshot(
            self.total - other.total,
            self.process - other.process,
            self.irq - other.irq,
            self.steal - other.steal,
            self.kthreads - other.kthreads,
        )


def cpu_snapshot() -> CpuSnapshot:
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    kthreads = 0
    for pid in process_tree(2):  # kthreadd and the kernel threads
        fs = _stat_fields(pid)
        if fs:
            kthreads += int(fs[11]) + int(fs[12])
    return CpuSnapshot(
        total=(user + nice + system + idle + iowait + irq + softirq + steal) / CLK_TCK,
        process=(user + nice + system) / CLK_TCK,
        irq=(irq + softirq) / CLK_TCK,
        steal=steal / CLK_TCK,
        kthreads=kthreads / CLK_TCK,
    )


def machine_busy_s() -> tuple[float, float]:
    """(busy CPU-seconds, total CPU-seconds) of the whole machine since boot."""
    snap = cpu_snapshot()
    return snap.process + snap.irq + snap.steal, snap.total


def tree_cpu_s(root: int) -> float:
    """CPU-seconds used so far by root's live tree, plus children root has reaped."""
    total = 0
    for pid in process_tree(root):
        f = _stat_fields(pid)
        if f:
            total += int(f[11]) + int(f[12])  # utime, stime (fields 14, 15)
            if pid == root:
                total += int(f[13]) + int(f[14])  # cutime, cstime
    return total / CLK_TCK


def service_roots(comms: Iterable[str]) -> dict[str, list[int]]:
    """PIDs of running services by command name, topmost only (a postgres backend's
    parent is the postmaster, also `postgres`): comm -> [pid, ...]. For CPU accounting
    of the shared backends a production-topology run uses; nothing is signalled."""
    wanted = set(comms)
    comm_of: dict[int, str] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                comm_of[int(entry.name)] = Path(f"/proc/{entry.name}/comm").read_text().strip()
            except OSError:
                continue
    ppids = _all_ppids()
    out: dict[str, list[int]] = {c: [] for c in wanted}
    for pid, comm in comm_of.items():
        if comm in wanted and comm_of.get(ppids.get(pid, 0)) != comm:
            out[comm].append(pid)
    return out


def wait_for_quiet(limit_s: float, max_busy: float, log: Callable[[str], None]) -> float:
    """Wait (at most limit_s) until the machine is less than max_busy (0..1) busy over
    a 2 s window; return the last busy fraction seen."""
    deadline = time.monotonic() + limit_s
    frac = 1.0
    while True:
        b0, t0 = machine_busy_s()
        time.sleep(2)
        b1, t1 = machine_busy_s()
        frac = (b1 - b0) / max(t1 - t0, 1e-9)
        if frac < max_busy or time.monotonic() >= deadline:
            return frac
        log(f"machine {frac:.0%} busy with other work; waiting for it to calm down")


def tree_rss(root: int) -> tuple[int, int]:
    """(RSS summed over the tree, number of processes)."""
    pids = process_tree(root)
    return rss_bytes(pids), len(pids)


class RssSampler:
    """Samples the whole-tree RSS of several servers every `interval` s in a thread."""

    def __init__(self, servers: list[Server], interval: float = 0.2) -> None:
        self.servers = servers
        self.interval = interval
        self.peak: dict[str, int] = {s.name: 0 for s in servers}
        self.max_procs: dict[str, int] = {s.name: 0 for s in servers}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def sample_once(self) -> None:
        ppids = _all_ppids()
        children: dict[int, list[int]] = {}
        for pid, ppid in ppids.items():
            children.setdefault(ppid, []).append(pid)
        for server in self.servers:
            if server.process is None or server.process.poll() is not None:
                continue
            tree: list[int] = []
            stack = [server.process.pid]
            while stack:
                pid = stack.pop()
                tree.append(pid)
                stack.extend(children.get(pid, []))
            for pid in tree:
                if pid not in server.seen_pids:
                    st = _starttime(pid)
                    if st is not None:
                        server.seen_pids[pid] = st
            rss = rss_bytes(tree)
            self.peak[server.name] = max(self.peak[server.name], rss)
            self.max_procs[server.name] = max(self.max_procs[server.name], len(tree))
        self.samples += 1

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample_once()
            self._stop.wait(self.interval)
