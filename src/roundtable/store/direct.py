"""Statements run straight on the SQLite writer's cursor: INSERTs and UPDATEs whose result
nobody reads (`write_rows`), SELECTs asked only whether they find a row (`row_exists`) or for
their first row (`first_row`).

Issue 16: SQLAlchemy's per-execute work (execution context, result set-up, parameter
processing through generic paths) cost several times what sqlite3 spends running a small
statement, on every append. For a prebuilt statement (`write_rows`' callers build theirs once,
at import) the SQL, the order of its parameters and their type processors are taken once from
SQLAlchemy's own compilation; each call then only converts the values exactly as SQLAlchemy
would (the same bind processors) and runs the sqlite3 statement.
Anything this does not handle the same way (RETURNING, Python-side column defaults, expanding
or literal parameters, rows with differing keys) goes through SQLAlchemy as before.

Which parameter feeds each placeholder is worked out once per plan, by running SQLAlchemy's
`construct_params` on markers standing for the row's keys: a call then only picks the row's
values in that order (`construct_params` per statement was a visible share of an append).
`first_row` reads one row of a SELECT (the journal head an append locks) and converts it with
the result processors SQLAlchemy would apply, into a real SQLAlchemy `Row`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Executable, Row
from sqlalchemy.engine.result import result_tuple
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.compiler import SQLCompiler


class _Key:
    """Stands for the row's value of `key` while a plan works out where each value comes from."""

    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        self.key = key


class _Plan:
    """One statement compiled for one set of parameter keys."""

    __slots__ = ("compiled", "make_row", "processors", "results", "sources", "sql", "statement")

    def __init__(self, statement: Executable, compiled: SQLCompiler, keys: Sequence[str]) -> None:
        self.statement = statement  # held, so its id is not reused while planned
        self.compiled = compiled
        self.sql = compiled.string
        bind: Mapping[str, Any] = compiled._bind_processors
        names = compiled.positiontup or []
        self.processors: list[tuple[str, Callable[[Any], Any] | None]] = [
            (name, bind.get(name)) for name in names
        ]
        self.sources = _sources(compiled, names, keys)
        self.results: list[Callable[[Any], Any] | None] | None = None
        self.make_row: Callable[[Any], Row[Any]] | None = None
        columns = compiled._result_columns
        fields = [column.keyname for column in columns]
        if columns and len(set(fields)) == len(fields):
            dialect = compiled.dialect
            self.results = [
                column.type._cached_result_processor(dialect, None) for column in columns
            ]
            self.make_row = result_tuple(fields)

    def values(self, row: Mapping[str, Any]) -> list[Any]:
        sources = self.sources
        if sources is None:
            params = self.compiled.construct_params(row, escape_names=False)
            return [
                params[name] if process is None else process(params[name])
                for name, process in self.processors
            ]
        return [
            constant if key is None else row[key] if process is None else process(row[key])
            for key, process, constant in sources
        ]


#: Where a placeholder's value comes from: the row's key and the bind processor to apply, or
#: (key None) the constant value, already processed.
_Source = tuple[str | None, Callable[[Any], Any] | None, Any]


def _sources(
    compiled: SQLCompiler, names: Sequence[str], keys: Sequence[str]
) -> list[_Source] | None:
    """Where each placeholder's value comes from; None when that cannot be fixed in advance (a
    value computed per execution, or a required parameter the row lacks: `construct_params`
    then runs, and raises, per call)."""
    if any(
        bindparam.callable or (bindparam.required and bindparam.key not in keys)
        for bindparam in compiled.bind_names
    ):
        return None
    probe = compiled.construct_params(
        {key: _Key(key) for key in keys}, escape_names=False, _check=False
    )
    bind: Mapping[str, Any] = compiled._bind_processors
    sources: list[_Source] = []
    for name in names:
        if name not in probe:
            return None
        value, process = probe[name], bind.get(name)
        if type(value) is _Key:
            sources.append((value.key, process, None))
        else:
            sources.append((None, None, value if process is None else process(value)))
    return sources


