"""What the SQLite and PostgreSQL ``Repository`` adapters share: every query whose SQL is the same in both.

Consumes a database wrapper (``storage.sqlite_db`` or ``storage.pg_db``, seen through the protocols
of ``storage.repo.sql_dialect``) and a ``Dialect``; produces the records of ``storage.records``. The
SQL (in ``sql_streamers`` and ``sql_clips``, on ``sql_base``) is written once with ``?`` placeholders,
which ``Dialect.sql`` rewrites to the driver's form, so it must hold no literal ``?`` or ``%``. Writes
whose SQL truly differs (upserts, ``RETURNING``, locking) stay in the adapters, which subclass
``SqlRepository``.
"""

from __future__ import annotations

from storage.repo.adaptations import SqlAdaptations
from storage.repo.sql_clips import SqlClips
from storage.repo.sql_dialect import TxT
from storage.repo.sql_streamers import SqlStreamers


class SqlRepository(SqlStreamers[TxT], SqlClips[TxT], SqlAdaptations[TxT]):
    """The shared half of a ``Repository``; subclasses add the writes whose SQL differs.

    Its queries come in groups: ``SqlStreamers`` (streamers, subscriptions, VODs), ``SqlClips``
    (clips, votes, tuning) and ``SqlAdaptations`` (adapted rankers), all on ``SqlBase`` (the database, the dialect, rows → records)."""
