"""The table of collected drawings.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create `drawings`."""
    op.create_table(
        "drawings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key_id", sa.String(20), nullable=False, unique=True),
        sa.Column("word", sa.String(64), nullable=False, index=True),
        sa.Column("drawing", sa.JSON, nullable=False),
        sa.Column("recognized", sa.Boolean, nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("top", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
    )


def downgrade() -> None:
    """Drop `drawings`."""
    op.drop_table("drawings")
