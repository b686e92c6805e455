-- No statement reads ingest.transactions by merchant: merchant label counts have read
-- scoring.label_events since revision 0003 (each label event carries its transaction's
-- merchant and event time; that table's covering index serves both feature functions),
-- and the marts scan whole tables. It cost every insert one more index entry and WAL record, and
-- ~100 bytes a row (1 GB at 10M rows). Issue 19, measured at 10M existing rows: ingest
-- with features off 22,136 -> 25,974 rows/s, with features 12,044 -> 12,769 (medians
-- of three 20,000-row rounds).

drop index ingest.transactions_merchant_transacted_at_idx;
