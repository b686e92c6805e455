-- Privileges for migration 0006's objects.
grant select on scoring.review_queue to pgfraud_analyst;
-- Analysts label by trans_num too (a chargeback file names it): they may map it to the
-- transaction id, and see nothing else of the transaction.
grant usage on schema ingest to pgfraud_analyst;
grant select (transaction_id, trans_num) on ingest.transactions to pgfraud_analyst;
grant select, insert on ml.retrain_decisions to pgfraud_trainer;
grant execute on function ml.feature_drift(integer, timestamptz, timestamptz) to pgfraud_trainer;
