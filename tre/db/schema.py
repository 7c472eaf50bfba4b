"""The tables of tre (the Alembic migrations in migrations/ must match these)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tre.db.types import UTCDateTime


class Base(DeclarativeBase):
    """Declarative base of every table."""

    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class UserRow(Base):
    """A person known to this node."""

    __tablename__ = "users"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime]


class UserRoleRow(Base):
    """One node role held by one user."""

    __tablename__ = "user_roles"
    user: Mapped[str] = mapped_column(
        String(64), ForeignKey("users.name", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(32), primary_key=True)


class DatasetRow(Base):
    """A dataset in the node's catalogue."""

    __tablename__ = "datasets"
    id: Mapped[str] = mapped_column(String(63), primary_key=True)
    title: Mapped[str] = mapped_column(String(300), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    data_holder: Mapped[str] = mapped_column(String(200), default="")
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]


class DatasetVersionRow(Base):
    """One immutable, published version of a dataset."""

    __tablename__ = "dataset_versions"
    dataset: Mapped[str] = mapped_column(
        String(63), ForeignKey("datasets.id"), primary_key=True
    )
    version: Mapped[str] = mapped_column(String(80), primary_key=True)
    path: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class ApplicationRow(Base):
    """A data-access application (see tre.domain.applications)."""

    __tablename__ = "applications"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    project: Mapped[str] = mapped_column(String(63), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    amends_permit: Mapped[str | None] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(300))
    purpose: Mapped[str] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(Text)
    applicant: Mapped[str] = mapped_column(String(64), ForeignKey("users.name"), index=True)
    organisation: Mapped[str] = mapped_column(String(200))
    members: Mapped[list[Any]]
    datasets: Mapped[list[Any]]
    compute: Mapped[dict[str, Any]]
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    conditions: Mapped[list[Any]]


class PermitRow(Base):
    """A data permit (see tre.domain.permits); one per project."""

    __tablename__ = "permits"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    project: Mapped[str] = mapped_column(String(63), unique=True)
    application: Mapped[str] = mapped_column(String(40), ForeignKey("applications.id"))
    issued_by: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime]
    decision_reason: Mapped[str] = mapped_column(Text)
    conditions: Mapped[list[Any]]
    valid_from: Mapped[datetime]
    valid_until: Mapped[datetime] = mapped_column(index=True)
    datasets: Mapped[list[Any]]
    members: Mapped[list[Any]]
    compute: Mapped[dict[str, Any]]
    egress: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    status_reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]


AUDIT_OBJECT_ID_LENGTH = 80
"""The longest object id the audit trail stores: callers that audit client-given names cut
them to this."""


class AuditEventRow(Base):
    """One audit event; ``hash`` chains it to its predecessor (see tre.audit.chain)."""

    __tablename__ = "audit_events"
    # On SQLite ``seq`` is the table's rowid (one index fewer to write per commit).
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                     primary_key=True, autoincrement=False)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    time: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(AUDIT_OBJECT_ID_LENGTH), index=True)
    outcome: Mapped[str] = mapped_column(String(16))
    decision: Mapped[str] = mapped_column(Text)
    request_id: Mapped[str] = mapped_column(String(64))
    details: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHeadRow(Base):
    """The single row naming the newest audit event; writers lock it to serialise the chain."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
from tre.db import egress_schema as _egress_schema  # noqa: E402,F401
from tre.db import sandbox_schema as _sandbox_schema  # noqa: E402,F401
