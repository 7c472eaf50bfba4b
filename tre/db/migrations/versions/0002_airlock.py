"""airlock: egress requests, files and reviews

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "egress_requests",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("project", sa.String(length=63), nullable=False),
        sa.Column("permit", sa.String(length=40), nullable=False),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("justification", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("released_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["author"], ["users.name"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("egress_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_egress_requests_author"), ["author"], unique=False)
        batch_op.create_index(batch_op.f("ix_egress_requests_project"), ["project"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_egress_requests_status"), ["status"], unique=False)

    op.create_table(
        "egress_files",
        sa.Column("request", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=1024), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["request"], ["egress_requests.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("request", "name"),
    )
    op.create_table(
        "egress_reviews",
        sa.Column("request", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=1024), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("reviewer", sa.String(length=64), nullable=False),
        sa.Column("verdict", sa.String(length=8), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("time", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["request"], ["egress_requests.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["reviewer"], ["users.name"]),
        sa.PrimaryKeyConstraint("request", "name", "sha256", "reviewer"),
    )


def downgrade() -> None:
    op.drop_table("egress_reviews")
    op.drop_table("egress_files")
    with op.batch_alter_table("egress_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_egress_requests_status"))
        batch_op.drop_index(batch_op.f("ix_egress_requests_project"))
        batch_op.drop_index(batch_op.f("ix_egress_requests_author"))
    op.drop_table("egress_requests")
