-- Privileges for migration 0003's objects.
grant select on features.transaction_features, features.feature_sets to pgfraud_scorer;
grant select on scoring.label_events to pgfraud_scorer, pgfraud_analyst;
-- Nobody but the owner writes label_events (the trigger runs as the owner); the table is
-- append-only by grants: no role gets UPDATE or DELETE on it.
revoke all on function features.lock_ingest() from public;
