"""guide versions: published versions and drafts of staff-edited content, the audit log, guide editors

Revision ID: 6f2b8d0c4e31
Revises: 9d4e7a1c5b20
Create Date: 2026-11-22

Written like the staff desk migration (plain types, constraint names through op.f);
tests/admin/test_guide_editor_migration.py checks that autogenerate finds no difference and that
the way back works. The sibling migration of the policies issue has the same parent: the app
upgrades to "heads".
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "6f2b8d0c4e31"
down_revision: str | Sequence[str] | None = "9d4e7a1c5b20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = sa.DateTime(timezone=True)
JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
KINDS = "kind IN ('guide', 'replies', 'policy')"


def upgrade() -> None:
    op.create_table(
        "content_revisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("doc_id", sa.String(length=64), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("department", sa.String(length=100), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("restored_from", sa.Integer(), nullable=True),
        sa.Column("diff", sa.Text(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.CheckConstraint(KINDS, name=op.f("ck_content_revisions_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_content_revisions")),
        sa.UniqueConstraint("kind", "doc_id", "number", name=op.f("uq_content_revisions_kind_doc_id_number")),
    )
    op.create_table(
        "content_drafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("doc_id", sa.String(length=64), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("base_number", sa.Integer(), nullable=False),
        sa.Column("lock_version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.CheckConstraint(KINDS, name=op.f("ck_content_drafts_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_content_drafts")),
        sa.UniqueConstraint("kind", "doc_id", name=op.f("uq_content_drafts_kind_doc_id")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", UTC, nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("department", sa.String(length=100), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("doc_id", sa.String(length=64), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=True),
        sa.Column("detail", JSONType, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_kind_doc_id_at"), "audit_log", ["kind", "doc_id", "at"])
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"])
    # A plain ADD COLUMN (with its default) works on SQLite too, and in offline --sql mode.
    op.add_column("staff_accounts", sa.Column("guide_editor", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("staff_accounts") as batch:
        batch.drop_column("guide_editor")
    op.drop_index(op.f("ix_audit_log_at"), table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_kind_doc_id_at"), table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("content_drafts")
    op.drop_table("content_revisions")
