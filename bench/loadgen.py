"""Load generators for the manifest scenarios: wrk (GET) and ApacheBench (HEAD),
run as child processes whose CPU time is accounted separately."""

from __future__ import annotations

import json
import re
import resource
import subprocess
from pathlib import Path
from typing import Any

from client import OCI_MANIFEST, RegistryError

CONNECTIONS = 64


def child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


WRK_DONE_LUA = """\
done = function(summary, latency, requests)
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,'
    .. '"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\\n',
    summary.requests, summary.duration, summary.bytes, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.status,
    summary.errors.timeout, latency:percentile(50), latency:percentile(99), latency.max))
end
"""


def _header_args(headers: dict[str, str] | None) -> list[str]:
    """`-H "Name: value"` for each header (wrk and ab spell it alike)."""
    out: list[str] = []
    for k, v in {"Accept": OCI_MANIFEST, **(headers or {})}.items():
        out += ["-H", f"{k}: {v}"]
    return out


def run_wrk(
    workdir: Path, url: str, duration: int, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """GET `url` with the manifest Accept header plus `headers` (Authorization, ...)."""
    script = workdir / "wrk-get.lua"
    script.write_text(WRK_DONE_LUA)
    argv = [
        "wrk", "-t2", f"-c{CONNECTIONS}", f"-d{duration}s", "--timeout", "10s",
        "-s", str(script), *_header_args(headers), url,
    ]  # fmt: skip
    c0 = child_cpu()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    cpu = child_cpu() - c0
    m = re.search(r"^WRKJSON (\{.*\})$", proc.stdout, re.M)
    if proc.returncode != 0 or not m:
        raise RegistryError(f"wrk failed (rc {proc.returncode}): {proc.stderr or proc.stdout}")
    res: dict[str, Any] = json.loads(m.group(1))
    res["rps"] = res["requests"] / (res["duration_us"] / 1e6)
    res["client_cpu_s"] = cpu
    res["tool"] = "wrk -t2 -c64"
    errs = {k: res[k] for k in ("connect", "read", "write", "timeout", "status") if res[k]}
    if errs or res["requests"] == 0:
        res["failure"] = f"wrk saw errors {errs} in {res['requests']} requests"
    return res


def run_ab_head(url: str, duration: int, headers: dict[str, str] | None = None) -> dict[str, Any]:
    # wrk 4.1 cannot do HEAD: its response parser is never told the request was HEAD,
    # so it waits for a Content-Length body that never comes (0 requests complete).
    # ApacheBench has -i (HEAD) and -k (keep-alive) and reports non-2xx counts.
    argv = [
        "ab", "-q", "-i", "-k", "-c", str(CONNECTIONS), "-t", str(duration),
        "-n", "100000000", "-s", "10", *_header_args(headers), url,
    ]  # fmt: skip
    c0 = child_cpu()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    cpu = child_cpu() - c0

    def num(label: str, default: float | None = None) -> float:
        m = re.search(rf"^{label}:\s+([0-9.]+)", proc.stdout, re.M)
        if m:
            return float(m.group(1))
        if default is None:
            raise RegistryError(
                f"ab output lacks {label!r} (rc {proc.returncode}): "
                f"{proc.stderr.strip() or proc.stdout[-500:]}"
            )
        return default

    res: dict[str, Any] = {
        "requests": int(num("Complete requests")),
        "failed": int(num("Failed requests")),
        "non_2xx": int(num("Non-2xx responses", 0)),
        "keepalive": int(num("Keep-Alive requests", 0)),
        "duration_s": num("Time taken for tests"),
        "rps": num("Requests per second"),
        "client_cpu_s": cpu,
        "tool": "ab -i -k -c64",
    }
    m50 = re.search(r"^\s+50%\s+(\d+)", proc.stdout, re.M)
    m99 = re.search(r"^\s+99%\s+(\d+)", proc.stdout, re.M)
    res["p50_ms"] = int(m50.group(1)) if m50 else None
    res["p99_ms"] = int(m99.group(1)) if m99 else None
    if res["failed"] or res["non_2xx"] or res["requests"] == 0:
        res["failure"] = (
            f"ab: {res['failed']} failed, {res['non_2xx']} non-2xx of {res['requests']}"
        )
    return res
