"""What a live worker looks like to PostgreSQL: another session holding an advisory lock."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg
from django.db import connection


@contextlib.contextmanager
def another_session_holds_lock(namespace: int, key: int) -> Iterator[None]:
    """Hold the advisory lock ``(namespace, key)`` from a second connection until the block ends."""
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db["PASSWORD"] or None,
        dbname=db["NAME"],
        autocommit=True,
    ) as session:
        session.execute("SELECT pg_advisory_lock(%s, %s)", [namespace, key])
        yield
