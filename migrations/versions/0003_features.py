"""Features: stored feature set 1 computed at ingest, label history with arrival time.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

from pgfraud.kernel.migrate import apply_sql_files

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_files(
        op,
        "migrations/0003_features/transaction_features.sql",
        "migrations/0003_features/ingest_trigger.sql",
        "migrations/0003_features/label_events.sql",
        "migrations/0003_features/card_velocity.sql",
        "migrations/0003_features/roles.sql",
    )


def downgrade() -> None:
    apply_sql_files(op, "migrations/0003_features/downgrade.sql")
