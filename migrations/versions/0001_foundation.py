"""Foundation: the five schemas, core tables, label stamping, least-privilege roles.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

from scorer.migrate import apply_sql_files

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_files(
        op,
        "foundation/schemas.sql",
        "foundation/ingest.sql",
        "foundation/ml.sql",
        "foundation/scoring.sql",
        "foundation/roles.sql",
    )


def downgrade() -> None:
    apply_sql_files(op, "foundation/downgrade.sql")
