"""Alembic environment: the URL comes from the configuration built in code."""

from __future__ import annotations

from alembic import context

from specimen_segment.adapters.database import build_engine
from specimen_segment.adapters.models import Base

config = context.config
target_metadata = Base.metadata


def run_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"),
                      target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url must be set by specimen_segment.adapters.migrations"
    engine = build_engine(url)
    try:
        with engine.connect() as connection:
            # render_as_batch: SQLite cannot ALTER most things; batch mode copies the table.
            context.configure(connection=connection, target_metadata=target_metadata,
                              render_as_batch=True)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
