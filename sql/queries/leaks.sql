-- Queries of the leak scanner (pgfraud/monitoring/leaks.py). Role: the owner.

-- name: text_columns
-- The text-like columns (of the types given, arrays and domains of them included) of
-- every table and materialized view in the schemas given.
select n.nspname, c.relname, a.attname
from pg_catalog.pg_attribute as a
join pg_catalog.pg_class as c on c.oid = a.attrelid
join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
join pg_catalog.pg_type as t on t.oid = a.atttypid
join pg_catalog.pg_type as base on base.oid = coalesce(nullif(t.typbasetype, 0), t.oid)
where n.nspname = any(%(schemas)s)
  and c.relkind in ('r', 'm')   -- tables (partitions included) and materialized views
  and a.attnum > 0
  and not a.attisdropped
  and case when base.typcategory = 'A' then base.typelem else base.oid end
      = any(%(types)s::regtype[])
order by n.nspname, c.relname, a.attnum
