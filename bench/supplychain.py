"""Supply-chain benchmarks (issue 11):

    manifest   manifest GET req/s with the pull gate enforcing signatures and
               vulnerabilities vs no policy (target: within 10 %), beside the Go registry
    scan       SBOM + scan time of a large image (default 1 GiB, 500 packages), pushed
               to a real server and scanned by its worker
    rematch    rematch of N stored SBOMs (default 10,000 of 500 packages) against an
               updated vulnerability database, without reading a layer

    .venv/bin/python bench/supplychain.py manifest --duration 10 --reps 3
    .venv/bin/python bench/supplychain.py scan --size-mib 1024 --packages 500
    .venv/bin/python bench/supplychain.py rematch --sboms 10000 --packages 500
    .venv/bin/python bench/supplychain.py all

Everything runs on 127.0.0.1; servers are started and stopped by PID; scratch data
goes to a temp dir removed at the end. A JSON record goes to bench/results/.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))


def log(message: str) -> None:
    print(f"[supplychain-bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run_manifest(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from credentials import Credentials
    from servers import dockyard_server, go_server
    from supplychain_manifest import measure, prepare_dockyard, prepare_go, small_image

    creds = Credentials.generate()
    go = go_server(workdir)
    dock = dockyard_server(workdir, credentials=creds)
    servers = {"go": go, "dockyard": dock}
    try:
        for s in servers.values():
            s.start()
        blobs, manifest = small_image()
        prepare_go(go, blobs, manifest)
        prepare_dockyard(dock, creds, blobs, manifest)
        log("manifest GET, gate off / on, and the Go registry")
        return measure(workdir, servers, args.duration, args.reps, log)
    finally:
        for s in servers.values():
            s.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["manifest", "scan", "rematch", "all"])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--size-mib", type=int, default=1024, help="scan: image size")
    parser.add_argument("--packages", type=int, default=500)
    parser.add_argument("--sboms", type=int, default=10_000, help="rematch: stored SBOMs")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    record: dict[str, Any] = {"started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    wanted = ["manifest", "scan", "rematch"] if args.what == "all" else [args.what]
    failed = False
    with tempfile.TemporaryDirectory(prefix="dockyard-sc-bench-") as tmp:
        for what in wanted:
            workdir = Path(tmp) / what
            workdir.mkdir()
            try:
                if what == "manifest":
                    record[what] = run_manifest(args, workdir)
                elif what == "scan":
                    from supplychain_scan import run_scan

                    record[what] = run_scan(args, workdir, log)
                else:
                    from supplychain_rematch import run_rematch

                    record[what] = run_rematch(args, workdir, log)
            except Exception as exc:  # a failed measurement is reported, the rest runs
                failed = True
                record[what] = {"error": f"{type(exc).__name__}: {exc}"}
                log(f"{what}: FAILED {exc}")
    out = (
        args.json
        or HERE / "results" / f"supplychain-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2))
    print(json.dumps(record, indent=2))
    log(f"record: {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
