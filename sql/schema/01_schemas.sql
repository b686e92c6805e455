-- The schemas, one stage of the pipeline each, and which roles may look inside them.
-- What a role may do with each object is granted in that object's file.

create schema ingest;
comment on schema ingest is
    'Accepted card transactions (PAN tokenized) and quarantined input. Written by pgfraud_producer.';
-- producer: stages batches and calls ingest.accept_batch; scorer: reads transactions;
-- trainer: reads the event clock; analyst: maps a trans_num to its transaction id.
grant usage on schema ingest to pgfraud_producer, pgfraud_scorer, pgfraud_trainer,
    pgfraud_analyst, pgfraud_api;

create schema features;
comment on schema features is
    'Point-in-time features, one immutable row per transaction.';
grant usage on schema features to pgfraud_scorer, pgfraud_trainer, pgfraud_api;

create schema scoring;
comment on schema scoring is
    'Predictions with their pending true_value label, alerts, scorer progress. Written by pgfraud_scorer; analysts write labels only.';
-- reader: scoring views are granted one by one where they are defined.
grant usage on schema scoring to pgfraud_scorer, pgfraud_analyst, pgfraud_reader,
    pgfraud_trainer, pgfraud_api;

create schema ml;
comment on schema ml is
    'Model registry: ONNX bytes, metadata, metrics, reference distributions.';
grant usage on schema ml to pgfraud_scorer, pgfraud_trainer, pgfraud_api;

create schema api;
comment on schema api is
    'The HTTP API''s clients (hashed bearer tokens) and its decisions.';
grant usage on schema api to pgfraud_api;

create schema analytics;
comment on schema analytics is
    'dbt models: accuracy, drift, latency, label backlog. Read by pgfraud_reader (Grafana).';
-- reader (Grafana): everything dbt builds in analytics (dbt, not this folder, owns its
-- tables and views).
grant usage on schema analytics to pgfraud_reader;
alter default privileges in schema analytics grant select on tables to pgfraud_reader;

-- Ground truth known to the data source: the simulator's injected fraud, or a historical
-- file's is_fraud column. Nothing on the scoring path may read this schema: not the
-- scorer, not feature SQL, not the trainer. It exists to simulate analysts (who reveal
-- labels after a delay into scoring.predictions.true_value) and to evaluate.
create schema truth;
comment on schema truth is
    'Source ground truth (simulated or historical). Never read by scorer, features or trainer.';
-- producer: records simulated incidents. No other role gets anything in truth.
grant usage on schema truth to pgfraud_producer;
