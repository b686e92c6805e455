"""Checking a role's privileges against the catalog, both ways (see
tests/integration/test_role_table.py, which holds the README's role table).

For every relation, column, sequence and function in the project's schemas, and the
schemas themselves, the catalog (``has_*_privilege``) must grant exactly what a row of the
role table allows; every denied privilege that has a harmless statement is also tried as
the role and must fail with SQLSTATE 42501. Objects are read from the catalog, so a
table, view, column or function a later migration adds is covered the day it exists.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import psycopg
from psycopg import sql


@dataclass(frozen=True)
class Columns:
    """The columns a privilege covers: ``names`` only, or every column but ``names``."""

    names: tuple[str, ...] = ()
    every_but: bool = False

    def covers(self, column: str) -> bool:
        return (column in self.names) != self.every_but

    @property
    def is_whole_relation(self) -> bool:
        """Granted on the relation itself (so on columns added later too)."""
        return self.every_but and not self.names


ALL = Columns(every_but=True)
READ: Mapping[str, Columns] = {"SELECT": ALL}


def only(*names: str) -> Columns:
    return Columns(names)


def all_but(*names: str) -> Columns:
    return Columns(names, every_but=True)


@dataclass(frozen=True)
class Allowed:
    """One row of the role table: schemas used, verbs on relations, functions run."""

    usage: Collection[str] = ()
    relations: Mapping[str, Mapping[str, Columns]] = field(default_factory=dict)
    functions: Collection[str] = ()

    def verbs_on(self, schema: str, name: str, kind: str) -> Mapping[str, Columns]:
        """``schema.*`` covers the schema's tables and views, not its sequences."""
        wildcard = {} if kind == "S" else self.relations.get(f"{schema}.*", {})
        return self.relations.get(f"{schema}.{name}") or wildcard


SCHEMAS = ("ingest", "features", "scoring", "ml", "truth", "analytics", "api")
# Nobody creates anything anywhere. (Every role has USAGE on public: PostgreSQL grants it
# to PUBLIC, and the project keeps nothing there that any role may touch.)
NO_CREATE_SCHEMAS = (*SCHEMAS, "public")
TABLE_VERBS = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
COLUMN_VERBS = ("SELECT", "INSERT", "UPDATE", "REFERENCES")
SEQUENCE_VERBS = ("USAGE", "SELECT", "UPDATE")
RELATION_KINDS = ("r", "p", "v", "m", "S", "f")
TABLE_KINDS = ("r", "p")
INSUFFICIENT_PRIVILEGE = "42501"
PROBE = "privilege_probe"


class Privilege(NamedTuple):
    """``verb`` on ``target`` (a relation, function, schema or the database)."""

    target: str
    verb: str
    column: str | None = None


@dataclass(frozen=True)
class Relation:
    oid: int
    schema: str
    name: str
    kind: str                       # pg_class.relkind
    columns: tuple[str, ...]
    generated: frozenset[str]       # no INSERT may name a generated column

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def ident(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.name)


@dataclass(frozen=True)
class Function:
    schema: str
    name: str
    signature: str                  # regprocedure text
    kind: str                       # pg_proc.prokind
    arg_types: tuple[str, ...]      # format_type of each input argument
    is_variadic: bool
    has_pseudo_args: bool


@dataclass(frozen=True)
class Attempt:
    """A statement the role runs; it must fail with 42501. When ``strict`` is false another
    error may stop it first (a view rewrite), and the catalog check alone decides."""

    privilege: Privilege
    statement: sql.Composed
    strict: bool = True


