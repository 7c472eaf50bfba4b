"""audit_events: seq is SQLite's rowid, no index on action

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-10 09:00:00.000000

Every transaction that changes anything appends audit events; on SQLite each index they touch
is one more 4 KiB page written to the write-ahead log at commit. ``seq BIGINT PRIMARY KEY`` was
a separate index beside the table's own rowid; as ``INTEGER PRIMARY KEY`` it *is* the rowid
(PostgreSQL keeps BIGINT). The index on ``action`` served no query (an auditor filters an export
by action, or scans: actions are few) and cost a page per distinct action per commit. New event
ids are time-ordered (UUID version 7, tre.audit.log), so their unique index grows at its end.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _sqlite_seq(old: sa.types.TypeEngine[int], new: sa.types.TypeEngine[int]) -> None:
    """Rebuild the table with ``seq`` as ``new`` (SQLite cannot change a primary key)."""
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table("audit_events", schema=None, recreate="always") as batch_op:
        batch_op.alter_column("seq", existing_type=old, type_=new, existing_nullable=False,
                              autoincrement=False)


def upgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_action"))
    _sqlite_seq(sa.BigInteger(), sa.Integer())


def downgrade() -> None:
    _sqlite_seq(sa.Integer(), sa.BigInteger())
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_events_action"), ["action"], unique=False)
