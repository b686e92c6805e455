"""Backtest: retraining decisions carry the event time they were made at.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

from pgfraud.kernel.migrate import apply_sql_files

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_files(op, "migrations/0009_backtest/decision_event_time.sql")


def downgrade() -> None:
    apply_sql_files(op, "migrations/0009_backtest/downgrade.sql")
