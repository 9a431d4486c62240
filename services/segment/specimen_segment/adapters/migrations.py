"""Alembic, driven from code: ``upgrade_database(url)`` is what the CLI and the tests call."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic configuration for ``url`` without an ``alembic.ini`` file."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ``%`` is ConfigParser's interpolation marker; URLs may hold it in passwords.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["configure_logging"] = False
    return config


def upgrade_database(url: str, revision: str = "head") -> None:
    """Apply the migrations up to ``revision``, creating a SQLite file's directory first."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database or "").parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)
