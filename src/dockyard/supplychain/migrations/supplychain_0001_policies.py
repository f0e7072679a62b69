"""Supply-chain policies (per project and the system default), SBOMs and scan reports
(the "supplychain" capability's branch).

Revision ID: supplychain_0001
Revises:
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "supplychain_0001"
down_revision = None
branch_labels = ("supplychain",)
depends_on = "0007"


def upgrade() -> None:
    op.create_table(
        "supplychain_policies",
        sa.Column(
            "project_id",
            sa.Integer,
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("policy", sa.Text, nullable=False),
        sa.Column("updated_by", sa.String(255), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "supplychain_defaults",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("policy", sa.Text, nullable=False),
        sa.Column("updated_by", sa.String(255), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "sboms",
        sa.Column("digest", sa.String(150), primary_key=True),
        sa.Column("repository", sa.String(255), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("document_digest", sa.String(150)),
        sa.Column("format", sa.String(32), nullable=False),
        sa.Column("package_count", sa.Integer, nullable=False),
        sa.Column("contents", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "scan_reports",
        sa.Column("digest", sa.String(150), primary_key=True),
        sa.Column("scanner", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("db_generation", sa.Integer),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("findings", sa.LargeBinary, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("scanned_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("scan_reports")
    op.drop_table("sboms")
    op.drop_table("supplychain_defaults")
    op.drop_table("supplychain_policies")
