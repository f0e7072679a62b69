"""The capability's own tables (its Alembic branch "supplychain", migrations/).
The vulnerability database's tables are vulndb/tables.py (revision supplychain_0002)."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

# projects.id is the core's (metadata/schema.py): named here for the DDL only
project_policies = Table(
    "supplychain_policies",
    metadata,
    Column("project_id", Integer, primary_key=True),
    Column("policy", Text, nullable=False),  # SupplyChainPolicy as JSON
    Column("updated_by", String(255), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

system_policy = Table(
    "supplychain_defaults",
    metadata,
    Column("id", Integer, primary_key=True),  # always 1: the one system default
    Column("policy", Text, nullable=False),
    Column("updated_by", String(255), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# One SBOM per artifact digest (content-addressed: the same digest in two repositories
# has the same layers). The package list is kept here, compressed, so a database
# update rematches every stored SBOM without reading a layer again.
sboms = Table(
    "sboms",
    metadata,
    Column("digest", String(150), primary_key=True),
    Column("repository", String(255), nullable=False),  # where it was made or pushed
    Column("source", String(16), nullable=False),  # "generated" or "pushed"
    Column("document_digest", String(150)),  # the referrer manifest holding the document
    Column("format", String(32), nullable=False),  # cyclonedx / spdx
    Column("package_count", Integer, nullable=False),
    Column("contents", LargeBinary, nullable=False),  # zlib(JSON of ImageContents)
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# One report per (artifact digest, scanner): the built-in one is "dockyard".
scan_reports = Table(
    "scan_reports",
    metadata,
    Column("digest", String(150), primary_key=True),
    Column("scanner", String(64), primary_key=True),
    Column("status", String(16), nullable=False),  # succeeded / failed
    Column("db_generation", Integer),  # the vulnerability database it was matched against
    Column("summary", Text, nullable=False),  # JSON {severity: count}
    Column("findings", LargeBinary, nullable=False),  # zlib(JSON list of Finding)
    Column("error", Text),
    Column("scanned_at", DateTime(timezone=True), nullable=False),
)