#: (id of the statement, its parameter keys) -> its plan, or None when SQLAlchemy must run it.
_PLANS: dict[tuple[int, tuple[str, ...]], _Plan | None] = {}
_MAX_PLANS = 256


def _plan(sync: Connection, statement: Executable, keys: tuple[str, ...]) -> _Plan | None:
    key = (id(statement), keys)
    try:
        plan = _PLANS[key]
    except KeyError:
        pass
    else:
        if plan is None or plan.statement is statement:
            return plan
    compiled = statement.compile(dialect=sync.dialect, column_keys=list(keys))  # type: ignore[attr-defined]
    plan = _Plan(statement, compiled, keys) if _plain(compiled) else None
    if len(_PLANS) < _MAX_PLANS:
        _PLANS[key] = plan
    return plan


def _plain(compiled: Any) -> bool:
    """Whether running `compiled` needs nothing but its SQL and converted parameters."""
    statement = getattr(compiled, "compile_state", None)
    statement = getattr(statement, "statement", None)
    return bool(
        isinstance(compiled, SQLCompiler)
        and not compiled.isdelete
        and (compiled.isinsert or compiled.isupdate or bool(compiled._result_columns))
        and compiled.positional
        and compiled.positiontup is not None
        and not compiled.implicit_returning
        and not getattr(statement, "_returning", ())
        and not compiled.insert_prefetch
        and not compiled.update_prefetch
        and not compiled.literal_execute_params
        and not compiled.post_compile_params
        and not compiled.schema_translate_map
        and all(callable(p) for p in compiled._bind_processors.values())
    )


def write_rows(
    sync: Connection, statement: Executable, rows: Mapping[str, Any] | Sequence[Mapping[str, Any]]
) -> None:
    """Run an INSERT or UPDATE for one row (a mapping) or several, inside the writer's open
    transaction; the result is not returned."""
    many = not isinstance(rows, Mapping)
    batch: Sequence[Mapping[str, Any]] = rows if not isinstance(rows, Mapping) else (rows,)
    keys = tuple(sorted(batch[0]))
    plan = _plan(sync, statement, keys)
    if plan is None or (many and any(tuple(sorted(row)) != keys for row in batch[1:])):
        sync.execute(statement, list(batch) if many else batch[0])
        return
    raw: Any = sync.connection.dbapi_connection
    try:
        if many:
            raw.executemany(plan.sql, [plan.values(row) for row in batch])
        else:
            raw.execute(plan.sql, plan.values(batch[0]))
    except sqlite3.Error as exc:
        raise DBAPIError.instance(plan.sql, None, exc, sqlite3.Error, ismulti=many) from exc


def row_exists(sync: Connection, statement: Executable, params: Mapping[str, Any]) -> bool:
    """Whether the SELECT `statement` finds a row (its rows are not read)."""
    plan = _plan(sync, statement, tuple(sorted(params)))
    if plan is None:
        return sync.execute(statement, params).first() is not None
    raw: Any = sync.connection.dbapi_connection
    try:
        return raw.execute(plan.sql, plan.values(params)).fetchone() is not None
    except sqlite3.Error as exc:
        raise DBAPIError.instance(plan.sql, None, exc, sqlite3.Error) from exc


def first_row(
    sync: Connection, statement: Executable, params: Mapping[str, Any]
) -> Row[Any] | None:
    """The first row of the SELECT `statement` (None if none), converted as SQLAlchemy would."""
    plan = _plan(sync, statement, tuple(sorted(params)))
    if plan is None or plan.make_row is None or plan.results is None:
        return sync.execute(statement, params).first()
    raw: Any = sync.connection.dbapi_connection
    try:
        found = raw.execute(plan.sql, plan.values(params)).fetchone()
    except sqlite3.Error as exc:
        raise DBAPIError.instance(plan.sql, None, exc, sqlite3.Error) from exc
    if found is None:
        return None
    return plan.make_row(
        [
            value if process is None else process(value)
            for value, process in zip(found, plan.results, strict=True)
        ]
    )
