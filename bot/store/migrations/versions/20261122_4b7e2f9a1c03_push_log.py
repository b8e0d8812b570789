"""push log: every proactive WeChat message (complaint answers, policy notices), at most once per key

Revision ID: 4b7e2f9a1c03
Revises: 9d4e7a1c5b20
Create Date: 2026-11-22

Written by hand in the style of the staff-desk migration; the drift test checks it against the
models on SQLite and PostgreSQL.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "4b7e2f9a1c03"
down_revision: str | Sequence[str] | None = "9d4e7a1c5b20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "push_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("errcode", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("lease_until", UTC, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.Column("sent_at", UTC, nullable=True),
        sa.CheckConstraint(
            "status IN ('claimed', 'sending', 'sent', 'retrying', 'refused', 'failed', 'unknown')",
            name=op.f("ck_push_log_status"),
        ),
        sa.CheckConstraint("method IN ('custom', 'template', 'subscribe')", name=op.f("ck_push_log_method")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_log")),
        sa.UniqueConstraint("key", name=op.f("uq_push_log_key")),
    )
    op.create_index(op.f("ix_push_log_subject"), "push_log", ["subject"], unique=False)
    op.create_index(op.f("ix_push_log_status_updated_at"), "push_log", ["status", "updated_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_push_log_status_updated_at"), table_name="push_log")
    op.drop_index(op.f("ix_push_log_subject"), table_name="push_log")
    op.drop_table("push_log")
