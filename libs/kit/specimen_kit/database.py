"""SQLAlchemy and Alembic plumbing for the services that own a database (extra ``db``).

Engines for SQLite (the zero-set-up default) and PostgreSQL, a UTC timestamp column type, the
constraint naming convention, and Alembic driven from code. It holds no table: each service's
models and migrations stay in the service.
"""

from __future__ import annotations

import argparse
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import DateTime, Engine, MetaData, Select, TypeDecorator, create_engine, event, text
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def named_metadata() -> MetaData:
    """Metadata whose constraints get stable names, so that migrations can refer to them."""
    return MetaData(naming_convention=NAMING_CONVENTION)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, on PostgreSQL and on SQLite (which drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are refused; use datetime.now(UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


DEFAULT_POOL_SIZE = 5
DEFAULT_POOL_TIMEOUT_SECONDS = 30.0


def build_engine(url: str, *, pool_size: int = DEFAULT_POOL_SIZE,
                 pool_timeout: float = DEFAULT_POOL_TIMEOUT_SECONDS) -> Engine:
    """An engine for ``url``; SQLite gets foreign keys on, WAL and a busy timeout.

    The pool holds ``pool_size`` connections and no overflow: a service sizes it to the
    requests it admits at once (``ServiceSettings.resolved_database_pool_size``), so a request
    never waits for a connection another request holds while that one waits for a thread.
    A checkout waiting ``pool_timeout`` seconds raises ``sqlalchemy.exc.TimeoutError``, which
    :mod:`specimen_kit.database_problems` answers 503 + ``Retry-After``.
    """
    pool = {"pool_size": pool_size, "max_overflow": 0, "pool_timeout": pool_timeout}
    if make_url(url).get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, **pool)
    engine = create_engine(url, connect_args={"timeout": 15, "check_same_thread": False}, **pool)

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


def begin_writing(session: Session) -> None:
    """Make the session's transaction a writer now, before it reads what it will write.

    PostgreSQL locks what ``SELECT … FOR UPDATE`` reads. SQLite ignores ``FOR UPDATE``, and
    pysqlite begins a transaction only at the first write, so a read-then-write could act on a
    value another connection changed in between: a lost update. On SQLite this begins the
    transaction with ``BEGIN IMMEDIATE``, the database's write lock (waited for up to the busy
    timeout), held until the transaction ends; elsewhere it does nothing.
    """
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    driver = connection.connection.driver_connection
    if driver is not None and not driver.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def lock_row(session: Session, query: Select[Any]) -> None:
    """Lock the rows ``query`` selects until the transaction ends (``SELECT … FOR UPDATE``; on
    SQLite, :func:`begin_writing`'s database lock), before a delete of them and their children."""
    begin_writing(session)
    session.execute(query.with_for_update()).all()


def ping(engine: Engine) -> None:
    """``SELECT 1``; raises when the database does not answer."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def alembic_config(url: str, migrations_dir: Path) -> Config:
    """An Alembic configuration for ``url`` without an ``alembic.ini`` file."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    # ``%`` is ConfigParser's interpolation marker; URLs may hold it in passwords.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["configure_logging"] = False
    return config


logger = logging.getLogger(__name__)

DEFAULT_MIGRATE_WAIT_SECONDS = 60.0
"""How long ``migrate`` waits for its database to answer before it gives up."""


def wait_for_database(url: str, wait_seconds: float, *, retry_every: float = 1.0) -> None:
    """Return once ``url`` accepts a connection; raise the last error after ``wait_seconds``.

    A one-shot migration started beside its database (compose, a Kubernetes Job) may run before
    the server listens or before its name resolves; only such connection failures
    (``OperationalError``) are retried, anything else (a bad URL, a missing driver) is raised
    at once. A SQLite file is not waited for.
    """
    if make_url(url).get_backend_name() == "sqlite":
        return  # a file: nothing to wait for (upgrade_database creates its directory)
    deadline = time.monotonic() + wait_seconds
    engine = create_engine(url)
    try:
        while True:
            try:
                with engine.connect():
                    return
            except OperationalError as error:
                if time.monotonic() + retry_every > deadline:
                    raise
                logger.warning("database not reachable yet; retrying",
                               extra={"error": str(error.orig)[:200], "retry_in_s": retry_every})
                time.sleep(retry_every)
    finally:
        engine.dispose()


def add_migrate_arguments(migrate: argparse.ArgumentParser) -> None:
    """``migrate``'s options: the target revision and how long to wait for the database."""
    migrate.add_argument("--revision", default="head", help="target revision (default: head)")
    migrate.add_argument("--wait-seconds", type=float, default=DEFAULT_MIGRATE_WAIT_SECONDS,
                         help="retry connecting for this long while the database is not up or "
                              "its name does not resolve yet (default: %(default)s)")


def upgrade_database(url: str, migrations_dir: Path, revision: str = "head") -> None:
    """Apply the migrations up to ``revision``, creating a SQLite file's directory first."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database or "").parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url, migrations_dir), revision)


def run_migrations(target_metadata: MetaData) -> None:
    """The body of a service's Alembic ``env.py``: offline or online, batch mode for SQLite.

    The URL comes from the configuration :func:`alembic_config` built.
    """
    from alembic import context  # only importable while Alembic runs an env.py

    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("sqlalchemy.url is not set; run migrations through upgrade_database")
    # render_as_batch: SQLite cannot ALTER most things; batch mode copies the table.
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True,
                          render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = build_engine(url)
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, target_metadata=target_metadata,
                              render_as_batch=True)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()
