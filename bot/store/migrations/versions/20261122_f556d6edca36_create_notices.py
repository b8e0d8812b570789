"""create notices: every 一次告知 the assistant issues

Revision ID: f556d6edca36
Revises:
Create Date: 2026-11-22

Hand-written, and checked against the models by tests/store (autogenerate finds no difference on
SQLite or PostgreSQL). Migrations never import bot.store.models: they describe the schema as it
was at this revision.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "f556d6edca36"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "notices",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("guide_id", sa.String(length=64), nullable=False),
        sa.Column("guide_title", sa.String(length=200), nullable=False),
        sa.Column("guide_version", sa.String(length=64), nullable=True),
        sa.Column("items", JSONType, nullable=False),
        sa.Column("answers", JSONType, nullable=False),
        sa.Column("checklist", JSONType, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notices")),
    )
    op.create_index(op.f("ix_notices_user_id_created_at"), "notices", ["user_id", "created_at"])
    op.create_index(op.f("ix_notices_guide_id"), "notices", ["guide_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_notices_guide_id"), table_name="notices")
    op.drop_index(op.f("ix_notices_user_id_created_at"), table_name="notices")
    op.drop_table("notices")
