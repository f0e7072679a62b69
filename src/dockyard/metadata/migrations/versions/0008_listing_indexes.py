"""Indexes for the management API's listings: a repository's tags by when they moved
(`?sort=updated`, newest first by default) and the tags of one manifest (an
artifact's tags, and the cascade when a manifest goes), a repository's manifests by
when they were pushed (the artifact listing, a repository's last push).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-09
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_tags_updated", "tags", ["repository_id", "updated_at", "name"])
    op.create_index("ix_tags_manifest", "tags", ["repository_id", "manifest_digest"])
    op.create_index("ix_manifests_created", "manifests", ["repository_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_manifests_created", "manifests")
    op.drop_index("ix_tags_manifest", "tags")
    op.drop_index("ix_tags_updated", "tags")
