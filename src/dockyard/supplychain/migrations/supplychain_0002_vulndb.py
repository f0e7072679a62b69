"""The offline vulnerability database: OSV advisories, the packages they affect, and
the generation that changes with every import that changed something.

Revision ID: supplychain_0002
Revises: supplychain_0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "supplychain_0002"
down_revision = "supplychain_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vulndb_advisories",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("modified", sa.String(32), nullable=False),
        sa.Column("record", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "vulndb_affected",
        sa.Column("advisory_id", sa.String(128), primary_key=True),
        sa.Column("ecosystem", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(512), primary_key=True),
    )
    op.create_index("ix_vulndb_affected_ecosystem_name", "vulndb_affected", ["ecosystem", "name"])
    state = op.create_table(
        "vulndb_state",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True)),
        sa.Column("changed_at", sa.DateTime(timezone=True)),
    )
    op.bulk_insert(state, [{"id": 1, "generation": 0}])


def downgrade() -> None:
    op.drop_table("vulndb_state")
    op.drop_index("ix_vulndb_affected_ecosystem_name", table_name="vulndb_affected")
    op.drop_table("vulndb_affected")
    op.drop_table("vulndb_advisories")
