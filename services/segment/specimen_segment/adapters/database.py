"""Engine and session factory of the image library: SQLite (default) or PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def build_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets foreign keys on and a busy timeout."""
    if make_url(url).get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": 15, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(connection: Any, _record: Any) -> None:
        # SQLite ignores ON DELETE CASCADE unless asked, per connection.
        cursor = connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    return engine


def build_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    # Entities are copied out before commit, so nothing needs the rows after it.
    return sessionmaker(engine, expire_on_commit=False)


def ping(engine: Engine) -> None:
    """``SELECT 1``; raises when the database does not answer."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
