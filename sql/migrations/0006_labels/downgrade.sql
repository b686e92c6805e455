-- Undo migration 0006.
revoke select (transaction_id, trans_num) on ingest.transactions from pgfraud_analyst;
revoke usage on schema ingest from pgfraud_analyst;
drop index scoring.predictions_unlabelled_idx;
drop view scoring.review_queue;
drop function ml.feature_drift(integer, timestamptz, timestamptz);
drop table ml.retrain_decisions;
