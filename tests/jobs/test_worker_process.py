"""A worker process killed with SIGKILL mid-job: its lease runs out and another
worker process takes the job up (on SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from dockyard.jobs.sql import SqlJobQueue

ROOT = Path(__file__).resolve().parents[2]


def _start(data_dir: Path, database_url: str, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.jobs.blocking_worker", str(data_dir), database_url],
        cwd=ROOT,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


async def test_killed_worker_job_is_taken_up(
    queue: SqlJobQueue, database_url: str, tmp_path: Path
) -> None:
    marker = tmp_path / "started"
    job_id = await queue.enqueue("test.block", {"marker": str(marker)})
    log = tmp_path / "workers.log"
    first = _start(tmp_path / "a", database_url, log)
    second: subprocess.Popen[bytes] | None = None
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert first.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the first worker never started the job"
            await asyncio.sleep(0.05)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        job = await queue.get(job_id)
        assert job is not None and job.state == "running"  # as the dead worker left it
        second = _start(tmp_path / "b", database_url, log)
        deadline = time.monotonic() + 60
        while True:
            job = await queue.get(job_id)
            assert job is not None
            if job.state == "succeeded":
                break
            assert second.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"not taken up: {job}"
            await asyncio.sleep(0.05)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(10)
    assert job.attempts == 2 and job.result == {"attempt": 2}
    assert any("was lost" in line.message for line in await queue.log_of(job_id))
