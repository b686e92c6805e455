"""Governance: decisions name the rule that decided them with its evidence, and are
announced on pgfraud_decisions; guardrail functions for a serving model's live scores;
the live evidence a challenger is judged on, readable by the trainer only through
functions.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

from pgfraud.kernel.migrate import apply_sql_files

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_files(
        op,
        "migrations/0008_governance/decisions.sql",
        "migrations/0008_governance/serving_health.sql",
        "migrations/0008_governance/evidence.sql",
        "migrations/0008_governance/roles.sql",
    )


def downgrade() -> None:
    apply_sql_files(op, "migrations/0008_governance/downgrade.sql")
