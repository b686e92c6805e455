"""Models: model input view, training runs, registry status history and functions.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

from pgfraud.kernel.migrate import apply_sql_files

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_files(
        op,
        "migrations/0004_models/model_input.sql",
        "migrations/0004_models/registry.sql",
        "migrations/0004_models/roles.sql",
    )


def downgrade() -> None:
    apply_sql_files(op, "migrations/0004_models/downgrade.sql")
