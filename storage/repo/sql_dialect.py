"""How the shared SQL repository sees a database: the driver's dialect and the wrapper's reads and writes.

Consumed by ``storage.repo.sql_common``; each adapter (``sqlite``, ``postgres``) builds one ``Dialect``
and passes its database wrapper (``storage.sqlite_db`` / ``storage.pg_db``), which fits ``SqlDatabase``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from storage.errors import RecordNotFound


class RowLike(Protocol):
    def __getitem__(self, key: str, /) -> Any: ...


class SqlReader(Protocol):
    """Reads, on the database (autocommit) or inside a transaction."""

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> RowLike | None: ...

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> Sequence[RowLike]: ...


class SqlTransaction(SqlReader, Protocol):
    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int: ...


TxT = TypeVar("TxT", bound=SqlTransaction)
TxT_co = TypeVar("TxT_co", bound=SqlTransaction, covariant=True)


class SqlDatabase(SqlReader, Protocol[TxT_co]):
    def write(self) -> AbstractAsyncContextManager[TxT_co]: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one database spells parameters, truth, times and JSON."""

    mark: str
    """The driver's placeholder: ``?`` (sqlite3) or ``%s`` (psycopg)."""
    true: str
    """The SQL literal for true: ``1`` or ``TRUE``."""
    foreign_key_error: type[Exception]
    """What the driver raises when a row refers to one that does not exist."""
    foreign_key_detail: Callable[[Exception], str]
    """The part of that error worth showing in ``RecordNotFound``."""
    time_param: Callable[[datetime], Any]
    """An aware datetime as the driver stores it."""
    time_value: Callable[[Any], datetime]
    """A stored time back as an aware UTC datetime."""
    json_param: Callable[[Any], Any]
    """A JSON value as the driver stores it; raises ``StorageError`` if it is not finite JSON."""
    json_value: Callable[[Any], Any]
    """A stored JSON column back as Python values."""

    def sql(self, text: str) -> str:
        """``text`` with its ``?`` placeholders in this driver's form."""
        return text if self.mark == "?" else text.replace("?", self.mark)


def one(row: RowLike | None, what: str) -> RowLike:
    if row is None:
        raise RecordNotFound(f"{what} does not exist")
    return row
