"""The classify service's Alembic migrations, applied from code by the CLI and the tests."""

from __future__ import annotations

from pathlib import Path

from specimen_kit import database

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def upgrade_database(url: str, revision: str = "head") -> None:
    """Apply this service's migrations to ``url`` up to ``revision``."""
    database.upgrade_database(url, MIGRATIONS_DIR, revision)