RELATIONS = """
select c.oid::integer, n.nspname, c.relname, c.relkind,
       array(select a.attname from pg_attribute as a
             where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
             order by a.attnum),
       array(select a.attname from pg_attribute as a
             where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
               and a.attgenerated <> '')
from pg_class as c
join pg_namespace as n on n.oid = c.relnamespace
where n.nspname = any(%(schemas)s) and c.relkind = any(%(kinds)s::"char"[])
order by 1, 2
"""
FUNCTIONS = """
select n.nspname, p.proname, p.oid::regprocedure::text, p.prokind,
       array(select format_type(t.oid, null) from unnest(p.proargtypes::oid[])
             with ordinality as t (oid, position) order by t.position),
       p.provariadic <> 0,
       exists (select from unnest(p.proargtypes::oid[]) as t (oid)
               join pg_type as ty on ty.oid = t.oid where ty.typtype = 'p')
from pg_proc as p
join pg_namespace as n on n.oid = p.pronamespace
where n.nspname = any(%(schemas)s)
order by 3
"""
# Everything the role may do on those objects, as the catalog says (membership and
# PUBLIC included).
GRANTED = """
with relations as (
    select c.oid, n.nspname || '.' || c.relname as target, c.relkind
    from pg_class as c
    join pg_namespace as n on n.oid = c.relnamespace
    where n.nspname = any(%(schemas)s) and c.relkind = any(%(kinds)s::"char"[])
)
select r.target, v.verb, null
from relations as r cross join unnest(%(table_verbs)s::text[]) as v (verb)
where r.relkind <> 'S' and has_table_privilege(%(role)s, r.oid, v.verb)
union all
select r.target, v.verb, null
from relations as r cross join unnest(%(sequence_verbs)s::text[]) as v (verb)
where r.relkind = 'S' and has_sequence_privilege(%(role)s, r.oid, v.verb)
union all
select r.target, v.verb, a.attname
from relations as r
join pg_attribute as a on a.attrelid = r.oid and a.attnum > 0 and not a.attisdropped
cross join unnest(%(column_verbs)s::text[]) as v (verb)
where r.relkind <> 'S' and has_column_privilege(%(role)s, r.oid, a.attnum, v.verb)
union all
select p.oid::regprocedure::text, 'EXECUTE', null
from pg_proc as p
join pg_namespace as n on n.oid = p.pronamespace
where n.nspname = any(%(schemas)s) and has_function_privilege(%(role)s, p.oid, 'EXECUTE')
union all
select n.nspname, v.verb, null
from pg_namespace as n cross join unnest(array['USAGE', 'CREATE']) as v (verb)
where (n.nspname = any(%(schemas)s) or (n.nspname = any(%(no_create)s) and v.verb = 'CREATE'))
  and has_schema_privilege(%(role)s, n.oid, v.verb)
union all
select 'database', 'CREATE', null
where has_database_privilege(%(role)s, current_database(), 'CREATE')
"""


def read_relations(conn: psycopg.Connection) -> list[Relation]:
    rows = conn.execute(RELATIONS, {"schemas": list(SCHEMAS),
                                    "kinds": list(RELATION_KINDS)}).fetchall()
    return [Relation(oid, schema, name, kind, tuple(columns), frozenset(generated))
            for oid, schema, name, kind, columns, generated in rows]


def read_functions(conn: psycopg.Connection) -> list[Function]:
    return [Function(schema, name, signature, kind, tuple(arg_types), variadic, pseudo)
            for schema, name, signature, kind, arg_types, variadic, pseudo
            in conn.execute(FUNCTIONS, {"schemas": list(SCHEMAS)}).fetchall()]


def read_granted(conn: psycopg.Connection, role: str) -> set[Privilege]:
    rows = conn.execute(GRANTED, {
        "role": role, "schemas": list(SCHEMAS), "no_create": list(NO_CREATE_SCHEMAS),
        "kinds": list(RELATION_KINDS), "table_verbs": list(TABLE_VERBS),
        "sequence_verbs": list(SEQUENCE_VERBS), "column_verbs": list(COLUMN_VERBS),
    }).fetchall()
    return {Privilege(*row) for row in rows}


def every_privilege(relations: Iterable[Relation], functions: Iterable[Function]
                    ) -> list[Privilege]:
    """Every privilege there is to hold on these objects: the universe checked."""
    out: list[Privilege] = []
    for rel in relations:
        if rel.kind == "S":
            out += [Privilege(rel.qualified, verb) for verb in SEQUENCE_VERBS]
            continue
        out += [Privilege(rel.qualified, verb) for verb in TABLE_VERBS]
        out += [Privilege(rel.qualified, verb, column)
                for verb in COLUMN_VERBS for column in rel.columns]
    out += [Privilege(fn.signature, "EXECUTE") for fn in functions]
    out += [Privilege(schema, "USAGE") for schema in SCHEMAS]
    out += [Privilege(schema, "CREATE") for schema in NO_CREATE_SCHEMAS]
    out.append(Privilege("database", "CREATE"))
    return out


