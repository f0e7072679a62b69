"""The `usage:` settings section."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class UsageSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cache_seconds: float = Field(60.0, ge=0, le=86400)
    """a computed report is reused this long (by the API and by /metrics scrapes); the
    queries scan every manifest's references, so a scrape every 15 s does not redo them"""
    metrics_projects: int = Field(100, ge=0, le=100000)
    """per-project series in /metrics: the largest this many projects by physical bytes
    (the rest summed under project="(other)"), so a registry of 10k projects does not
    export 20k series"""
