"""webhooks: policies per project and the delivery log.

Revision ID: webhooks_0001
Revises: (the first revision of the "webhooks" branch)
Depends on: 0005 (the core's jobs and events)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "webhooks_0001"
down_revision = None
branch_labels = ("webhooks",)
depends_on = "0005"


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "webhook_policies",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "project_id",
            sa.Integer,
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.String(1024), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("event_kinds", sa.Text, nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("url_redacted", sa.Text, nullable=False),
        sa.Column("url_sealed", sa.Text, nullable=False),
        sa.Column("auth_header_sealed", sa.Text),
        sa.Column("secret_sealed", sa.Text, nullable=False),
        sa.Column("skip_tls_verify", sa.Boolean, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.UniqueConstraint("project_id", "name", name="uq_webhook_policies_project_name"),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "policy_id",
            sa.Integer,
            sa.ForeignKey("webhook_policies.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("event_id", sa.BigInteger),
        sa.Column("event_seq", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("repository", sa.String(255)),
        sa.Column("lane", sa.String(255), nullable=False),
        sa.Column("event", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("sent_with", sa.Integer),
        sa.Column("test", sa.Boolean, nullable=False),
        _ts("next_attempt_at"),
        _ts("lease_until", nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        _ts("finished_at", nullable=True),
        sa.UniqueConstraint("policy_id", "event_id", name="uq_webhook_deliveries_policy_event"),
    )
    op.create_index(
        "ix_webhook_deliveries_lane",
        "webhook_deliveries",
        ["policy_id", "lane", "state", "event_seq"],
    )
    op.create_index("ix_webhook_deliveries_policy_id", "webhook_deliveries", ["policy_id", "id"])


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_policies")
