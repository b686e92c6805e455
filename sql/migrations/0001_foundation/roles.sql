-- Least-privilege roles. Applied by migration 0001, after the tables exist.
--
-- Roles are NOLOGIN groups: grant them to login users
-- (`create role alice login password '…' in role pgfraud_analyst`). Roles are
-- cluster-wide, so they are created only when missing; privileges are per database.

do $$
declare
    role_name text;
begin
    foreach role_name in array array[
        'pgfraud_producer', 'pgfraud_scorer', 'pgfraud_analyst', 'pgfraud_reader'
    ] loop
        if not exists (select from pg_roles where rolname = role_name) then
            execute format('create role %I nologin', role_name);
        end if;
    end loop;
end
$$;

comment on role pgfraud_producer is 'pgfraud: may only INSERT into ingest.';
comment on role pgfraud_scorer is 'pgfraud: reads ingest, features and ml; writes scoring.';
comment on role pgfraud_analyst is 'pgfraud: reads predictions; updates true_value and label_note only.';
comment on role pgfraud_reader is 'pgfraud: read-only dashboards (analytics and scoring views).';

-- producer: insert accepted and quarantined rows, nothing else.
grant usage on schema ingest to pgfraud_producer;
grant insert on ingest.transactions, ingest.quarantine to pgfraud_producer;

-- scorer: read transactions, features and models; write predictions.
grant usage on schema ingest, features, scoring, ml to pgfraud_scorer;
grant select on ingest.transactions to pgfraud_scorer;
grant select on ml.models to pgfraud_scorer;
grant select, insert on scoring.predictions to pgfraud_scorer;

-- analyst: read predictions, write the label columns only.
grant usage on schema scoring to pgfraud_analyst;
grant select, update (true_value, label_note) on scoring.predictions to pgfraud_analyst;

-- reader (Grafana): everything dbt builds in analytics, now and later; scoring views are
-- granted one by one where they are created.
grant usage on schema analytics, scoring to pgfraud_reader;
grant select on all tables in schema analytics to pgfraud_reader;
alter default privileges in schema analytics grant select on tables to pgfraud_reader;
