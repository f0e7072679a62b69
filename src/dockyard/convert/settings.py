"""The `convert:` settings section."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ConvertSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    level: int = Field(3, ge=1, le=19)
    """the zstd level a conversion uses unless its request names one (3: zstd's default,
    what podman and containerd write)"""
    threads: int = Field(0, ge=0, le=64)
    """zstd worker threads per layer; 0 compresses on the job's one thread (a 2-core
    replica keeps serving while a conversion runs)"""
