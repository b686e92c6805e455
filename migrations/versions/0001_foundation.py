"""Foundation: the five schemas, core tables, label stamping, least-privilege roles.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

from pgfraud.kernel.migrate import apply_sql_files

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_files(
        op,
        "migrations/0001_foundation/schemas.sql",
        "migrations/0001_foundation/ingest.sql",
        "migrations/0001_foundation/ml.sql",
        "migrations/0001_foundation/scoring.sql",
        "migrations/0001_foundation/roles.sql",
    )


def downgrade() -> None:
    apply_sql_files(op, "migrations/0001_foundation/downgrade.sql")
