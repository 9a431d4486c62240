"""``begin_writing``: on SQLite, the session holds the database's write lock from the start of
its transaction, so that what it reads stays what it writes over (no lost update)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from specimen_kit.database import begin_writing, build_engine, build_sessionmaker


def test_a_sqlite_session_holds_the_write_lock_from_its_first_read(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    engine = build_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE counter (value INTEGER)"))
        connection.execute(text("INSERT INTO counter VALUES (1)"))
    other = sqlite3.connect(path, timeout=0)
    try:
        with build_sessionmaker(engine)() as session, session.begin():
            begin_writing(session)
            begin_writing(session)  # a second call inside the transaction changes nothing
            assert session.scalar(text("SELECT value FROM counter")) == 1
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("UPDATE counter SET value = 5")
            session.execute(text("UPDATE counter SET value = value + 1"))
        other.execute("UPDATE counter SET value = value * 10")
        other.commit()
        assert other.execute("SELECT value FROM counter").fetchone() == (20,)
    finally:
        other.close()
        engine.dispose()
