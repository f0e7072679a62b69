"""Prometheus metrics, served at /metrics on the API port.

One `Metrics` per app (no module state). Per-request series (HTTP requests,
cache lookups) live in `hot`'s plain float slots, which cost a fraction of
prometheus_client's locked values; everything else (storage calls, uploads,
pool and process readings) uses prometheus_client as usual.

Several worker processes (`server.workers` > 1) each count what they serve,
and a scrape lands on any one of them, so counts must be shared. The
supervisor makes a fresh, per-server directory and names it in
PROMETHEUS_MULTIPROC_DIR before the workers start (prometheus_client picks
its value class at import). Each worker keeps its values in memory-mapped
files there (prometheus_client's multiprocess mode, and `hot`'s own slot
file), and a scrape on any worker sums every worker's files, so a count is
exact the moment a request has been counted. Counters and histograms of a
worker that exited stay in the sums, so totals never go backwards.
Per-process readings (DB pool, process_*, python_gc_*) cannot be read from
another process, so in that mode each worker copies its own into the files
every SAMPLE_SECONDS (the scraped worker also just before answering): pool
gauges are summed over live workers, process gauges are one series per live
worker (label `pid`), process counters are summed over every worker that
ever ran. Live-gauge files of dead workers are removed at scrape time.

With one worker (the default) everything lives in this process's memory and
per-process readings are taken at scrape time.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import logging
import os
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    values,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.gc_collector import GCCollector
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from dockyard.metrics import hot

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
SAMPLE_SECONDS = 5.0
UNMATCHED = "unmatched"
"""The route label of a request no route matched (its path is never a label)."""
DISCONNECTED = 499
"""The status label of a request whose client left before any response (as nginx does)."""

_STORAGE_BUCKETS = (
    0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
)  # fmt: skip
STORAGE_OPS = (
    "stat", "get_content", "put_content", "read", "writer", "write", "commit", "cancel",
    "move", "delete", "delete_many", "list", "redirect_url", "ping",
)  # fmt: skip

PoolReader = Callable[[], tuple[int, int]]
"""Returns (in_use, idle) connections of this process's database pools."""
UploadCounter = Callable[[], Awaitable[int]]
"""Counts upload sessions in the metadata database."""
JobCounter = Callable[[], Awaitable[dict[str, int]]]
"""Jobs per state, read from the queue at scrape time."""


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


@dataclass(frozen=True, slots=True)
class StorageOp:
    """The bound series of one (driver, op)."""

    count: Counter
    errors: Counter
    duration: Histogram


class StorageMetrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        self._ops = Counter(
            "dockyard_storage_operations",
            "Storage driver calls (a read is one call, however many chunks it streams)",
            ["driver", "op"],
            registry=registry,
        )
        self._errors = Counter(
            "dockyard_storage_errors",
            "Storage driver calls that failed (PathNotFound is an answer, not an error)",
            ["driver", "op"],
            registry=registry,
        )
        self._duration = Histogram(
            "dockyard_storage_operation_duration_seconds",
            "Storage driver call latency (a read: time to its first chunk)",
            ["driver", "op"],
            buckets=_STORAGE_BUCKETS,
            registry=registry,
        )

    def bind(self, driver: str) -> dict[str, StorageOp]:
        return {
            op: StorageOp(
                self._ops.labels(driver, op),
                self._errors.labels(driver, op),
                self._duration.labels(driver, op),
            )
            for op in STORAGE_OPS
        }


@dataclass(frozen=True, slots=True)
class UploadCounters:
    started: Counter
    completed: Counter
    failed: Counter


class _Constant:
    """dockyard_build_info, the same in every process."""

    def __init__(self, version: str) -> None:
        self._version = version

    def collect(self) -> Iterable[Metric]:
        info = GaugeMetricFamily(
            "dockyard_build_info", "Always 1; the version label names the running build",
            labels=["version"],
        )  # fmt: skip
        info.add_metric([self._version], 1.0)
        return [info]


