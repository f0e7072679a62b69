#!/usr/bin/env python3
"""Benchmark Dockyard against the reference Go registry, side by side, on loopback.

    .venv/bin/python bench/run.py [--size-mib 512] [--duration 10] [--only SCENARIO] ...

See bench/README.md for what is measured and how.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from client import RegistryError
from credentials import TOKEN_EXPIRY_S, Credentials
from manifest_scenarios import (
    manifest_get,
    manifest_get_anon,
    manifest_get_basic,
    manifest_head,
)
from report import build_rows, is_unmeasured, print_table
from rich.console import Console
from scenarios import (
    REDIRECT_SCENARIOS,
    SCENARIOS,
    Ctx,
    Outcome,
    pull,
    pull_many,
    pull_redirect,
    push_chunk,
    push_mono,
)
from servers import (
    DEFAULT_DOCKYARD_CMD,
    MIB,
    CpuSnapshot,
    RssSampler,
    Server,
    cpu_snapshot,
    dockyard_server,
    go_server,
    process_tree,
    pss_bytes,
    rss_bytes,
    service_roots,
    tree_cpu_s,
    wait_for_quiet,
)
from small_writes import SMALL_WRITE_RUNNERS

RUNNERS: dict[str, Callable[[Ctx, list[Server]], dict[str, Outcome]]] = {
    "push-mono": push_mono,
    "push-chunked": push_chunk,
    "pull": pull,
    "manifest-head": manifest_head,
    "manifest-get": manifest_get,
    "manifest-get-basic": manifest_get_basic,
    "manifest-get-anon": manifest_get_anon,
    "pull-20": pull_many,
    "pull-redirect": pull_redirect,
    **SMALL_WRITE_RUNNERS,
}


TOPOLOGIES = ("embedded", "production")  # topology.TOPOLOGIES, without importing tests/

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"

out = Console()
if not out.is_terminal:  # piped to a file: do not squeeze the table into 80 columns
    out = Console(width=150)
err = Console(stderr=True)


def log(msg: str) -> None:
    err.print(f"[dim]{time.strftime('%H:%M:%S')}[/] {msg}", highlight=False, soft_wrap=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Dockyard vs Go registry benchmark (loopback only).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--size-mib", type=int, default=512, help="big-blob size in MiB")
    p.add_argument("--duration", type=int, default=10, help="seconds per manifest load run")
    p.add_argument("--warmup", type=int, default=1, help="seconds of untimed load before each")
    p.add_argument("--reps", type=int, default=3, help="repetitions of blob/pull scenarios")
    p.add_argument(
        "--topology",
        choices=TOPOLOGIES,
        default="embedded",
        help="embedded: local disk (Go) vs SQLite + folder (Dockyard); production: both on "
        "one moto S3 server, Dockyard on PostgreSQL + Redis",
    )
    p.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="SCENARIO",
        help="run only these (repeatable or comma-separated): "
        f"{', '.join(SCENARIOS + REDIRECT_SCENARIOS)} (the last: production only)",
    )
    p.add_argument("--skip-go", action="store_true", help="do not run the Go registry")
    p.add_argument("--skip-dockyard", action="store_true", help="do not run Dockyard")
    p.add_argument(
        "--dockyard-cmd",
        default=DEFAULT_DOCKYARD_CMD,
        help="command starting Dockyard; placeholders {python} {data_dir} {host} {port}",
    )
    p.add_argument("--go-binary", default="/usr/bin/docker-registry")
    p.add_argument(
        "--go-s3-chunk-mib",
        type=int,
        default=16,
        help="production: the Go S3 driver's chunksize (Dockyard's part_size default is 16)",
    )
    p.add_argument("--tmp-dir", default=None, help="parent of the scratch directory")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory")
    p.add_argument("--json", type=Path, default=None, help="results file (default: results/)")
    p.add_argument("--ready-timeout", type=float, default=60.0)
    p.add_argument(
        "--wait-idle",
        type=float,
        default=0,
        metavar="SECONDS",
        help="first wait up to this long for other work on the machine to stop",
    )
    args = p.parse_args(argv)
    only: list[str] = [s.strip() for item in args.only for s in item.split(",") if s.strip()]
    known = SCENARIOS + (REDIRECT_SCENARIOS if args.topology == "production" else ())
    unknown = sorted(set(only) - set(known))
    if unknown:
        p.error(
            f"unknown scenario(s) {unknown} for --topology {args.topology}; "
            f"choose from {list(known)}"
        )
    args.scenarios = [s for s in known if s in only] if only else list(known)
    if args.go_s3_chunk_mib < 5:
        p.error("--go-s3-chunk-mib must be >= 5 (the S3 minimum part size)")
    if args.skip_go and args.skip_dockyard:
        p.error("nothing to run: both --skip-go and --skip-dockyard")
    if args.size_mib < 1 or args.duration < 1 or args.reps < 1 or args.warmup < 0:
        p.error("--size-mib, --duration and --reps must be >= 1, --warmup >= 0")
    return args


def _version(argv: list[str]) -> str | None:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (proc.stdout or proc.stderr).strip()
    return text.splitlines()[-1] if text else None


def environment(args: argparse.Namespace) -> dict[str, Any]:
    commit = _version(["git", "-C", str(REPO_DIR), "rev-parse", "HEAD"])
    dirty = _version(["git", "-C", str(REPO_DIR), "status", "--porcelain", "--", "src"])
    return {
        "host": platform.node(),
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "git_commit": commit,
        "src_dirty": bool(dirty),
        "go_registry": _version([args.go_binary, "--version"]),
        "dockyard": _version([sys.executable, "-c", "import dockyard as d; print(d.__version__)"]),
        "wrk": _version(["sh", "-c", "wrk -v 2>&1 | head -1"]),
        "ab": _version(["sh", "-c", "ab -V 2>&1 | head -1"]),
        "curl": _version(["sh", "-c", "curl --version | head -1"]),
    }


def _account(
    d: CpuSnapshot, own: float, backends: dict[str, float] | None = None
) -> dict[str, Any]:
    """Split the machine's CPU over an interval: ours, the backing services (production
    topology: S3 server, PostgreSQL, Redis), kernel threads, irq, others."""
    backend_total = sum((backends or {}).values())
    other = max(0.0, d.process - d.kthreads - own - backend_total)
    out: dict[str, Any] = {
        "machine_cpu_s": d.total,
        "bench_cpu_s": own,  # harness + wrk/ab + both server trees
        "kthreads_cpu_s": d.kthreads,  # mostly writeback of what the registries wrote
        "irq_cpu_s": d.irq,  # softirq: loopback TCP processing, billed to no task
        "steal_cpu_s": d.steal,
        "other_cpu_s": other,  # other user processes: the noise to worry about
        "other_fraction": other / max(d.total, 1e-9),
    }
    if backends is not None:
        out["backends_cpu_s"] = backends  # by service; PostgreSQL/Redis may serve others too
    return out


class Backends:
    """CPU-seconds used since construction by the production topology's backing
    services: the moto S3 server (our child, in its own process group; `add_s3` once
    it runs) and the system's PostgreSQL and Redis (whole service trees: they may
    also be serving someone else meanwhile)."""

    def __init__(self) -> None:
        found = service_roots(["postgres", "redis-server"])
        self.roots: dict[str, list[int]] = {
            "s3": [],
            "postgres": found["postgres"],
            "redis": found["redis-server"],
        }
        self.base = self._absolute()

    def add_s3(self, pid: int) -> None:
        self.roots["s3"] = [pid]  # started after the baseline: counts from zero

    def _absolute(self) -> dict[str, float]:
        return {name: sum(tree_cpu_s(p) for p in pids) for name, pids in self.roots.items()}

    def cpu(self) -> dict[str, float]:
        return _diff(self._absolute(), self.base)


class SetupError(RuntimeError):
    """The production backends did not come up (S3 server, database, migrate)."""


def _diff(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    return {k: max(0.0, a[k] - b.get(k, 0.0)) for k in a}


def _own_cpu_s() -> float:
    """CPU-seconds of this process and its reaped children (wrk, ab, ...)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def idle_memory(server: Server) -> dict[str, Any]:
    """Whole-tree RSS/PSS after startup and one request (and 1 s to settle). The request
    is `GET /v2/`, with a bearer token (no scope) on Dockyard: it must answer 200, which
    proves the administrator's password and the token endpoint work."""
    import http.client

    headers = server.auth_headers(())
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        conn.request("GET", "/v2/", headers=headers)
        resp = conn.getresponse()
        resp.read()
    finally:
        conn.close()
    if resp.status != 200:
        how = "with a bearer token" if headers else "without credentials"
        raise RegistryError(f"GET /v2/ {how}: HTTP {resp.status}")
    time.sleep(1.0)
    pids = process_tree(server.pid)
    return {
        "idle_rss": rss_bytes(pids),
        "idle_pss": pss_bytes(pids),
        "idle_processes": len(pids),
        "startup_s": server.startup_s,
    }


