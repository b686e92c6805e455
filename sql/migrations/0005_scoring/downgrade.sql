-- Undo migration 0005 (predictions stay; the queue and the alerts go).
drop trigger transactions_enqueue_for_scoring on ingest.transactions;
drop function scoring.enqueue_new_transactions();
drop function scoring.alert_json(scoring.alerts);
drop table scoring.pending, scoring.alerts;