class _ProcessMirror:
    """Copies this worker's process_* and python_gc_* readings into the shared files."""

    def __init__(self) -> None:
        self._sources = [ProcessCollector(registry=None), GCCollector(registry=CollectorRegistry())]
        self._gauges: dict[str, Gauge] = {}
        self._counters: dict[str, Counter] = {}
        self._last: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}

    def sample(self) -> None:
        for source in self._sources:
            for family in source.collect():
                if family.type == "counter":
                    self._counter(family)
                else:
                    self._gauge(family)

    def _gauge(self, family: Metric) -> None:
        for s in family.samples:
            gauge = self._gauges.get(s.name)
            if gauge is None:
                gauge = self._gauges[s.name] = Gauge(
                    s.name, family.documentation, sorted(s.labels),
                    multiprocess_mode="liveall", registry=None,
                )  # fmt: skip
            (gauge.labels(**s.labels) if s.labels else gauge).set(s.value)

    def _counter(self, family: Metric) -> None:
        for s in family.samples:
            if not s.name.endswith("_total"):
                continue
            counter = self._counters.get(family.name)
            if counter is None:
                counter = self._counters[family.name] = Counter(
                    family.name, family.documentation, sorted(s.labels), registry=None
                )
            key = (s.name, tuple(sorted(s.labels.items())))
            delta = s.value - self._last.get(key, 0.0)
            self._last[key] = s.value
            child = counter.labels(**s.labels) if s.labels else counter
            if delta > 0:
                child.inc(delta)


_LIVE_FILE = re.compile(r"gauge_live[a-z]+_(\d+)\.db")


def _reap_dead_workers(path: str) -> None:
    """Drop live-gauge files of worker processes that have exited."""
    seen: set[int] = set()
    for name in glob.glob(os.path.join(path, "gauge_live*_*.db")):
        m = _LIVE_FILE.fullmatch(os.path.basename(name))
        if m is None or (pid := int(m.group(1))) in seen:
            continue
        seen.add(pid)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            with contextlib.suppress(FileNotFoundError):
                mark_process_dead(pid, path)  # type: ignore[no-untyped-call]
        except PermissionError:
            pass


class _Scrape:
    """The registry's families plus those computed for this one scrape."""

    def __init__(self, registry: CollectorRegistry, extra: list[Metric]) -> None:
        self._registry = registry
        self._extra = extra

    def collect(self) -> Iterator[Metric]:
        yield from self._registry.collect()
        yield from self._extra


