"""The feature follower (issue 19): features computed beside storing, by a second backend.

features.compute_mode says where a stored row's features are computed: 'ingest' (the
insert's trigger, in the storing transaction, as before) or 'follower'
(features.compute_pending, called in a loop by `pgfraud features follow`, queues a row for
scoring when its features commit). features.set_computed_by switches, under the ingest
lock; the switch back to 'ingest', and the downgrade, first compute every row still
waiting. Same values either way.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

from pgfraud.kernel.migrate import apply_sql_files

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_files(op, "migrations/0025_feature_follower/compute_mode.sql",
                    "migrations/0025_feature_follower/triggers.sql",
                    "migrations/0025_feature_follower/follower.sql")


def downgrade() -> None:
    apply_sql_files(op, "migrations/0025_feature_follower/downgrade.sql")
