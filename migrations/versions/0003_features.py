"""Features: stored feature set 1 computed at ingest, label history with arrival time.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

from scorer.migrate import apply_sql_files

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_files(
        op,
        "features/transaction_features.sql",
        "features/ingest_trigger.sql",
        "features/label_events.sql",
        "features/card_velocity.sql",
        "features/roles.sql",
    )


def downgrade() -> None:
    apply_sql_files(op, "features/downgrade_0003.sql")
