-- Undo migration 0002.
drop function ingest.accept_batch(uuid);
drop table ingest.staged_transactions, ingest.staged_quarantine;
drop schema truth cascade;
