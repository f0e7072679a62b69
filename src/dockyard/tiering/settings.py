"""The `tiering:` settings section."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from dockyard.config import StorageSettings


class TieringSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cold: StorageSettings | None = None
    """the cold tier: `{driver: filesystem, root: …}` (default root <data_dir>/cold) or
    `{driver: s3, bucket: …, prefix: …, storage_class: STANDARD_IA, …}`; null: no
    tiering (reads never look anywhere but the blob storage)"""
    mode: Literal["stream", "recall"] = "stream"
    """how a pull of a cold blob is served: `stream` from the cold tier (it moves back
    when the tiering job finds its rule no longer holds), or `recall`: streamed from
    cold while it is copied back to hot at once"""
    default_cold_after_days: int | None = Field(None, ge=1, le=36500)
    """the rule of projects without their own (and of repositories outside any
    project); null: only projects with a rule tier"""
    min_blob_bytes: int = Field(128 * 1024, ge=0, le=1 << 40)
    """smaller blobs stay hot (configs, tiny layers: S3's infrequent-access classes bill
    at least 128 KiB per object, and each is a request more than it saves)"""
    schedule: str | None = "17 3 * * *"
    """cron (UTC) of the tiering pass (`tiering.run`); null: only on demand"""
    concurrency: int = Field(4, ge=1, le=64)
    """blobs copied between tiers at once by the tiering pass"""
    recalls: int = Field(4, ge=1, le=64)
    """recall mode: copies back to hot at once, per process"""
    max_blobs_per_run: int = Field(100_000, ge=1, le=10_000_000)
    """blobs one pass moves at most (the next pass goes on)"""
