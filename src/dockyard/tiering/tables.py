"""Tiering's tables (branch "tiering"): a rule per project, and the blobs on the
cold tier."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, String, Table

metadata = MetaData()

# a project's rule: its blobs no image pulled for `cold_after_days` days go cold
tier_rules = Table(
    "tier_rules",
    metadata,
    Column("project_id", Integer, primary_key=True),  # FK projects.id, ON DELETE CASCADE
    Column("cold_after_days", Integer, nullable=False),
    Column("updated_by", String(255), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# a blob whose bytes are on the cold tier (a row is written once the cold copy is
# whole and verified, before the hot copy goes; it goes with the blob's row)
blob_tiers = Table(
    "blob_tiers",
    metadata,
    Column("digest", String(150), primary_key=True),  # FK blobs.digest, ON DELETE CASCADE
    Column("size", BigInteger, nullable=False),
    Column("moved_at", DateTime(timezone=True), nullable=False),
)
