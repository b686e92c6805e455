-- The pgfraud roles: NOLOGIN groups, one per part of the pipeline. Grant them to login
-- users (`create role alice login password '…' in role pgfraud_analyst`).
--
-- Roles are cluster-wide, so they are created only when missing (another database of the
-- cluster may have created them); privileges are per database and are granted in the
-- file of the object they concern. Each role may do what the README's role table says,
-- and nothing else (tests/integration/test_privileges.py tries every table, column and
-- function against every role, from the catalog).

do $$
declare
    role_name text;
begin
    foreach role_name in array array[
        'pgfraud_producer', 'pgfraud_scorer', 'pgfraud_analyst', 'pgfraud_reader',
        'pgfraud_trainer', 'pgfraud_api'
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
comment on role pgfraud_api is
    'pgfraud: the HTTP API; stores, scores and decides one authorization in one transaction.';
comment on role pgfraud_trainer is
    'pgfraud: reads features and label history; registers models and changes their status.';
