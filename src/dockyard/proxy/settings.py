"""The `proxy` settings section (YAML `proxy:`, DOCKYARD__PROXY__*)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ProxySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_seconds: float = Field(
        2.0, gt=0, le=300, description="how often a replica rereads the proxy caches' settings"
    )
    lease_seconds: float = Field(
        30.0, ge=1, le=3600, description="a blob download's lease, renewed while it runs"
    )
    wait_seconds: float = Field(
        900.0, gt=0, le=86400, description="how long a request waits for another replica's download"
    )
    poll_seconds: float = Field(
        0.1, gt=0, le=10, description="how often a waiting request looks for that blob"
    )
    upstream_timeout_seconds: float = Field(
        30.0, gt=0, le=600, description="per upstream request, connecting included"
    )
    rate_limit_pause_seconds: float = Field(
        60.0, gt=0, le=86400, description="pause after ratelimit-remaining: 0 without Retry-After"
    )
