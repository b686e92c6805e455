"""The named SQL blocks of ``sql/queries/*.sql`` (pgfraud/kernel/queries.py) against the code that
runs them: every block says what it is for, every block has a user, and every block the
code names exists.

Uses are found in the syntax tree of every package (a top-level folder with an
``__init__.py``, tests excluded), in the three ways the code reaches a block:

- ``queries.load("file")["block"]``;
- through a name bound to a file's blocks: ``sql = queries.load("file")`` (or
  ``self._sql = ...``), then ``sql["block"]``;
- through a helper whose parameter picks the block: ``def _q(name): return
  queries.load("file")[name]``, then ``_q("block")``.

A block named by anything but a string literal cannot be checked, so it fails here too.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from pgfraud.kernel import queries
from pgfraud.kernel.settings import PROJECT_ROOT

QUERY_FILES = sorted((PROJECT_ROOT / "sql" / "queries").glob("*.sql"))
PACKAGES = sorted(p for p in PROJECT_ROOT.iterdir()
                  if (p / "__init__.py").is_file() and p.name != "tests")


@dataclasses.dataclass(frozen=True)
class Use:
    file: str     # sql/queries/<file>.sql
    block: str
    where: str    # path:line of the use


def _where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(PROJECT_ROOT)}:{getattr(node, 'lineno', 0)}"


def _loaded_file(node: ast.AST, path: Path, problems: list[str]) -> str | None:
    """The file name of ``queries.load("<file>")``, or None when ``node`` is not that."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "load" and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "queries"):
        return None
    if len(node.args) == 1 and isinstance(node.args[0], ast.Constant) \
            and isinstance(node.args[0].value, str):
        return node.args[0].value
    problems.append(f"{_where(path, node)}: queries.load() of something other than a "
                    f"string literal")
    return None


def _module_uses(path: Path, problems: list[str]) -> Iterator[Use]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    nodes = list(ast.walk(tree))

    # Names bound to one file's blocks: `sql = queries.load("labels")`, `self._sql = ...`.
    aliases: dict[str, set[str]] = {}
    for node in nodes:
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            file = _loaded_file(node.value, path, [])
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if file is not None:
                for target in targets:
                    aliases.setdefault(ast.unparse(target), set()).add(file)
    for alias, files in aliases.items():
        if len(files) > 1:
            problems.append(f"{path.relative_to(PROJECT_ROOT)}: {alias} holds the blocks of "
                            f"several files ({', '.join(sorted(files))}); name them apart")

    def blocks_of(node: ast.AST) -> str | None:
        """The file whose blocks ``node`` evaluates to, if it does."""
        file = _loaded_file(node, path, problems)
        if file is None:
            files = aliases.get(ast.unparse(node)) if isinstance(
                node, ast.Name | ast.Attribute) else None
            file = next(iter(files)) if files and len(files) == 1 else None
        return file

    # Helpers: `def _q(name): return queries.load("models")[name]`.
    helpers: dict[str, tuple[str, int, str]] = {}  # name -> (file, position, parameter)
    picked_by_parameter: set[int] = set()  # ids of subscripts that define a helper
    for node in nodes:
        if not isinstance(node, ast.FunctionDef):
            continue
        parameters = [a.arg for a in node.args.posonlyargs + node.args.args]
        for inner in ast.walk(node):
            if (isinstance(inner, ast.Subscript) and isinstance(inner.slice, ast.Name)
                    and inner.slice.id in parameters
                    and (file := blocks_of(inner.value)) is not None):
                helpers[node.name] = (file, parameters.index(inner.slice.id), inner.slice.id)
                picked_by_parameter.add(id(inner))

    for node in nodes:
        if isinstance(node, ast.Subscript) and id(node) not in picked_by_parameter:
            file = blocks_of(node.value)
            if file is None:
                continue
            if isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
                yield Use(file, node.slice.value, _where(path, node))
            else:
                problems.append(f"{_where(path, node)}: a block of {file}.sql named by "
                                f"{ast.unparse(node.slice)}, not a string literal")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in helpers):
            file, position, parameter = helpers[node.func.id]
            named = [k.value for k in node.keywords if k.arg == parameter]
            argument = node.args[position] if position < len(node.args) else (
                named[0] if named else None)
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                yield Use(file, argument.value, _where(path, node))
            else:
                problems.append(f"{_where(path, node)}: {node.func.id}() names a block of "
                                f"{file}.sql by something other than a string literal")


def _all_uses() -> tuple[list[Use], list[str]]:
    problems: list[str] = []
    uses = [use for package in PACKAGES for path in sorted(package.rglob("*.py"))
            for use in _module_uses(path, problems)]
    return uses, problems


USES, PROBLEMS = _all_uses()
BLOCKS = {(path.stem, name): body for path in QUERY_FILES
          for name, body in queries.parse(path.read_text(encoding="utf-8")).items()}


def _block_ids() -> list[str]:
    return [f"{file}.sql:{name}" for file, name in BLOCKS]


def test_the_code_is_searched() -> None:
    """The search finds each way of naming a block (so an empty result means something)."""
    assert {p.name for p in PACKAGES} >= {"scorer", "producer"}
    found = {(u.file, u.block) for u in USES}
    assert ("retrain", "replay_outcomes") in found       # queries.load("f")["b"]
    assert ("features", "id_bounds") in found            # sql = queries.load("f"); sql["b"]
    assert ("ingest", "accept_batch") in found           # self._sql["b"]
    assert ("models", "promote") in found                # _q("b")
    assert ("report", "mart_freshness") in found         # _scalar(conn, "b")


def test_every_block_is_named_by_a_string_literal() -> None:
    assert PROBLEMS == []


@pytest.mark.parametrize(("file", "name"), list(BLOCKS), ids=_block_ids())
def test_every_block_has_a_description(file: str, name: str) -> None:
    first = BLOCKS[file, name].splitlines()[0]
    assert first.startswith("-- ") and first[3:].strip(), (
        f"sql/queries/{file}.sql: block {name} has no description: put a one-line "
        f"`-- what it is for` comment right under `-- name: {name}`")


@pytest.mark.parametrize(("file", "name"), list(BLOCKS), ids=_block_ids())
def test_every_block_is_used(file: str, name: str) -> None:
    assert any(u.file == file and u.block == name for u in USES), (
        f"sql/queries/{file}.sql: block {name} is used nowhere in "
        f"{', '.join(p.name + '/' for p in PACKAGES)}; delete it or use it")


def test_every_block_the_code_names_exists() -> None:
    missing = [f"{u.where}: no block {u.block} in sql/queries/{u.file}.sql"
               for u in USES if (u.file, u.block) not in BLOCKS]
    assert missing == []
