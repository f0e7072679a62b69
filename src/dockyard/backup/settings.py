"""The `backup:` settings section (scheduled backups and S3 destinations)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class BackupSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    destination: str | None = None
    """where scheduled backups go: a folder, or s3://bucket/prefix"""
    schedule: str | None = None
    """cron (UTC) of the scheduled backup (`backup.run`); null: none"""
    keep: int = Field(7, ge=1, le=10000)
    """snapshots a scheduled backup keeps (older ones pruned, with blobs only they name)"""
    concurrency: int = Field(4, ge=1, le=64)
    """blobs copied at once"""
    s3_endpoint: str | None = None
    """for s3:// destinations: e.g. http://minio:9000 (default: AWS)"""
    s3_region: str = "us-east-1"
    s3_path_style: bool = False
    s3_access_key_id: str | None = None
    """default: AWS_ACCESS_KEY_ID and the rest of the AWS environment"""
    s3_secret_access_key: SecretStr | None = None
