"""tiering: the per-project rules and the blobs on the cold tier.

Revision ID: tiering_0001
Revises: (the first revision of the "tiering" branch)
Depends on: 0007 (the pull statistics the rules read)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "tiering_0001"
down_revision = None
branch_labels = ("tiering",)
depends_on = "0007"


def upgrade() -> None:
    op.create_table(
        "tier_rules",
        sa.Column(
            "project_id",
            sa.Integer,
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("cold_after_days", sa.Integer, nullable=False),
        sa.Column("updated_by", sa.String(255), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "blob_tiers",
        sa.Column(
            "digest",
            sa.String(150),
            sa.ForeignKey("blobs.digest", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("moved_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("blob_tiers")
    op.drop_table("tier_rules")