def allowed_privileges(conn: psycopg.Connection, allowed: Allowed,
                       relations: Iterable[Relation]) -> tuple[set[Privilege], list[str]]:
    """The role table's row as privileges on the objects that exist, and the entries that
    name no existing relation, column or function (a typo, or a dropped object)."""
    out: set[Privilege] = set()
    problems: list[str] = []
    named = set(allowed.relations)
    for rel in relations:
        verbs = allowed.verbs_on(rel.schema, rel.name, rel.kind)
        named.discard(rel.qualified)
        named.discard(f"{rel.schema}.*")
        for verb, columns in verbs.items():
            unknown = set(columns.names) - set(rel.columns)
            if unknown:
                problems.append(f"role table: no column {sorted(unknown)} in {rel.qualified}")
            if columns.is_whole_relation:
                out.add(Privilege(rel.qualified, verb))
            if verb in COLUMN_VERBS and rel.kind != "S":
                out |= {Privilege(rel.qualified, verb, column)
                        for column in rel.columns if columns.covers(column)}
    problems += [f"role table: no relation {name}" for name in sorted(named)]
    for name in sorted(allowed.functions):
        row = conn.execute("select to_regprocedure(%s)::text", (name,)).fetchone()
        if row is None or row[0] is None:
            problems.append(f"role table: no function {name}")
        else:
            out.add(Privilege(row[0], "EXECUTE"))
    out |= {Privilege(schema, "USAGE") for schema in allowed.usage}
    return out, problems


def relation_attempts(rel: Relation, denied: Collection[Privilege]) -> list[Attempt]:
    """Harmless statements for the denied privileges on ``rel`` (none for REFERENCES and
    TRIGGER, which only DDL exercises: the catalog check alone covers those)."""
    out: list[Attempt] = []
    if rel.kind == "S":
        # nextval and setval change a sequence for good (not rolled back), so UPDATE is
        # checked in the catalog only. currval needs SELECT or USAGE and checks that
        # before it can fail on "not yet defined in this session".
        select_denied = Privilege(rel.qualified, "SELECT") in denied
        if select_denied:
            out.append(Attempt(Privilege(rel.qualified, "SELECT"), sql.SQL(
                "select last_value from {} limit 0").format(rel.ident)))
        if Privilege(rel.qualified, "USAGE") in denied and select_denied:
            out.append(Attempt(Privilege(rel.qualified, "USAGE"), sql.SQL(
                "select currval({}::regclass)").format(sql.Literal(rel.oid))))
        return out
    # A view that is not automatically updatable, or a materialized view, can fail in
    # the rewriter or on its kind before the privilege check: those writes are tried,
    # but only the catalog check decides. SELECT always reaches the privilege check.
    is_table = rel.kind in TABLE_KINDS
    for column in rel.columns:
        col = sql.Identifier(column)
        if Privilege(rel.qualified, "SELECT", column) in denied:
            out.append(Attempt(Privilege(rel.qualified, "SELECT", column), sql.SQL(
                "select {} from {} limit 0").format(col, rel.ident)))
        # OVERRIDING SYSTEM VALUE: an identity column's rewrite error would come first.
        # A generated column refuses any value in the rewriter: the catalog decides.
        if Privilege(rel.qualified, "INSERT", column) in denied and column not in rel.generated:
            out.append(Attempt(Privilege(rel.qualified, "INSERT", column), sql.SQL(
                "insert into {} ({}) overriding system value select null where false"
            ).format(rel.ident, col), strict=is_table))
        if Privilege(rel.qualified, "UPDATE", column) in denied:
            out.append(Attempt(Privilege(rel.qualified, "UPDATE", column), sql.SQL(
                "update {} set {} = default where false").format(rel.ident, col),
                strict=is_table))
    if Privilege(rel.qualified, "DELETE") in denied:
        out.append(Attempt(Privilege(rel.qualified, "DELETE"), sql.SQL(
            "delete from {} where false").format(rel.ident), strict=is_table))
    if is_table and Privilege(rel.qualified, "TRUNCATE") in denied:
        # TRUNCATE checks the privilege before it takes a lock or looks at foreign keys;
        # were it allowed, the enclosing transaction is rolled back anyway.
        out.append(Attempt(Privilege(rel.qualified, "TRUNCATE"), sql.SQL(
            "truncate {}").format(rel.ident)))
    return out


