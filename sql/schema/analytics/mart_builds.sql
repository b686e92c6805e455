-- The inputs of the last successful build of the dbt marts, one row (migration 0014).
-- `pgfraud dbt build` and `pgfraud refresh` read the sources' fingerprint (one query,
-- sql/queries/marts.sql) and the dbt project's hash before they run dbt; when both, and
-- the relations dbt left in analytics and analytics_staging, equal this row, the marts
-- are what a build would make and dbt is not run (docs/monitoring.md). The row is
-- deleted before dbt runs and written after it succeeds, so a failed or interrupted
-- build is never taken for a finished one. dbt does not touch this table (not a model);
-- the reader role may read it, as everything in analytics (default privileges).

create table analytics.mart_builds (
    is_singleton    boolean primary key default true check (is_singleton),
    inputs          jsonb not null,         -- sources, project hash, vars, dbt version
    inputs_read_at  timestamptz not null,   -- when the sources were read, before dbt ran
    relations       jsonb not null,         -- analytics relations (name, oid) after dbt
    built_at        timestamptz not null    -- when dbt finished
);

comment on table analytics.mart_builds is
    'Fingerprint of the inputs of the last successful dbt build; equal inputs skip dbt.';
