"""The webhooks capability's tables, as SQLAlchemy Core; its Alembic branch
("webhooks", migrations/) creates them and this mirrors its head.

A policy belongs to a project (deleted with it). A delivery is one (policy, event)
pair, unique, so handing the consumer the same event twice records it once; a test
event has no event id. Deliveries of one policy for one repository (its `lane`) go
out in commit order (`event_seq`), one at a time.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from dockyard.metadata import schema as core

metadata = MetaData()

policies = Table(
    "webhook_policies",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "project_id",
        Integer,
        ForeignKey(core.projects.c.id, ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", String(255), nullable=False),
    Column("description", String(1024), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("event_kinds", Text, nullable=False),  # a JSON list of event kinds
    Column("format", String(16), nullable=False),  # harbor | cloudevents
    Column("url_redacted", Text, nullable=False),  # what is shown
    Column("url_sealed", Text, nullable=False),  # the URL, encrypted (may hold credentials)
    Column("auth_header_sealed", Text),  # the Authorization value, encrypted
    Column("secret_sealed", Text, nullable=False),  # the HMAC key, encrypted
    Column("skip_tls_verify", Boolean, nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("project_id", "name", name="uq_webhook_policies_project_name"),
)

deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "policy_id",
        Integer,
        ForeignKey("webhook_policies.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("event_id", BigInteger),  # NULL for a test event
    Column("event_seq", BigInteger, nullable=False),
    Column("kind", String(64), nullable=False),
    Column("repository", String(255)),
    Column("lane", String(255), nullable=False),  # the repository, or "" for none
    Column("event", Text, nullable=False),  # the event as JSON, to build the payload from
    Column("state", String(16), nullable=False),  # pending | sending | delivered | failed
    Column("attempts", Integer, nullable=False),
    Column("status_code", Integer),
    Column("last_error", Text),
    Column("sent_with", Integer),  # the delivery whose post carried this one (coalesced)
    Column("test", Boolean, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("lease_until", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    UniqueConstraint("policy_id", "event_id", name="uq_webhook_deliveries_policy_event"),
    Index("ix_webhook_deliveries_lane", "policy_id", "lane", "state", "event_seq"),
    Index("ix_webhook_deliveries_policy_id", "policy_id", "id"),
)
