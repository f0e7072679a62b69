"""The `registries` settings section (YAML `registries:`, DOCKYARD__REGISTRIES__*)."""

from __future__ import annotations

import base64
import binascii

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator


class RegistriesSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    secret_key: SecretStr | None = Field(
        None,
        description="the Fernet key (32 bytes, url-safe base64) the endpoints' secrets are "
        "encrypted with; several, comma-separated, to rotate: the first encrypts, every one "
        "decrypts. Default on the embedded SQLite database: one generated into "
        "<data_dir>/registries.key (0600); with PostgreSQL it must be set to store a secret",
    )
    timeout_seconds: float = Field(
        30.0, gt=0, le=3600, description="seconds one request to a remote registry may take"
    )
    ping_timeout_seconds: float = Field(
        10.0, gt=0, le=300, description="seconds a health check may take"
    )

    @field_validator("secret_key")
    @classmethod
    def _fernet_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        for key in value.get_secret_value().split(","):
            try:
                raw = base64.urlsafe_b64decode(key.strip().encode())
            except (binascii.Error, ValueError):
                raw = b""
            if len(raw) != 32:
                raise ValueError(
                    "should be Fernet keys, comma-separated: 32 bytes each in url-safe base64 "
                    "(python -c 'from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())')"
                )
        return value
