"""The `webhooks` settings section (YAML `webhooks:`, DOCKYARD__WEBHOOKS__*)."""

from __future__ import annotations

import base64
import binascii
from ipaddress import ip_network

from pydantic import BaseModel, ConfigDict, Field, IPvAnyNetwork, SecretStr, field_validator

DEFAULT_BLOCKED = ("127.0.0.0/8", "::1/128", "169.254.0.0/16", "fe80::/10", "0.0.0.0/8", "::/128")


class WebhookSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timeout_seconds: float = Field(
        10.0, gt=0, le=300, description="seconds one post may take, connecting included"
    )
    max_attempts: int = Field(
        8, ge=1, le=100, description="posts of one delivery before it is marked failed"
    )
    backoff_seconds: float = Field(
        10.0, gt=0, le=86400, description="wait before the first retry; doubled for each next"
    )
    max_backoff_seconds: float = Field(
        3600.0, gt=0, le=86400, description="the longest wait between two attempts"
    )
    max_response_bytes: int = Field(
        65536, ge=0, le=16 * 2**20, description="of a receiver's answer, read at most"
    )
    coalesce_pulls: int = Field(
        100, ge=1, le=1000, description="pull events of one repository one Harbor post carries"
    )
    log_days: int = Field(
        30, ge=1, le=3650, description="delivered and failed deliveries are kept this long"
    )
    seal_key: SecretStr | None = Field(
        None,
        description="a Fernet key (32 url-safe base64 bytes) the webhooks' secrets are "
        "encrypted with; default: one generated into the metadata database",
    )
    blocked_networks: list[IPvAnyNetwork] = Field(
        default_factory=lambda: [ip_network(n) for n in DEFAULT_BLOCKED],
        description="addresses no endpoint may resolve to (checked before each post): by "
        "default loopback, link-local (cloud metadata services) and unspecified ones, so a "
        "project admin cannot aim the registry at itself or its host; private networks "
        "(in-cluster receivers) are allowed. [] allows every address",
    )
    registry_host: str | None = Field(
        None,
        description="host[:port] in resource_url (default: server.public_url's, else none)",
    )

    @field_validator("seal_key")
    @classmethod
    def _fernet_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        try:
            raw = base64.urlsafe_b64decode(value.get_secret_value().encode())
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 32:
            raise ValueError(
                "should be a Fernet key: 32 bytes in url-safe base64 (python -c 'from "
                "cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
            )
        return value
