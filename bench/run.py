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
from pathlib import Path
from types import FrameType
from typing import Any

from report import build_rows, print_table
from rich.console import Console
from scenarios import RUNNERS, SCENARIOS, Ctx, Outcome
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
    tree_cpu_s,
    wait_for_quiet,
)

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
        "--only",
        action="append",
        default=[],
        metavar="SCENARIO",
        help=f"run only these (repeatable or comma-separated): {', '.join(SCENARIOS)}",
    )
    p.add_argument("--skip-go", action="store_true", help="do not run the Go registry")
    p.add_argument("--skip-dockyard", action="store_true", help="do not run Dockyard")
    p.add_argument(
        "--dockyard-cmd",
        default=DEFAULT_DOCKYARD_CMD,
        help="command starting Dockyard; placeholders {python} {data_dir} {host} {port}",
    )
    p.add_argument("--go-binary", default="/usr/bin/docker-registry")
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
    unknown = sorted(set(only) - set(SCENARIOS))
    if unknown:
        p.error(f"unknown scenario(s) {unknown}; choose from {list(SCENARIOS)}")
    args.scenarios = [s for s in SCENARIOS if s in only] if only else list(SCENARIOS)
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


def _account(d: CpuSnapshot, own: float) -> dict[str, Any]:
    """Split the machine's CPU over an interval: ours, kernel threads, irq, others."""
    other = max(0.0, d.process - d.kthreads - own)
    return {
        "machine_cpu_s": d.total,
        "bench_cpu_s": own,  # harness + wrk/ab + both server trees
        "kthreads_cpu_s": d.kthreads,  # mostly writeback of what the registries wrote
        "irq_cpu_s": d.irq,  # softirq: loopback TCP processing, billed to no task
        "steal_cpu_s": d.steal,
        "other_cpu_s": other,  # other user processes: the noise to worry about
        "other_fraction": other / max(d.total, 1e-9),
    }


def _own_cpu_s() -> float:
    """CPU-seconds of this process and its reaped children (wrk, ab, ...)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def idle_memory(server: Server) -> dict[str, Any]:
    """Whole-tree RSS/PSS after startup and one request (and 1 s to settle)."""
    import http.client

    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        conn.request("GET", "/v2/")
        conn.getresponse().read()
    finally:
        conn.close()
    time.sleep(1.0)
    pids = process_tree(server.pid)
    return {
        "idle_rss": rss_bytes(pids),
        "idle_pss": pss_bytes(pids),
        "idle_processes": len(pids),
        "startup_s": server.startup_s,
    }


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
    log(f"scratch dir {workdir}")

    wanted: list[Server] = []
    if not args.skip_go:
        wanted.append(go_server(workdir, args.go_binary))
    if not args.skip_dockyard:
        wanted.append(dockyard_server(workdir, args.dockyard_cmd))

    memory: dict[str, dict[str, Any]] = {}
    results: dict[str, dict[str, Outcome]] = {}
    server_info: dict[str, dict[str, Any]] = {}
    live: list[Server] = []
    ctx = Ctx(
        workdir=workdir,
        size=args.size_mib * MIB,
        duration=args.duration,
        reps=args.reps,
        warmup=args.warmup,
        log=log,
    )
    sampler: RssSampler | None = None
    exit_code = 0
    snap0 = cpu_snapshot()
    own0 = _own_cpu_s()
    load: dict[str, Any] = {"loadavg_start": os.getloadavg()}
    try:
        for s in wanted:
            server_info[s.name] = {"argv": s.argv, "url": s.url, "log": str(s.log_path)}
            log(f"starting {s.name}: {' '.join(s.argv)}")
            try:
                s.start(args.ready_timeout)
            except (RuntimeError, TimeoutError, OSError) as exc:
                msg = f"{s.name} did not start: {exc}"
                log(f"[red]{msg}[/]")
                memory[s.name] = {"error": msg}
                server_info[s.name]["error"] = msg
                s.stop()
                continue
            live.append(s)
            mem = idle_memory(s)
            memory[s.name] = mem
            log(
                f"{s.name} ready on {s.url} in {s.startup_s:.2f} s; idle RSS "
                f"{mem['idle_rss'] / MIB:.1f} MiB in {mem['idle_processes']} process(es)"
            )
        sampler = RssSampler(live)
        sampler.start()

        for name in args.scenarios:
            log(f"[bold]{name}[/]")
            runnable = [s for s in live if s.process is not None and s.process.poll() is None]
            for s in live:
                if s not in runnable:
                    memory[s.name].setdefault("error", f"{s.name} exited mid-run")
            c0 = cpu_snapshot()
            o0 = _own_cpu_s() + sum(tree_cpu_s(s.pid) for s in runnable)
            res = RUNNERS[name](ctx, runnable) if runnable else {}
            o1 = _own_cpu_s() + sum(tree_cpu_s(s.pid) for s in runnable)
            acct = _account(cpu_snapshot() - c0, o1 - o0)
            load.setdefault("by_scenario", {})[name] = acct
            if acct["other_fraction"] > 0.05:
                log(
                    f"  [yellow]other processes took {acct['other_fraction']:.0%} "
                    "of the machine meanwhile[/]"
                )
            for s in wanted:
                if s.name not in res:
                    why = memory.get(s.name, {}).get("error", "not running")
                    res[s.name] = Outcome(error=str(why))
            results[name] = res
    except KeyboardInterrupt:
        log("[red]interrupted[/]")
        exit_code = 130
    finally:
        own = _own_cpu_s() - own0 + sum(tree_cpu_s(s.pid) for s in live)
        load.update(_account(cpu_snapshot() - snap0, own))
        load["loadavg_end"] = os.getloadavg()
        if sampler is not None:
            sampler.stop()
            for s in live:
                memory[s.name]["peak_rss"] = sampler.peak[s.name]
                memory[s.name]["peak_processes"] = sampler.max_procs[s.name]
            memory.setdefault("_sampler", {})["samples"] = sampler.samples
        for s in live:
            rc = s.stop()
            server_info[s.name]["exit_code"] = rc
            server_info[s.name]["startup_s"] = s.startup_s
            log(f"stopped {s.name} (pid {s.pid}, exit code {rc})")
        ctx.close()

    skipped = {"go"} if args.skip_go else {"dockyard"} if args.skip_dockyard else set()
    for res in results.values():
        for name in skipped:
            res[name] = Outcome(error="skipped")
    for name in skipped:
        memory[name] = {"error": "skipped"}

    rows = build_rows(results, memory, args.scenarios)
    title = (
        f"Dockyard vs Go registry — {started:%Y-%m-%d %H:%M} UTC — "
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
        },
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
        r for r in rows if r.go_error and r.go_error not in ("skipped", "not run")
    ]
    if failed and exit_code == 0:
        exit_code = 1
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
