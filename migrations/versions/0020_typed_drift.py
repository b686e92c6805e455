"""ml.feature_drift through a typed unpivot of the model input instead of to_jsonb (issue 19).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

from pgfraud.kernel.migrate import apply_sql_files

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_files(op, "migrations/0020_typed_drift/typed_drift.sql")


def downgrade() -> None:
    apply_sql_files(op, "migrations/0020_typed_drift/downgrade.sql")