class Metrics:
    def __init__(self, version: str, multiproc_dir: str | None = None) -> None:
        self.multiproc_dir = multiproc_dir
        if multiproc_dir is not None and values.ValueClass is values.MutexValue:
            raise RuntimeError(
                f"{MULTIPROC_ENV} must be set before prometheus_client is first imported"
            )
        # Counters' *_created series double the series count and mean nothing to
        # most dashboards (multiprocess mode never has them): off, process-wide.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry()
        owned = None if multiproc_dir else self.registry
        self._table = hot.SlotTable(multiproc_dir)
        self.http = hot.HttpMetrics(self._table)
        self.cache_hits, self.cache_misses = hot.cache_counters(self._table)
        self.storage = StorageMetrics(owned)
        self.uploads = UploadCounters(
            Counter("dockyard_uploads_started", "Blob uploads begun (sessions and "
                    "monolithic POSTs)", registry=owned),
            Counter("dockyard_uploads_completed", "Blob uploads that became a blob",
                    registry=owned),
            Counter("dockyard_uploads_failed", "Blob uploads that ended in an error "
                    "(digest or size mismatch, body cut off)", registry=owned),
        )  # fmt: skip
        self.audit_lost = Counter(
            "dockyard_audit_entries_lost",
            "Audit entries that could not be recorded (database unavailable or full, "
            "buffer full); each loss is also logged",
            registry=owned,
        )
        self._pool = Gauge(
            "dockyard_db_pool_connections",
            "Metadata database connections, in use or idle in the pool",
            ["state"],
            multiprocess_mode="livesum",
            registry=owned,
        )
        self._pool_in_use = self._pool.labels("in_use")
        self._pool_idle = self._pool.labels("idle")
        self.pool_reader: PoolReader | None = None
        self.upload_counter: UploadCounter | None = None
        self.job_counter: JobCounter | None = None
        self.collectors: list[tuple[str, Callable[[], Awaitable[Sequence[Metric]]]]] = []
        """capabilities' scrape-time families (dockyard.capabilities: `metrics`)"""
        self._job_runs = Counter(
            "dockyard_job_runs",
            "Job runs that ended, by kind and outcome (succeeded, retry, failed, "
            "cancelled, released)",
            ["kind", "outcome"],
            registry=owned,
        )
        self._job_seconds = Histogram(
            "dockyard_job_duration_seconds",
            "How long job runs took, by kind",
            ["kind"],
            buckets=(0.01, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600),
            registry=owned,
        )
        self._mirror: _ProcessMirror | None = None
        self._sampler: asyncio.Task[None] | None = None
        if multiproc_dir is None:
            ProcessCollector(registry=self.registry)
            GCCollector(registry=self.registry)
        else:
            MultiProcessCollector(self.registry, multiproc_dir)  # type: ignore[no-untyped-call]
            self._mirror = _ProcessMirror()
        PlatformCollector(registry=self.registry)
        self.registry.register(_Constant(version))

    # -- per-process readings ----------------------------------------------------

    def sample(self) -> None:
        """Take this process's own readings (pool, and process_* in multiprocess mode)."""
        if self.pool_reader is not None:
            in_use, idle = self.pool_reader()
            self._pool_in_use.set(in_use)
            self._pool_idle.set(idle)
        if self._mirror is not None:
            self._mirror.sample()

    async def _sample_periodically(self) -> None:
        while True:
            await asyncio.sleep(SAMPLE_SECONDS)
            try:
                self.sample()
            except Exception:
                log.exception("sampling process metrics failed; will retry")

    def start(self) -> None:
        if self.multiproc_dir is not None and self._sampler is None:
            self.sample()
            self._sampler = asyncio.create_task(self._sample_periodically())

    async def stop(self) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampler
            self._sampler = None
        self._table.close()

    def observe_job(self, kind: str, outcome: str, seconds: float) -> None:
        self._job_runs.labels(kind, outcome).inc()
        if outcome in ("succeeded", "retry", "failed"):
            self._job_seconds.labels(kind).observe(seconds)

    # -- exposition --------------------------------------------------------------

    async def exposition(self, accept: str) -> tuple[bytes, str]:
        """The scrape body and its content type (OpenMetrics when asked for)."""
        extra: list[Metric] = []
        if self.upload_counter is not None:
            try:
                active = await self.upload_counter()
            except Exception as exc:  # the scrape still answers; the gauge is left out
                log.warning("counting upload sessions failed: %s", exc)
            else:
                family = GaugeMetricFamily(
                    "dockyard_upload_sessions_active",
                    "Upload sessions open in the metadata database (all replicas)",
                )
                family.add_metric([], float(active))
                extra.append(family)
        if self.job_counter is not None:
            try:
                states = await self.job_counter()
            except Exception as exc:
                log.warning("counting jobs failed: %s", exc)
            else:
                jobs = GaugeMetricFamily(
                    "dockyard_jobs",
                    "Jobs in the queue by state (all replicas): queued is the queue depth",
                    labels=["state"],
                )
                for state in ("queued", "running", "succeeded", "failed", "cancelled"):
                    jobs.add_metric([state], float(states.get(state, 0)))
                extra.append(jobs)
        for name, collect in self.collectors:
            try:
                extra.extend(await collect())
            except Exception as exc:
                log.warning("the %s metrics could not be read: %s", name, exc)
        self.sample()
        encoder, content_type = choose_encoder(accept)
        path = self.multiproc_dir
        if path is None:  # this process's slots, read on the loop thread that writes them
            extra.extend(hot.collect(self._table, None))

        def render() -> bytes:  # may read every worker's files: off the event loop
            if path is not None:
                _reap_dead_workers(path)
                extra.extend(hot.collect(self._table, path))
            return encoder(_Scrape(self.registry, extra))

        return await asyncio.to_thread(render), content_type
