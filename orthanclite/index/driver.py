"""Statements rendered once per dialect and run on the driver's own cursor.

SQLAlchemy spends more time preparing an execution than SQLite spends on a
small insert. The upload path runs several statements per instance, so it
renders them to SQL text once and hands the parameters to the driver
(sqlite3 or psycopg) directly, inside the transaction of a SQLAlchemy
connection. Driver errors are raised as SQLAlchemy's, so that callers catch
one family of exceptions.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Executable


class DriverStatement:
    """A Core statement run as SQL text of the connection's dialect.

    ``json_columns`` names the parameters that hold JSON values: they are
    serialized as SQLAlchemy's ``JSON`` type would (``json.dumps``).
    """

    def __init__(self, statement: Executable, json_columns: Sequence[str] = ()) -> None:
        self.statement = statement
        self.json_columns = tuple(json_columns)
        # Dialect name -> (SQL text, parameter names in order, or None for named).
        self._rendered: dict[str, tuple[str, tuple[str, ...] | None]] = {}

    def _render(self, connection: Connection) -> tuple[str, tuple[str, ...] | None]:
        dialect = connection.dialect
        rendered = self._rendered.get(dialect.name)
        if rendered is None:
            compiled = self.statement.compile(dialect=dialect)
            names = tuple(compiled.positiontup or ()) if compiled.positional else None
            rendered = (compiled.string, names)
            self._rendered[dialect.name] = rendered
        return rendered

    def _parameters(
        self, names: tuple[str, ...] | None, values: Mapping[str, Any]
    ) -> Sequence[Any] | Mapping[str, Any]:
        if self.json_columns:
            values = dict(values)
            for column in self.json_columns:
                if values[column] is not None:
                    values[column] = json.dumps(values[column])
        if names is None:
            return values
        return tuple(values[name] for name in names)

    def run(self, connection: Connection, values: Mapping[str, Any]) -> list[tuple]:
        """Execute with one set of values; return the rows it returns, if any."""
        sql, names = self._render(connection)
        cursor = connection.connection.cursor()
        try:
            cursor.execute(sql, self._parameters(names, values))
            return cursor.fetchall() if cursor.description else []
        except connection.dialect.loaded_dbapi.Error as error:
            raise _wrapped(connection, sql, error) from error
        finally:
            cursor.close()

    def run_many(self, connection: Connection, rows: Iterable[Mapping[str, Any]]) -> None:
        """Execute once per set of values, as one driver call."""
        sql, names = self._render(connection)
        parameters = [self._parameters(names, values) for values in rows]
        if not parameters:
            return
        cursor = connection.connection.cursor()
        try:
            cursor.executemany(sql, parameters)
        except connection.dialect.loaded_dbapi.Error as error:
            raise _wrapped(connection, sql, error) from error
        finally:
            cursor.close()


def _wrapped(connection: Connection, sql: str, error: Exception) -> DBAPIError:
    # No parameters: they may hold patient data, and messages get logged.
    return DBAPIError.instance(
        sql, None, error, connection.dialect.loaded_dbapi.Error, hide_parameters=True
    )