@dataclass
class Phase:
    """Servers run together, and the scenarios run against them."""

    name: str
    make_servers: Callable[[], list[Server]]
    scenarios: list[str]
    tag: str = ""  # suffix of this phase's keys in the JSON's `servers`


@dataclass
class RunState:
    memory: dict[str, dict[str, Any]] = field(default_factory=dict)
    results: dict[str, dict[str, Outcome]] = field(default_factory=dict)
    server_info: dict[str, dict[str, Any]] = field(default_factory=dict)
    load: dict[str, Any] = field(default_factory=dict)
    backends: Backends | None = None

    def backend_cpu(self) -> dict[str, float] | None:
        return self.backends.cpu() if self.backends is not None else None


def run_phase(args: argparse.Namespace, ctx: Ctx, phase: Phase, st: RunState) -> None:
    """Start the phase's servers, run its scenarios, stop the servers (always)."""
    wanted = phase.make_servers()
    live: list[Server] = []
    sampler: RssSampler | None = None
    first = not phase.tag  # the first phase's figures are the table's memory rows
    try:
        failed: dict[str, str] = {}
        for s in wanted:
            key = s.name + phase.tag
            st.server_info[key] = {"argv": s.argv, "url": s.url, "log": str(s.log_path)}
            log(f"starting {key}: {' '.join(s.argv)}")
            mem = st.memory.setdefault(s.name, {}) if first else {}
            try:
                s.start(args.ready_timeout)
                idle = idle_memory(s)
            except (RuntimeError, TimeoutError, OSError) as exc:
                msg = f"{key} did not start: {exc}"
                log(f"[red]{msg}[/]")
                failed[s.name] = msg
                if first:
                    mem["error"] = msg
                st.server_info[key]["error"] = msg
                s.stop()
                continue
            live.append(s)
            mem.update(idle)
            if not first:
                st.memory.setdefault(s.name, {})[f"phase{phase.tag}"] = mem
            log(
                f"{key} ready on {s.url} in {s.startup_s:.2f} s; idle RSS "
                f"{idle['idle_rss'] / MIB:.1f} MiB in {idle['idle_processes']} process(es)"
            )
        sampler = RssSampler(live)
        sampler.start()

        for name in phase.scenarios:
            log(f"[bold]{name}[/]")
            runnable = [s for s in live if s.process is not None and s.process.poll() is None]
            errors = {
                s.name: failed.get(s.name, f"{s.name}{phase.tag} not running") for s in wanted
            }
            for s in live:
                if s not in runnable:
                    errors[s.name] = f"{s.name}{phase.tag} exited mid-run"
                    st.memory[s.name].setdefault("error", errors[s.name])
            c0 = cpu_snapshot()
            b0 = st.backend_cpu()
            o0 = _own_cpu_s() + sum(tree_cpu_s(s.pid) for s in runnable)
            res = RUNNERS[name](ctx, runnable) if runnable else {}
            o1 = _own_cpu_s() + sum(tree_cpu_s(s.pid) for s in runnable)
            b1 = st.backend_cpu()
            backends = _diff(b1, b0) if b1 is not None and b0 is not None else None
            acct = _account(cpu_snapshot() - c0, o1 - o0, backends)
            st.load.setdefault("by_scenario", {})[name] = acct
            if backends:
                log(
                    "  backends used "
                    + ", ".join(f"{k} {v:.1f}" for k, v in backends.items())
                    + " CPU-s"
                )
            if acct["other_fraction"] > 0.05:
                log(
                    f"  [yellow]other processes took {acct['other_fraction']:.0%} "
                    "of the machine meanwhile[/]"
                )
            for s in wanted:
                if s.name not in res:
                    res[s.name] = Outcome(error=str(errors[s.name]))
            st.results[name] = res
    finally:
        if sampler is not None:
            sampler.stop()
            for s in live:
                peaks = st.memory.setdefault(s.name, {})
                peaks[f"peak_rss{phase.tag}"] = sampler.peak[s.name]
                peaks[f"peak_processes{phase.tag}"] = sampler.max_procs[s.name]
                # the table's peak: the highest over every phase this registry ran in
                peaks["peak_rss"] = max(peaks.get("peak_rss", 0), sampler.peak[s.name])
            st.memory.setdefault("_sampler", {})[f"samples{phase.tag}"] = sampler.samples
        for s in wanted:
            if s.tokens is not None:  # which tokens were fetched (never their values)
                st.server_info.setdefault(s.name + phase.tag, {})["tokens"] = s.tokens.fetched
        for s in live:
            rc = s.stop()  # reaped: its CPU moves into RUSAGE_CHILDREN (_own_cpu_s)
            key = s.name + phase.tag
            st.server_info[key]["exit_code"] = rc
            st.server_info[key]["startup_s"] = s.startup_s
            log(f"stopped {key} (pid {s.pid}, exit code {rc})")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for tool in ("curl", "wrk", "ab"):
        if shutil.which(tool) is None:
            log(f"[yellow]warning:[/] {tool} not found; scenarios needing it will fail")

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)

    if args.wait_idle > 0:
        frac = wait_for_quiet(args.wait_idle, 0.10, log)
        log(f"machine {frac:.0%} busy before start")
    started = dt.datetime.now(dt.UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    workdir = Path(tempfile.mkdtemp(prefix="dockyard-bench-", dir=args.tmp_dir))
    log(f"scratch dir {workdir} (topology: {args.topology})")

    st = RunState()
    # Dockyard's first administrator, for every Dockyard of the run (the production
    # topology's second phase reuses the database, where the administrator now exists).
    credentials = Credentials.generate()
    ctx = Ctx(
        workdir=workdir,
        size=args.size_mib * MIB,
        duration=args.duration,
        reps=args.reps,
        warmup=args.warmup,
        log=log,
    )
    exit_code = 0
    setup_error: str | None = None
    topology_info: dict[str, Any] = {"name": args.topology}
    snap0 = cpu_snapshot()
    own0 = _own_cpu_s()
    st.load["loadavg_start"] = os.getloadavg()
    stack = ExitStack()
    try:
        if args.topology == "production":
            st.backends = Backends()
            try:
                from topology import production_backends

                prod = stack.enter_context(
                    production_backends(workdir, log, args.go_s3_chunk_mib * MIB, credentials)
                )
            except KeyboardInterrupt:
                raise
            except Exception as exc:  # S3 server, bucket, database, migrate: say which
                raise SetupError(f"production backends: {type(exc).__name__}: {exc}") from exc
            ctx.s3_endpoint = prod.s3_hostport
            st.backends.add_s3(prod.s3.process.pid)
            topology_info.update(prod.describe())

            def servers_for(redirect: bool) -> Callable[[], list[Server]]:
                return lambda: prod.servers(
                    workdir,
                    args.go_binary,
                    args.dockyard_cmd,
                    redirect=redirect,
                    go=not args.skip_go,
                    dockyard=not args.skip_dockyard,
                )

            # Redirects are a server setting: the redirect scenarios get their own
            # instances of both registries, on the same buckets and database.
            direct = [s for s in args.scenarios if s not in REDIRECT_SCENARIOS]
            redirected = [s for s in args.scenarios if s in REDIRECT_SCENARIOS]
            phases = [
                Phase("redirects off", servers_for(False), direct),
                Phase("redirects on", servers_for(True), redirected, tag="-redirect"),
            ]
        else:

            def embedded() -> list[Server]:
                out: list[Server] = []
                if not args.skip_go:
                    out.append(go_server(workdir, args.go_binary))
                if not args.skip_dockyard:
                    out.append(dockyard_server(workdir, args.dockyard_cmd, credentials=credentials))
                return out

            phases = [Phase("embedded", embedded, list(args.scenarios))]
        for phase in phases:
            if not phase.scenarios and phase.tag:
                continue  # a later phase with nothing to do is not started at all
            if len(phases) > 1:
                log(f"[bold]phase {phase.name}[/]")
            run_phase(args, ctx, phase, st)
    except KeyboardInterrupt:
        log("[red]interrupted[/]")
        exit_code = 130
    except SetupError as exc:
        setup_error = str(exc)
        log(f"[red]setup failed:[/] {setup_error}")
        exit_code = 1
    finally:
        # Every server is stopped and reaped by now: their CPU is in RUSAGE_CHILDREN.
        st.load.update(_account(cpu_snapshot() - snap0, _own_cpu_s() - own0, st.backend_cpu()))
        st.load["loadavg_end"] = os.getloadavg()
        try:
            stack.close()  # S3 server stopped by PID, database dropped, Redis keys deleted
        except Exception as exc:  # report it, but still write what was measured
            log(f"[red]tearing down the backends failed:[/] {exc!r}")
            exit_code = exit_code or 1
        ctx.close()
    memory, results, server_info, load = st.memory, st.results, st.server_info, st.load
    registries = (("go", args.skip_go), ("dockyard", args.skip_dockyard))
    wanted_names = [n for n, skip in registries if not skip]
    for name in args.scenarios:
        res = results.setdefault(name, {})
        for n in wanted_names:
            res.setdefault(n, Outcome(error=setup_error or "not run"))
    for n in wanted_names:
        memory.setdefault(n, {})
        if setup_error:
            memory[n].setdefault("error", setup_error)

    skipped = {"go"} if args.skip_go else {"dockyard"} if args.skip_dockyard else set()
    for res in results.values():
        for name in skipped:
            res[name] = Outcome(error="skipped")
    for name in skipped:
        memory[name] = {"error": "skipped"}

    rows = build_rows(results, memory, args.scenarios, args.topology)
    where = (
        "production topology (both on one moto S3 server; Dockyard + PostgreSQL + Redis)"
        if args.topology == "production"
        else "embedded topology"
    )
    title = (
        f"Dockyard vs Go registry — {started:%Y-%m-%d %H:%M} UTC — {where} — "
        f"blob {args.size_mib} MiB, load {args.duration} s, {os.cpu_count()} CPUs"
    )
    print_table(out, rows, title)
    if load["other_fraction"] > 0.05:
        out.print(
            f"[bold yellow]warning:[/] other processes used {load['other_cpu_s']:.1f} CPU-s "
            f"({load['other_fraction']:.0%} of the machine) during this run; figures are "
            "depressed and noisy. Re-run on a quiet machine (see --wait-idle)."
        )
    else:
        out.print(
            f"machine otherwise quiet: {load['other_fraction']:.1%} of its CPU used by other "
            f"processes (kernel threads {load['kthreads_cpu_s']:.1f} CPU-s, irq/softirq "
            f"{load['irq_cpu_s']:.1f}, steal {load['steal_cpu_s']:.1f})"
        )
    if "backends_cpu_s" in load:
        used = ", ".join(f"{k} {v:.1f}" for k, v in load["backends_cpu_s"].items())
        out.print(
            f"backing services used (CPU-s): {used}. Both registries share the one S3 server "
            "(moto, Python): it bounds the absolute figures."
        )

    record = {
        "started": started.isoformat(),
        "finished": dt.datetime.now(dt.UTC).isoformat(),
        "options": {
            "size_mib": args.size_mib,
            "duration": args.duration,
            "warmup": args.warmup,
            "reps": args.reps,
            "scenarios": args.scenarios,
            "skip_go": args.skip_go,
            "skip_dockyard": args.skip_dockyard,
            "dockyard_cmd": args.dockyard_cmd,
            "topology": args.topology,
            "go_s3_chunk_mib": args.go_s3_chunk_mib,
        },
        "auth": {
            "dockyard": f"Docker token auth: admin {credentials.username!r} (password "
            f"generated per run, not recorded); bearer tokens from /auth/token, one per "
            f"repository set, lifetime {TOKEN_EXPIRY_S} s; manifest-get-basic sends basic "
            "credentials instead, manifest-get-anon none (public project)",
            "go": "none",
        },
        "topology": topology_info,
        "environment": environment(args),
        "machine_load": load,
        "servers": server_info,
        "memory": memory,
        "scenarios": {k: {n: o.as_json() for n, o in v.items()} for k, v in results.items()},
        "rows": [r.as_json() for r in rows],
    }
    path = args.json or RESULTS_DIR / f"{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, default=str) + "\n")
    log(f"results written to {path}")

    if args.keep:
        log(f"kept {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)

    failed = [r for r in rows if r.status == "FAIL"] + [
        r for r in rows if r.go_error and not is_unmeasured(r.go_error)
    ]
    if failed and exit_code == 0:
        exit_code = 1
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
