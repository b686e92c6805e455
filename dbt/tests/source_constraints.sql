-- The constraints of the large source tables that staging's data tests would otherwise
-- restate by reading every row on every build (unique / not_null keys, relationships,
-- ranges of stg_predictions, stg_label_events, stg_transactions and stg_api_decisions,
-- whose accepted decisions and fallback reasons fct_api_minutes counts): PostgreSQL holds
-- every row to a validated constraint, so one look at the catalog is the same check.
-- A row here is a constraint that is missing, different or not validated.
--
-- prediction_id is also unique in scoring.predictions (scores left-joined to labels on
-- its key); the unique test of int_scored_transactions checks that end to end.

-- depends_on: {{ source('ingest', 'transactions') }}
-- depends_on: {{ source('scoring', 'predictions') }}
-- depends_on: {{ source('scoring', 'label_events') }}
-- depends_on: {{ source('api', 'decisions') }}

with

expected (relation, kind, definition) as (

    values
        ('ingest.transactions', 'p', 'PRIMARY KEY (transaction_id)'),
        ('scoring.scores', 'p', 'PRIMARY KEY (prediction_id)'),
        ('scoring.scores', 'f',
         'FOREIGN KEY (transaction_id) REFERENCES ingest.transactions(transaction_id)'),
        ('scoring.scores', 'f',
         'FOREIGN KEY (model_version) REFERENCES ml.models(model_version)'),
        ('scoring.scores', 'c',
         'CHECK (((score >= (0)::double precision) AND (score <= (1)::double precision)))'),
        ('scoring.scores', 'c', 'CHECK ((latency_ms >= (0)::double precision))'),
        ('scoring.labels', 'p', 'PRIMARY KEY (transaction_id)'),
        ('scoring.label_events', 'p', 'PRIMARY KEY (label_event_id)'),
        ('scoring.label_events', 'f',
         'FOREIGN KEY (transaction_id) REFERENCES ingest.transactions(transaction_id)'),
        ('api.decisions', 'p', 'PRIMARY KEY (transaction_id)'),
        ('api.decisions', 'c',
         'CHECK ((decision = ANY (ARRAY[''approve''::text, ''review''::text, '
         '''decline''::text])))'),
        ('api.decisions', 'c',
         'CHECK (((is_fallback = (fallback_reason IS NOT NULL)) AND ((fallback_reason IS '
         'NULL) OR (fallback_reason = ANY (ARRAY[''deadline''::text, ''no_champion''::text, '
         '''error''::text])))))'),
        ('api.decisions', 'c', 'CHECK ((latency_ms >= (0)::double precision))')

),

expected_not_null (relation, column_name) as (

    values
        ('ingest.transactions', 'transacted_at'),
        ('scoring.scores', 'transaction_id'),
        ('scoring.scores', 'model_version'),
        ('scoring.scores', 'score'),
        ('scoring.label_events', 'transaction_id'),
        ('scoring.label_events', 'labeled_at'),
        ('api.decisions', 'decision'),
        ('api.decisions', 'is_fallback'),
        ('api.decisions', 'latency_ms'),
        ('api.decisions', 'decided_at')

),

constraints as (

    select conrelid::regclass::text as relation, contype::text as kind,
           pg_get_constraintdef(oid) as definition
    from pg_catalog.pg_constraint
    where convalidated

),

not_null_columns as (

    select attrelid::regclass::text as relation, attname::text as column_name
    from pg_catalog.pg_attribute
    where attnotnull and not attisdropped and attnum > 0

),

missing as (

    select relation, kind || ' ' || definition as expected
    from expected
    where not exists (
        select from constraints
        where constraints.relation = expected.relation
          and constraints.kind = expected.kind
          and constraints.definition = expected.definition)

    union all

    select relation, column_name || ' not null'
    from expected_not_null
    where not exists (
        select from not_null_columns
        where not_null_columns.relation = expected_not_null.relation
          and not_null_columns.column_name = expected_not_null.column_name)

)

select * from missing
