"""registries: the stored remote registry endpoints.

Revision ID: registries_0001
Revises: (the first revision of the "registries" branch)
Depends on: 0001 (nothing of the core's but its first revision)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "registries_0001"
down_revision = None
branch_labels = ("registries",)
depends_on = "0001"


def upgrade() -> None:
    op.create_table(
        "registry_endpoints",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("username", sa.String(255)),
        sa.Column("secret_sealed", sa.Text),
        sa.Column("insecure", sa.Boolean, nullable=False),
        sa.Column("ca_certificate", sa.Text),
        sa.Column("description", sa.String(1024), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("name", name="uq_registry_endpoints_name"),
    )


def downgrade() -> None:
    op.drop_table("registry_endpoints")
