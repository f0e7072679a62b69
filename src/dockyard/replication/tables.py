"""Replication's tables (branch "replication"): the policies, their executions, and
each execution's items (one artifact to copy, or one deletion to propagate)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

replication_policies = Table(
    "replication_policies",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("description", Text, nullable=False),
    Column("direction", String(8), nullable=False),
    Column("endpoint", String(64), nullable=False),
    Column("filters", Text, nullable=False),
    Column("rewrite", Text, nullable=False),
    Column("trigger", String(8), nullable=False),
    Column("cron", String(128), nullable=True),
    Column("delete_propagation", Boolean, nullable=False),
    Column("override", Boolean, nullable=False),
    Column("bandwidth_bytes", BigInteger, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

replication_executions = Table(
    "replication_executions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "policy_id",
        Integer,
        ForeignKey("replication_policies.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("trigger", String(16), nullable=False),
    Column("dry_run", Boolean, nullable=False),
    Column("state", String(16), nullable=False),
    Column("dedup", String(64), nullable=True),
    Column("retries", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=True),
    Column("stop_requested", Boolean, nullable=False),
    Column("lease_holder", String(64), nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("error", Text, nullable=True),
    Column("created_by", String(255), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=True),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("policy_id", "dedup", name="uq_replication_executions_dedup"),
    Index("ix_replication_executions_policy_state", "policy_id", "state"),
)

replication_items = Table(
    "replication_items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "execution_id",
        Integer,
        ForeignKey("replication_executions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("action", String(8), nullable=False),
    Column("source_repository", String(255), nullable=False),
    Column("reference", String(255), nullable=False),
    Column("destination_repository", String(255), nullable=False),
    Column("digest", String(100), nullable=True),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("error", Text, nullable=True),
    Column("bytes", BigInteger, nullable=False),
    Column("blobs_copied", Integer, nullable=False),
    Column("blobs_skipped", Integer, nullable=False),
    Column("blobs_mounted", Integer, nullable=False),
    Column("referrers", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_replication_items_execution_state", "execution_id", "state"),
)
