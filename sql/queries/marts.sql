-- Queries of the dbt runner's skip (pgfraud/monitoring/mart_inputs.py): the fingerprint
-- of everything the marts read, and the row that remembers the last successful build
-- (analytics.mart_builds).

-- name: source_fingerprint
-- One statement, so one snapshot. A table the marts read changes only by INSERT (grants
-- and triggers allow nothing else; the comments on the tables say so): its row count and
-- largest id change with every insert, also with rows committed out of id order (the
-- count) and with deletes by the owner. The small tables that change in place are read
-- row by row: each row's xmin changes with every update. ingest.event_clock is one
-- value; the schema revision covers the columns of features.model_input_v1.
select
    jsonb_build_object(
        'ingest.transactions',
            (select jsonb_build_array(count(*), max(transaction_id))
             from ingest.transactions),
        'ingest.quarantine',
            (select jsonb_build_array(count(*), max(quarantine_id)) from ingest.quarantine),
        'features.transaction_features',
            (select jsonb_build_array(count(*), max(transaction_id))
             from features.transaction_features),
        'scoring.scores',
            (select jsonb_build_array(count(*), max(prediction_id)) from scoring.scores),
        'scoring.label_events',
            (select jsonb_build_array(count(*), max(label_event_id))
             from scoring.label_events),
        -- Keyed by the transaction it decides, written in the same transaction: its
        -- transaction_id is a new one, so it too only grows.
        'api.decisions',
            (select jsonb_build_array(count(*), max(transaction_id)) from api.decisions),
        'ingest.event_clock',
            (select jsonb_agg(jsonb_build_array(max_transacted_at, xmin::text))
             from ingest.event_clock),
        'features.categories',
            (select jsonb_agg(jsonb_build_array(category, xmin::text) order by category)
             from features.categories),
        'ml.models',
            (select jsonb_agg(jsonb_build_array(model_version, xmin::text)
                              order by model_version)
             from ml.models),
        'ml.retrain_decisions',
            (select jsonb_agg(jsonb_build_array(retrain_decision_id, xmin::text)
                              order by retrain_decision_id)
             from ml.retrain_decisions),
        'schema_revision', (select jsonb_agg(version_num) from public.alembic_version)
    ) as sources,
    now() as read_at;

-- name: mart_relations
-- The relations dbt left (name, kind, oid): a mart dropped or rebuilt outside
-- `pgfraud dbt build` changes them. Read after a build, compared before the next.
select coalesce(jsonb_agg(jsonb_build_array(n.nspname || '.' || c.relname, c.relkind,
                                            c.oid::bigint)
                          order by n.nspname, c.relname), '[]')
from pg_catalog.pg_class as c
join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
where n.nspname in ('analytics', 'analytics_staging')
  and c.relkind in ('r', 'v', 'm', 'p')
  and not (n.nspname = 'analytics' and c.relname = 'mart_builds');

-- name: keeps_builds
-- Whether the database keeps the fingerprint (schema revision 0014 or later).
select to_regclass('analytics.mart_builds') is not null;

-- name: last_build
-- The fingerprint of the last successful build, if any.
select inputs, inputs_read_at, relations, built_at from analytics.mart_builds;

-- name: forget_build
-- Before dbt runs: a build that fails or is interrupted leaves no fingerprint behind.
delete from analytics.mart_builds;

-- name: record_build
-- After dbt succeeded: the inputs read before it ran, the relations it left.
insert into analytics.mart_builds (inputs, inputs_read_at, relations, built_at)
values (%(inputs)s, %(inputs_read_at)s, %(relations)s, now())
on conflict (is_singleton) do update
set inputs = excluded.inputs, inputs_read_at = excluded.inputs_read_at,
    relations = excluded.relations, built_at = excluded.built_at;
