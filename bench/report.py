"""Turn measurements into rows with ratios and targets; print them with rich."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from rich.console import Console
from rich.table import Table
from scenarios import Outcome
from servers import MIB

Better = Literal["higher", "lower"]

IDLE_RSS_LIMIT_MIB = 150.0
NOT_MEASURED = ("skipped", "not run")


def is_unmeasured(err: str | None) -> bool:
    """Not measured on purpose (--skip-*, not run, or "skipped: <why>"), not a failure."""
    return bool(err) and (err in NOT_MEASURED or str(err).startswith("skipped:"))


@dataclass
class Row:
    key: str
    label: str
    unit: str
    better: Better
    go: float | None
    dockyard: float | None
    go_error: str | None = None
    dockyard_error: str | None = None
    min_ratio: float | None = None  # target on the "> 1 = Dockyard better" ratio
    dockyard_max: float | None = None  # absolute target on Dockyard's figure

    @property
    def ratio(self) -> float | None:
        """Always oriented so that > 1 means Dockyard is better."""
        if self.go is None or self.dockyard is None or self.go <= 0 or self.dockyard <= 0:
            return None
        return self.dockyard / self.go if self.better == "higher" else self.go / self.dockyard

    @property
    def ratio_kind(self) -> str:
        return "dockyard/go" if self.better == "higher" else "go/dockyard"

    @property
    def target(self) -> str:
        if self.dockyard_max is not None:
            return f"Dockyard < {self.dockyard_max:g} {self.unit}"
        if self.min_ratio is not None:
            return f"≥ {self.min_ratio:g}x"
        return "—"

    @property
    def status(self) -> str:
        if self.min_ratio is None and self.dockyard_max is None:
            return "info"
        if self.dockyard_error and not is_unmeasured(self.dockyard_error):
            return "FAIL"
        if self.dockyard_max is not None:
            if self.dockyard is None:
                return "n/a"
            return "PASS" if self.dockyard < self.dockyard_max else "MISS"
        if self.go_error and self.ratio is None:
            return "n/a"
        r = self.ratio
        if r is None or self.min_ratio is None:
            return "n/a"
        return "PASS" if r >= self.min_ratio else "MISS"

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "unit": self.unit,
            "better": self.better,
            "go": self.go,
            "dockyard": self.dockyard,
            "go_error": self.go_error,
            "dockyard_error": self.dockyard_error,
            "ratio": self.ratio,
            "ratio_kind": self.ratio_kind,
            "target": self.target,
            "status": self.status,
        }


def _pair(res: dict[str, dict[str, Outcome]], scenario: str) -> tuple[Outcome, Outcome]:
    r = res.get(scenario, {})
    return r.get("go", Outcome(error="not run")), r.get("dockyard", Outcome(error="not run"))


# (scenario, label, unit, embedded target; None: information only, no target)
SPECS: list[tuple[str, str, str, float | None]] = [
    ("push-mono", "Big-blob push, monolithic PUT", "MB/s", 1.5),
    ("push-chunked", "Big-blob push, 8 MiB PATCH chunks", "MB/s", 1.5),
    ("pull", "Big-blob pull", "MB/s", 1.0),
    ("manifest-head", "Manifest HEAD, 64 conns (ab)", "req/s", 3.0),
    ("manifest-get", "Manifest GET, 64 conns (wrk)", "req/s", 3.0),
    ("manifest-get-basic", "Manifest GET, Dockyard: basic auth per request", "req/s", None),
    ("manifest-get-anon", "Manifest GET, Dockyard: anonymous, public project", "req/s", None),
    ("pull-20", "20 clients pull 5x40 MiB image, aggregate", "MB/s", 1.0),
    ("pull-redirect", "Big-blob pull, presigned redirect (307 → S3)", "MB/s", 1.0),
    ("small-blobs", "2,000 x 4 KiB blob pushes (POST + PUT), 16 clients", "blobs/s", 1.0),
    ("tag-create", "5,000 manifest PUTs by tag, 16 clients", "manifests/s", 1.0),
    ("tag-list", "GET tags/list of 5,000 tags, median latency", "ms", 1.0),
]
LOWER_IS_BETTER = frozenset({"tag-list"})


def build_rows(
    results: dict[str, dict[str, Outcome]],
    memory: dict[str, dict[str, Any]],
    scenarios: list[str],
    topology: str = "embedded",
) -> list[Row]:
    """Rows for the table. In the production topology every scenario's target is
    ≥ 1.0x: both registries are bounded by the same (slow) S3 server."""
    rows: list[Row] = []
    for key, label, unit, embedded_target in SPECS:
        if key not in scenarios:
            continue
        if embedded_target is None:
            target = None
        else:
            target = 1.0 if topology == "production" else embedded_target
        go, dy = _pair(results, key)
        better: Better = "lower" if key in LOWER_IS_BETTER else "higher"
        rows.append(Row(key, label, unit, better, go.value, dy.value, go.error, dy.error, target))
        if key == "small-blobs":
            rows.append(
                Row(
                    key="small-blobs-cpu",
                    label="  server tree CPU per 1,000 small blobs",
                    unit="CPU-s",
                    better="lower",
                    go=go.detail.get("server_cpu_s_per_1000") if go.value else None,
                    dockyard=dy.detail.get("server_cpu_s_per_1000") if dy.value else None,
                    go_error=go.error,
                    dockyard_error=dy.error,
                )
            )
        if key == "pull-20":
            rows.append(
                Row(
                    key="pull-20-wall",
                    label="20 clients pull, wall time",
                    unit="s",
                    better="lower",
                    go=go.detail.get("wall_s") if go.value else None,
                    dockyard=dy.detail.get("wall_s") if dy.value else None,
                    go_error=go.error,
                    dockyard_error=dy.error,
                    min_ratio=1.0,
                )
            )

    def mem(name: str, field: str) -> float | None:
        v = memory.get(name, {}).get(field)
        return v / MIB if isinstance(v, int | float) else None

    def mem_err(name: str) -> str | None:
        e = memory.get(name, {}).get("error")
        return str(e) if e else None

    def mem_row(
        key: str,
        label: str,
        field: str,
        dockyard_max: float | None = None,
        min_ratio: float | None = None,
    ) -> Row:
        return Row(
            key=key,
            label=label,
            unit="MiB",
            better="lower",
            go=mem("go", field),
            dockyard=mem("dockyard", field),
            go_error=mem_err("go"),
            dockyard_error=mem_err("dockyard"),
            dockyard_max=dockyard_max,
            min_ratio=min_ratio,
        )

    rows.append(
        mem_row(
            "idle-rss", "Idle RSS, whole process tree", "idle_rss", dockyard_max=IDLE_RSS_LIMIT_MIB
        )
    )
    rows.append(mem_row("idle-pss", "Idle PSS (shared pages split), tree", "idle_pss"))
    rows.append(mem_row("peak-rss", "Peak RSS during run, whole tree", "peak_rss", min_ratio=1.0))
    return rows


def _fmt(v: float | None, err: str | None) -> str:
    if v is None:
        return "[red]failed[/]" if err and not is_unmeasured(err) else "—"
    if v >= 1000:
        return f"{v:,.0f}"
    if v >= 100:
        return f"{v:.0f}"
    return f"{v:.1f}" if v >= 10 else f"{v:.2f}"


STATUS_STYLE = {"PASS": "bold green", "MISS": "bold yellow", "FAIL": "bold red"}


def print_table(console: Console, rows: list[Row], title: str) -> None:
    table = Table(title=title, title_justify="left")
    table.add_column("Measurement")
    table.add_column("Unit")
    table.add_column("Go", justify="right")
    table.add_column("Dockyard", justify="right")
    table.add_column("Ratio (>1 = Dockyard better)", justify="right")
    table.add_column("Target")
    table.add_column("Result")
    for r in rows:
        ratio = f"{r.ratio:.2f}x ({r.ratio_kind})" if r.ratio is not None else "—"
        status = r.status
        style = STATUS_STYLE.get(status, "dim")
        table.add_row(
            r.label,
            r.unit,
            _fmt(r.go, r.go_error),
            _fmt(r.dockyard, r.dockyard_error),
            ratio,
            r.target,
            f"[{style}]{status}[/]",
        )
    console.print(table)
    errors = [
        (name, r.label, err)
        for r in rows
        for name, err in (("go", r.go_error), ("dockyard", r.dockyard_error))
        if err and not is_unmeasured(err)
    ]
    seen: set[tuple[str, str]] = set()
    for name, label, err in errors:
        if (name, err) in seen:
            continue
        seen.add((name, err))
        console.print(f"[red]{name}[/] {label}: {err}", soft_wrap=True)
    notes = {
        (r.label, err)
        for r in rows
        for err in (r.go_error, r.dockyard_error)
        if err and err.startswith("skipped:")
    }
    for label, err in sorted(notes):
        console.print(f"[dim]{label}: {err}[/]", soft_wrap=True)
