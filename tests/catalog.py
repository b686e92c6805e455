"""The catalog of a pgfraud database as rows that compare, and the current schema's files.

``fingerprint(url)`` reads everything the migrations create in the project's schemas:
relations (kind, persistence, storage options, owner, grants, row security), columns in
order, column grants, constraints, indexes, view definitions, sequences, functions (full
definition, owner, grants), triggers, comments, row-level security policies, every
non-system schema with its owner and grants, default privileges, and a digest of each
table's rows (the rows a migration seeds; columns that default to ``now()`` left out).
Alembic's own ``public.alembic_version`` is not in a project schema, so it is not read.
Two databases with equal fingerprints have the same schema, down to function bodies.

``schema_files()`` lists sql/schema/ in the order sql/schema/schema.sql gives (its
``\\ir`` lines) and ``apply_schema(url)`` runs them in one transaction, as psql would.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import psycopg
from psycopg import sql

SQL_DIR = Path(__file__).resolve().parents[1] / "sql"
SCHEMA_DIR = SQL_DIR / "schema"
SCHEMA_ORDER = SCHEMA_DIR / "schema.sql"

SCHEMAS = ["analytics", "api", "features", "ingest", "ml", "scoring", "truth"]

Row = tuple[object, ...]
Fingerprint = dict[str, list[Row]]


def _acl(acl: str, owner: str | None) -> str:
    """An ACL as sorted ``grantee:privilege`` items ('*' when grantable), without the
    owner's own privileges (implicit, and what an owner-only ACL means), PUBLIC by name."""
    not_owner = f"where e.grantee <> {owner}" if owner else ""
    return f"""coalesce((
        select string_agg(a.item, ',' order by a.item)
        from (select case e.grantee when 0 then 'PUBLIC' else e.grantee::regrole::text end
                     || ':' || e.privilege_type || case when e.is_grantable then '*' else '' end
              from aclexplode({acl}) as e {not_owner}) as a (item)), '')"""


QUERIES: Mapping[str, str] = {
    "schemas": f"""
        select n.nspname, n.nspowner::regrole::text,
               {_acl("coalesce(n.nspacl, acldefault('n', n.nspowner))", "n.nspowner")}
        from pg_namespace as n
        where n.nspname !~ '^pg_' and n.nspname <> 'information_schema'
        order by 1""",
    "relations": f"""
        select n.nspname, c.relname, c.relkind, c.relpersistence, c.relowner::regrole::text,
               coalesce((select string_agg(o, ',' order by o) from unnest(c.reloptions) as o),
                        ''),
               c.relrowsecurity, c.relforcerowsecurity,
               {_acl("c.relacl", "c.relowner")}
        from pg_class as c join pg_namespace as n on n.oid = c.relnamespace
        where n.nspname = any(%(schemas)s) order by 1, 2""",
    # In their order (ordinal positions are compared as an order, not as numbers: a
    # column dropped by a migration leaves a gap that the current schema does not have).
    "columns": """
        select n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
               a.attnotnull, coalesce(pg_get_expr(d.adbin, d.adrelid), ''), a.attidentity,
               a.attgenerated, coalesce(co.collname, ''), a.attstattarget
        from pg_attribute as a
        join pg_class as c on c.oid = a.attrelid
        join pg_namespace as n on n.oid = c.relnamespace
        left join pg_attrdef as d on d.adrelid = a.attrelid and d.adnum = a.attnum
        left join pg_collation as co
          on co.oid = a.attcollation and co.collname <> 'default'
        where n.nspname = any(%(schemas)s) and c.relkind in ('r', 'p', 'v', 'm', 'f')
          and a.attnum > 0 and not a.attisdropped
        order by n.nspname, c.relname, a.attnum""",
    "column_grants": f"""
        select n.nspname, c.relname, a.attname, {_acl("a.attacl", None)}
        from pg_attribute as a
        join pg_class as c on c.oid = a.attrelid
        join pg_namespace as n on n.oid = c.relnamespace
        where n.nspname = any(%(schemas)s) and a.attacl is not null
          and a.attnum > 0 and not a.attisdropped
        order by 1, 2, 3""",
    "constraints": """
        select conrelid::regclass::text, contypid::regtype::text, conname,
               pg_get_constraintdef(oid)
        from pg_constraint where connamespace::regnamespace::text = any(%(schemas)s)
        order by 1, 2, 3""",
    "indexes": """
        select schemaname, indexname, indexdef from pg_indexes
        where schemaname = any(%(schemas)s) order by 1, 2""",
    "views": """
        select n.nspname, c.relname, c.relkind, pg_get_viewdef(c.oid)
        from pg_class as c join pg_namespace as n on n.oid = c.relnamespace
        where n.nspname = any(%(schemas)s) and c.relkind in ('v', 'm')
        order by 1, 2""",
    # With the column an identity or serial sequence belongs to.
    "sequences": """
        select s.seqrelid::regclass::text, format_type(s.seqtypid, null), s.seqstart,
               s.seqincrement, s.seqmax, s.seqmin, s.seqcache, s.seqcycle,
               coalesce((select d.deptype::text || ':' || d.refobjid::regclass::text || '.'
                                || a.attname
                         from pg_depend as d
                         join pg_attribute as a
                           on a.attrelid = d.refobjid and a.attnum = d.refobjsubid
                         where d.classid = 'pg_class'::regclass and d.objid = s.seqrelid
                           and d.refclassid = 'pg_class'::regclass
                           and d.deptype in ('a', 'i')), '')
        from pg_sequence as s
        join pg_class as c on c.oid = s.seqrelid
        join pg_namespace as n on n.oid = c.relnamespace
        where n.nspname = any(%(schemas)s) order by 1""",
    # The whole definition (body, language, volatility, security, settings) and who may
    # execute it, PUBLIC included.
    "functions": f"""
        select n.nspname, p.proname, pg_get_function_identity_arguments(p.oid),
               p.proowner::regrole::text,
               case when p.prokind = 'a' then 'aggregate' else pg_get_functiondef(p.oid) end,
               {_acl("coalesce(p.proacl, acldefault('f', p.proowner))", "p.proowner")}
        from pg_proc as p join pg_namespace as n on n.oid = p.pronamespace
        where n.nspname = any(%(schemas)s) order by 1, 2, 3""",
    "triggers": """
        select t.tgrelid::regclass::text, t.tgname, pg_get_triggerdef(t.oid), t.tgenabled
        from pg_trigger as t join pg_class as c on c.oid = t.tgrelid
        where not t.tgisinternal and c.relnamespace::regnamespace::text = any(%(schemas)s)
        order by 1, 2""",
    # Comments on the schemas and on anything in them (tables, columns, views, functions,
    # constraints, ...). Role comments are cluster-wide, the same for every database.
    "comments": """
        select o.type, o.identity, d.description
        from pg_description as d
        cross join lateral pg_identify_object(d.classoid, d.objoid, d.objsubid) as o
        where o.schema = any(%(schemas)s)
           or (o.type = 'schema' and o.identity = any(%(schemas)s))
        order by 1, 2""",
    "policies": """
        select schemaname, tablename, policyname, permissive, array_to_string(roles, ','),
               cmd, coalesce(qual, ''), coalesce(with_check, '')
        from pg_policies where schemaname = any(%(schemas)s) order by 1, 2, 3""",
    "default_acl": f"""
        select coalesce(defaclnamespace::regnamespace::text, ''), defaclrole::regrole::text,
               defaclobjtype, {_acl("defaclacl", None)}
        from pg_default_acl order by 1, 2, 3""",
}

