-- The five schemas; one stage of the pipeline each. Applied by migration 0001.
create schema ingest;
comment on schema ingest is
    'Accepted card transactions (PAN tokenized) and quarantined input. Written by pgfraud_producer.';

create schema features;
comment on schema features is
    'Point-in-time features, one immutable row per transaction.';

create schema scoring;
comment on schema scoring is
    'Predictions with their pending true_value label, alerts, scorer progress. Written by pgfraud_scorer; analysts write labels only.';

create schema ml;
comment on schema ml is
    'Model registry: ONNX bytes, metadata, metrics, reference distributions.';

create schema analytics;
comment on schema analytics is
    'dbt models: accuracy, drift, latency, label backlog. Read by pgfraud_reader (Grafana).';
