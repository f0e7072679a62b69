"""proxy: the proxy caches and the download leases.

Revision ID: proxy_0001
Revises: (the first revision of the "proxy" branch)
Depends on: 0007 (the core's pull statistics, which eviction reads)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "proxy_0001"
down_revision = None
branch_labels = ("proxy",)
depends_on = "0007"


def upgrade() -> None:
    op.create_table(
        "proxy_caches",
        # the project is referenced by name, the endpoint too (branch "registries"):
        # no foreign key across branches
        sa.Column("project", sa.String(255), primary_key=True),
        sa.Column("endpoint", sa.String(255), nullable=False),
        sa.Column("upstream_prefix", sa.String(255), nullable=False),
        sa.Column("mirror_hosts", sa.Text, nullable=False),
        sa.Column("tag_ttl_seconds", sa.Float, nullable=False),
        sa.Column("negative_ttl_seconds", sa.Float, nullable=False),
        sa.Column("size_limit_bytes", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "proxy_leases",
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("proxy_leases")
    op.drop_table("proxy_caches")