# Ordinary tables, and the columns whose default is the time of the insert.
_TABLES = """
    select n.nspname, c.relname,
           coalesce(array(select a.attname::text
                          from pg_attribute as a
                          join pg_attrdef as d on d.adrelid = a.attrelid and d.adnum = a.attnum
                          where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
                            and pg_get_expr(d.adbin, d.adrelid) ~ 'now\\(\\)|clock_timestamp'),
                    '{}')
    from pg_class as c join pg_namespace as n on n.oid = c.relnamespace
    where n.nspname = any(%(schemas)s) and c.relkind in ('r', 'p')
    order by 1, 2"""

_ROWS = sql.SQL("""
    select count(*), coalesce(md5(string_agg(r.line, e'\\n' order by r.line)), '')
    from (select (to_jsonb(t) - %(volatile)s::text[])::text as line from {} as t) as r""")


def fingerprint(url: str, schemas: Sequence[str] = SCHEMAS) -> Fingerprint:
    """The catalog of the database at ``url`` as named lists of rows (see the module)."""
    with psycopg.connect(url) as conn:
        found = {name: conn.execute(query, {"schemas": list(schemas)}).fetchall()
                 for name, query in QUERIES.items()}
        rows: list[Row] = []
        for schema, table, volatile in conn.execute(_TABLES, {"schemas": list(schemas)}):
            digest = conn.execute(
                _ROWS.format(sql.Identifier(schema, table)), {"volatile": volatile}).fetchone()
            assert digest is not None
            rows.append((schema, table, *digest))
        found["rows"] = rows
    return found


def differences(expected: Fingerprint, actual: Fingerprint) -> list[str]:
    """What differs, one line per row, by part: empty when the fingerprints are equal."""
    lines = []
    for part in expected.keys() | actual.keys():
        before, after = expected.get(part, []), actual.get(part, [])
        if before == after:
            continue
        missing = [row for row in before if row not in after]
        extra = [row for row in after if row not in before]
        lines += [f"{part}: only in the first: {row!r}" for row in missing]
        lines += [f"{part}: only in the second: {row!r}" for row in extra]
        if not missing and not extra:
            lines.append(f"{part}: the same rows in another order")
    return sorted(lines)


_INCLUDE = re.compile(r"\\ir\s+(\S+)")


def schema_files(order: Path = SCHEMA_ORDER) -> list[Path]:
    """The files sql/schema/schema.sql includes (``\\ir path``), in its order."""
    files = []
    for number, line in enumerate(order.read_text().splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("--"):
            continue
        match = _INCLUDE.fullmatch(text)
        if match is None:
            raise ValueError(f"{order}:{number}: expected `\\ir <file>` or a comment: {line}")
        files.append(order.parent / match.group(1))
    return files


def apply_schema(url: str, files: Sequence[Path] | None = None) -> None:
    """Build the current schema from ``files`` (default: :func:`schema_files`) in one
    transaction, each file's text sent as is, like the migrations' ``apply_sql_files``."""
    with psycopg.connect(url) as conn:
        for path in files if files is not None else schema_files():
            conn.execute(path.read_text())