def function_attempt(fn: Function) -> Attempt | None:
    """Call ``fn`` with NULLs of its argument types. In a SELECT the NULLs come from a
    materialized CTE: the planner folds a strict function of a NULL constant into NULL
    without ever checking EXECUTE, so ``select f(null::t)`` would succeed for anyone."""
    if fn.has_pseudo_args or fn.kind not in ("f", "p"):
        # No typed NULL for a pseudo-type, no plain call of an aggregate or window
        # function: has_function_privilege alone decides (there are none today).
        return None
    # Type names as PostgreSQL's format_type spells and quotes them.
    nulls = [sql.SQL("null::{}").format(sql.SQL(type_name)) for type_name in fn.arg_types]
    names = [sql.Identifier(f"a{i}") for i in range(len(fn.arg_types))]
    args: list[sql.Composable] = list(nulls if fn.kind == "p" else names)
    if fn.is_variadic:
        args[-1] = sql.SQL("variadic {}").format(args[-1])
    call = sql.SQL("{}({})").format(sql.Identifier(fn.schema, fn.name),
                                    sql.SQL(", ").join(args))
    if fn.kind == "p":  # CALL checks EXECUTE before it evaluates anything
        statement = sql.SQL("call {}").format(call)
    else:
        columns = sql.SQL(", ").join(sql.SQL("{} as {}").format(null, name)
                                     for null, name in zip(nulls, names, strict=True))
        statement = sql.SQL("with args as materialized (select {}) select {} from args"
                            ).format(columns, call)
    return Attempt(Privilege(fn.signature, "EXECUTE"), statement)


def add_future_relations(conn: psycopg.Connection) -> None:
    """As the owner, a table (with its identity sequence) in every schema, as a later
    migration or dbt would add: default privileges decide what the roles get on it."""
    for schema in SCHEMAS:
        conn.execute(sql.SQL(
            "create table {} (probe_id bigint generated always as identity, note text)"
        ).format(sql.Identifier(schema, PROBE)))


def run_attempts(conn: psycopg.Connection, attempts: Iterable[Attempt]) -> list[str]:
    problems = []
    for attempt in attempts:
        try:
            with conn.transaction(force_rollback=True):
                conn.execute(attempt.statement)
        except psycopg.Error as error:
            if error.sqlstate != INSUFFICIENT_PRIVILEGE and attempt.strict:
                problems.append(f"{describe(attempt.privilege)}: failed with {error.sqlstate}"
                                f" (not 42501): {attempt.statement.as_string(conn)}")
        else:
            problems.append(f"{describe(attempt.privilege)}: ran, should be denied: "
                            f"{attempt.statement.as_string(conn)}")
    return problems


def describe(privilege: Privilege) -> str:
    column = f" ({privilege.column})" if privilege.column else ""
    return f"{privilege.verb}{column} on {privilege.target}"


def summarize(heading: str, privileges: Iterable[Privilege]) -> list[str]:
    """One line per verb and object, its columns listed together."""
    grouped: dict[tuple[str, str], list[str | None]] = {}
    for p in privileges:
        grouped.setdefault((p.verb, p.target), []).append(p.column)
    lines = []
    for (verb, target), columns in sorted(grouped.items()):
        named = sorted(c for c in columns if c is not None)
        what = (["the whole relation"] if None in columns and named else []) + (
            [f"columns {', '.join(named)}"] if named else [])
        lines.append(f"{heading}: {verb} on {target}" + (f" [{'; '.join(what)}]" if what else ""))
    return lines


def violations(conn: psycopg.Connection, role: str, row: Allowed
               ) -> tuple[list[str], int, int]:
    """Everything ``role`` may do beyond ``row`` (its row of the role table), or may not do
    within it; and how many privileges were compared and statements tried. Run it inside a
    transaction that is rolled back: it adds tables and ends as ``role``."""
    conn.execute("set local search_path = pg_catalog")  # every name printed qualified
    add_future_relations(conn)
    relations = read_relations(conn)
    functions = read_functions(conn)
    universe = every_privilege(relations, functions)
    granted = read_granted(conn, role)
    allowed, problems = allowed_privileges(conn, row, relations)
    denied = set(universe) - allowed
    problems += summarize("granted, not in the role table", granted - allowed)
    problems += summarize("in the role table, not granted", allowed - granted)
    problems += summarize("granted on an object not checked here (fix the test)",
                          granted - set(universe))

    attempts = [a for rel in relations for a in relation_attempts(rel, denied)]
    attempts += [a for fn in functions
                 if Privilege(fn.signature, "EXECUTE") in denied
                 and (a := function_attempt(fn)) is not None]
    attempts += [Attempt(Privilege(schema, "CREATE"), sql.SQL("create table {} ()").format(
        sql.Identifier(schema, f"{PROBE}_{role}"))) for schema in NO_CREATE_SCHEMAS]
    attempts.append(Attempt(Privilege("database", "CREATE"), sql.SQL(
        "create schema {}").format(sql.Identifier(f"{PROBE}_{role}"))))
    conn.execute(sql.SQL("set local role {}").format(sql.Identifier(role)))
    problems += run_attempts(conn, attempts)
    return problems, len(universe), len(attempts)
