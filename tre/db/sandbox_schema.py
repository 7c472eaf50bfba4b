"""The SME sandboxes table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tre.db.schema import Base


class SandboxRow(Base):
    """An SME sandbox (see tre.domain.sandboxes); its name is a project id."""

    __tablename__ = "sandboxes"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    owner: Mapped[str] = mapped_column(String(64), ForeignKey("users.name"), index=True)
    members: Mapped[list[Any]]
    datasets: Mapped[list[Any]]
    compute: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), index=True)
    status_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
