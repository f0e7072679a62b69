"""The vulnerability database's tables (revision supplychain_0002).

One row per OSV advisory (its id, `modified`, and the parts the matcher needs, as
zlib-compressed JSON), one row per (advisory, ecosystem, package) it affects (what
`status` counts and what a lookup by package would use), and one state row whose
generation changes on every import that changed something.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, Integer, LargeBinary, MetaData, String, Table

metadata = MetaData()

advisories = Table(
    "vulndb_advisories",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("modified", String(32), nullable=False),  # UTC, "YYYY-MM-DDTHH:MM:SS.ffffffZ"
    Column("record", LargeBinary, nullable=False),  # zlib(JSON of the trimmed record)
)

affected = Table(
    "vulndb_affected",
    metadata,
    Column("advisory_id", String(128), primary_key=True),
    Column("ecosystem", String(128), primary_key=True),
    Column("name", String(512), primary_key=True),
    Index("ix_vulndb_affected_ecosystem_name", "ecosystem", "name"),
)

state = Table(
    "vulndb_state",
    metadata,
    Column("id", Integer, primary_key=True),  # always 1
    Column("generation", Integer, nullable=False),
    Column("imported_at", DateTime(timezone=True)),  # the last import that finished
    Column("changed_at", DateTime(timezone=True)),  # the last import that changed something
)
