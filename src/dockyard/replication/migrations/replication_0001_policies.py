"""replication: the policies, their executions and the executions' items.

Revision ID: replication_0001
Revises: (the first revision of the "replication" branch)
Depends on: 0005 (the core's jobs and events, which run and trigger replication)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "replication_0001"
down_revision = None
branch_labels = ("replication",)
depends_on = "0005"


def upgrade() -> None:
    op.create_table(
        "replication_policies",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        # the endpoint is referenced by name (branch "registries"): no foreign key
        # across branches
        sa.Column("endpoint", sa.String(64), nullable=False),
        sa.Column("filters", sa.Text, nullable=False),
        sa.Column("rewrite", sa.Text, nullable=False),
        sa.Column("trigger", sa.String(8), nullable=False),
        sa.Column("cron", sa.String(128), nullable=True),
        sa.Column("delete_propagation", sa.Boolean, nullable=False),
        sa.Column("override", sa.Boolean, nullable=False),
        sa.Column("bandwidth_bytes", sa.BigInteger, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "replication_executions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "policy_id",
            sa.Integer,
            sa.ForeignKey("replication_policies.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("dry_run", sa.Boolean, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("dedup", sa.String(64), nullable=True),
        sa.Column("retries", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stop_requested", sa.Boolean, nullable=False),
        sa.Column("lease_holder", sa.String(64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("policy_id", "dedup", name="uq_replication_executions_dedup"),
    )
    op.create_index(
        "ix_replication_executions_policy_state",
        "replication_executions",
        ["policy_id", "state"],
    )
    op.create_table(
        "replication_items",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "execution_id",
            sa.Integer,
            sa.ForeignKey("replication_executions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("action", sa.String(8), nullable=False),
        sa.Column("source_repository", sa.String(255), nullable=False),
        sa.Column("reference", sa.String(255), nullable=False),
        sa.Column("destination_repository", sa.String(255), nullable=False),
        sa.Column("digest", sa.String(100), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.Column("blobs_copied", sa.Integer, nullable=False),
        sa.Column("blobs_skipped", sa.Integer, nullable=False),
        sa.Column("blobs_mounted", sa.Integer, nullable=False),
        sa.Column("referrers", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_replication_items_execution_state", "replication_items", ["execution_id", "state"]
    )


def downgrade() -> None:
    op.drop_table("replication_items")
    op.drop_table("replication_executions")
    op.drop_table("replication_policies")
