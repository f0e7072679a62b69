"""The `supplychain` settings section (YAML `supplychain:`, DOCKYARD__SUPPLYCHAIN__*)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, HttpUrl


class AdapterSettings(BaseModel):
    """A Harbor Pluggable Scanner Adapter (Trivy's, Clair's, …) Dockyard asks to scan."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(
        pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$", description="the scanner's name in reports"
    )
    url: HttpUrl
    authorization: str | None = Field(
        default=None, description='the Authorization header value, e.g. "Bearer <token>"'
    )
    registry_url: HttpUrl | None = Field(
        default=None,
        description="the URL the adapter pulls from (default: the server's external URL)",
    )
    timeout_seconds: float = Field(default=600.0, gt=0)
    verify_tls: bool = True


class SupplyChainSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    trusted_root: Path | None = Field(
        default=None,
        description="a Sigstore trusted_root.json for offline keyless verification",
    )
    rescan_schedule: str = Field(
        default="0 3 * * *", description="cron of the scheduled rematch of every stored SBOM"
    )
    max_layer_bytes: int = Field(default=8 << 30, gt=0)
    max_member_bytes: int = Field(default=64 << 20, gt=0)
    max_binary_bytes: int = Field(default=256 << 20, gt=0)
    max_signatures: int = Field(
        default=32, gt=0, description="signature artifacts read per artifact verified"
    )
    adapters: list[AdapterSettings] = Field(default_factory=list)
    policy_scanner: str = Field(
        default="dockyard",
        description="whose report the vulnerability pull policy reads: dockyard or an adapter",
    )
