"""The airlock's tables: egress requests, their files (with check findings) and file reviews."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tre.db.schema import Base


class EgressRequestRow(Base):
    """An egress request (see tre.domain.egress)."""

    __tablename__ = "egress_requests"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    project: Mapped[str] = mapped_column(String(63), index=True)
    permit: Mapped[str] = mapped_column(String(40))
    author: Mapped[str] = mapped_column(String(64), ForeignKey("users.name"), index=True)
    justification: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(24), index=True)
    status_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    released_at: Mapped[datetime | None]


class EgressFileRow(Base):
    """One file of a request: its current content (hash) in the store and its findings."""

    __tablename__ = "egress_files"
    request: Mapped[str] = mapped_column(
        String(40), ForeignKey("egress_requests.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(1024), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))
    findings: Mapped[list[Any]]
    updated_at: Mapped[datetime]


class EgressReviewRow(Base):
    """One output checker's verdict on one version (sha256) of one file."""

    __tablename__ = "egress_reviews"
    request: Mapped[str] = mapped_column(
        String(40), ForeignKey("egress_requests.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(1024), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    reviewer: Mapped[str] = mapped_column(String(64), ForeignKey("users.name"),
                                          primary_key=True)
    verdict: Mapped[str] = mapped_column(String(8))
    comment: Mapped[str] = mapped_column(Text)
    time: Mapped[datetime]
