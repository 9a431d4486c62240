"""Migration 0003 on a database with old rows: free-text hospitals become the managed list."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from specimen_kit.database import alembic_config, build_engine
from specimen_kit.testing import temporary_postgres_database
from specimen_users.adapters.migrations import MIGRATIONS_DIR, upgrade_database

# Users in id order: the first spelling met of each hospital becomes its display name.
OLD_USERS = [
    ("a@x.org", "Newcomer Clinic"),
    ("b@x.org", "newcomer clinic "),
    ("c@x.org", "Saint-Luc"),
    ("d@x.org", "NEWCOMER-CLINIC"),
    ("e@x.org", "***"),  # no letter or digit: a hospital of its own, its id a hash
]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def old_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database at revision 0002 holding users with free-text hospitals."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
        upgrade_database(url, "0002")
        yield url
        return
    with temporary_postgres_database("specimen_users_migration") as url:
        upgrade_database(url, "0002")
        yield url


def _insert_old_users(url: str) -> None:
    engine = build_engine(url)
    try:
        with engine.begin() as connection:
            for email, hospital in OLD_USERS:
                connection.execute(text(
                    "INSERT INTO users (email, full_name, hospital, role, is_active, "
                    "password_hash, token_version, created_at, updated_at) VALUES "
                    "(:email, 'Old', :hospital, 'technician', true, 'x', 0, :now, :now)"),
                    {"email": email, "hospital": hospital, "now": datetime(2025, 1, 1, tzinfo=UTC)})
            connection.execute(text(
                "INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at, "
                "created_at) SELECT id, 'f', 'h', :now, :now FROM users WHERE email = 'a@x.org'"),
                {"now": datetime(2025, 1, 1, tzinfo=UTC)})
    finally:
        engine.dispose()


class TestHospitalsMigration:
    def test_fills_the_list_and_rewrites_users_to_the_ids(self, old_database: str) -> None:
        _insert_old_users(old_database)
        upgrade_database(old_database)
        engine = build_engine(old_database)
        try:
            with engine.connect() as connection:
                hospitals = connection.execute(text(
                    "SELECT id, name, name_key FROM hospitals ORDER BY id")).all()
                users = dict(connection.execute(text("SELECT email, hospital FROM users")).all())
                tokens = connection.execute(text("SELECT count(*) FROM refresh_tokens")).scalar()
        finally:
            engine.dispose()
        assert [tuple(row) for row in hospitals] == [
            ("hospital-596f4162a52f", "***", "hospital-596f4162a52f"),
            ("newcomer-clinic", "Newcomer Clinic", "newcomer-clinic"),
            ("saint-luc", "Saint-Luc", "saint-luc"),
        ]
        assert users == {"a@x.org": "newcomer-clinic", "b@x.org": "newcomer-clinic",
                         "c@x.org": "saint-luc", "d@x.org": "newcomer-clinic",
                         "e@x.org": "hospital-596f4162a52f"}
        assert tokens == 1  # recreating users on SQLite must not cascade to its sessions

    def test_users_can_name_only_hospitals_of_the_list_afterwards(self, old_database: str) -> None:
        upgrade_database(old_database)
        engine = build_engine(old_database)
        try:
            with pytest.raises(IntegrityError), engine.begin() as connection:
                connection.execute(text(
                    "INSERT INTO users (email, full_name, hospital, role, is_active, "
                    "password_hash, token_version, created_at, updated_at) VALUES "
                    "('z@x.org', 'Z', 'nowhere', 'technician', true, 'x', 0, :now, :now)"),
                    {"now": datetime(2025, 1, 1, tzinfo=UTC)})
        finally:
            engine.dispose()

    def test_downgrade_gives_the_users_the_display_names(self, old_database: str) -> None:
        _insert_old_users(old_database)
        upgrade_database(old_database)
        command.downgrade(alembic_config(old_database, MIGRATIONS_DIR), "0002")
        engine = build_engine(old_database)
        try:
            with engine.connect() as connection:
                users = dict(connection.execute(text("SELECT email, hospital FROM users")).all())
        finally:
            engine.dispose()
        assert users["b@x.org"] == "Newcomer Clinic" and users["c@x.org"] == "Saint-Luc"
