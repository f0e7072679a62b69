"""The `replication:` settings section."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ReplicationSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    retry_seconds: float = Field(30.0, gt=0, le=86400)
    """the first retry of an execution whose destination (or source) was unavailable
    waits this long, each next one twice as long, up to `retry_max_seconds`"""
    retry_max_seconds: float = Field(3600.0, gt=0, le=7 * 86400)
    max_retries: int = Field(20, ge=0, le=10000)
    """a manual or cron execution gives up after this many retries (its open items
    fail; `dockyard replication retry` starts them again). Event-triggered executions
    never give up: an event is re-driven until it is replicated or an operator stops it."""
    lease_seconds: float = Field(120.0, ge=5, le=3600)
    """an execution's runner renews its claim this often ÷ 3; a runner that died is
    replaced once its claim lapses"""
    concurrency: int = Field(4, ge=1, le=64)
    """items of a manual or cron execution copied at once (an event execution's go one
    by one, in the order of the events)"""
    keep_days: int = Field(30, ge=1, le=3650)
    """finished executions (and their items) older than this are deleted by the sweep"""
    sweep_cron: str = "*/5 * * * *"
    """how often executions due a retry, or whose runner died, are picked up again"""
