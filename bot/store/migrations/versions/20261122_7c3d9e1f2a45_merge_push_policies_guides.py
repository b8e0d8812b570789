"""merge: the push log, policies and guide versions, built side by side on the staff-desk schema

Revision ID: 7c3d9e1f2a45
Revises: 4b7e2f9a1c03, 5e1a7c9b3d20, 6f2b8d0c4e31
Create Date: 2026-11-22

No schema change: it joins the three branches so later migrations have one parent again.
"""

from collections.abc import Sequence

# revision identifiers, used by Alembic.
revision: str = "7c3d9e1f2a45"
down_revision: str | Sequence[str] | None = ("4b7e2f9a1c03", "5e1a7c9b3d20", "6f2b8d0c4e31")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
