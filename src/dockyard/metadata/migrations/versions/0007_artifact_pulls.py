"""Pull statistics per artifact: how often a manifest was pulled from a repository,
and when last (flushed in batches by registry/pulls.py, never a write per pull).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "artifact_pulls",
        sa.Column("repository_id", sa.Integer, primary_key=True),
        sa.Column("digest", sa.String(150), primary_key=True),
        sa.Column("pull_count", sa.BigInteger, nullable=False),
        sa.Column("last_pulled_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository_id", "digest"],
            ["manifests.repository_id", "manifests.digest"],
            ondelete="CASCADE",
            name="fk_artifact_pulls_manifest",
        ),
    )


def downgrade() -> None:
    op.drop_table("artifact_pulls")
