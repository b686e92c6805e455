-- Queries of the database commands and the embedded cluster (pgfraud/cli/db.py,
-- pgfraud/kernel/embedded.py). Statements that name a database or a role are composed with
-- psycopg.sql.Identifier where they run: they take no bind parameters.

-- name: database_exists
-- Whether the embedded cluster already has its database (role: the cluster's superuser).
select 1 from pg_database where datname = %(name)s;

-- name: role_exists
-- Whether a login role exists already (`pgfraud db login` creates or updates it).
select from pg_roles where rolname = %(name)s;

-- name: server_version
-- The version of the server DATABASE_URL names (`pgfraud db start` and `status` print it).
select current_setting('server_version');
