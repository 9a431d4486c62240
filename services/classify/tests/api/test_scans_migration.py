"""Migration 0002 on a database with old scans: hospital ids, patient references, history."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from specimen_classify.adapters.migrations import MIGRATIONS_DIR, upgrade_database
from specimen_kit.database import alembic_config, build_engine
from specimen_kit.hospitals import legacy_hospital_id
from specimen_kit.testing import temporary_postgres_database

T0 = datetime(2025, 1, 1, tzinfo=UTC)
OLD_HOSPITALS = ["General", "general ", "St Mary", "***"]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def old_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A scans database at revision 0001 with one scan per old hospital spelling."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
        _fill_at_0001(url)
        yield url
        return
    with temporary_postgres_database("specimen_classify_migration") as url:
        _fill_at_0001(url)
        yield url


def _fill_at_0001(url: str) -> None:
    upgrade_database(url, "0001")
    engine = build_engine(url)
    try:
        with engine.begin() as connection:
            for number, hospital in enumerate(OLD_HOSPITALS):
                connection.execute(text(
                    "INSERT INTO scans (hospital, patient_gender, true_label, notes, created_by, "
                    "created_at, updated_at, label, probability, tumor_probability, model_name, "
                    "model_version, crop_min_row, crop_min_col, crop_max_row, crop_max_col, "
                    "classified_at, image_key, image_media_type, image_bytes) VALUES (:hospital, "
                    "'female', NULL, NULL, 7, :t, :t, 'tumor', 0.75, 0.75, 'mri-tumor', 3, 1, 2, "
                    "30, 40, :t, :key, 'image/png', 10)"),
                    {"hospital": hospital, "t": T0, "key": f"{number:064x}"})
    finally:
        engine.dispose()


def _rows(url: str, sql: str) -> list[tuple[object, ...]]:
    engine = build_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql))]
    finally:
        engine.dispose()


class TestScansMigration:
    def test_hospitals_become_the_ids_the_users_service_gives(self, old_database: str) -> None:
        upgrade_database(old_database)
        hospitals = [row[0] for row in _rows(old_database, "SELECT hospital FROM scans ORDER BY id")]
        assert hospitals == ["general", "general", "st-mary", legacy_hospital_id("***")]
        assert hospitals[3] == "hospital-596f4162a52f"  # what users' migration 0003 gives too

    def test_each_scan_s_classification_becomes_its_first_history_row(
            self, old_database: str) -> None:
        upgrade_database(old_database)
        history = _rows(old_database, "SELECT scan_id, label, model_version, crop_max_col, "
                                      "decision_threshold FROM scan_classifications ORDER BY id")
        scans = [row[0] for row in _rows(old_database, "SELECT id FROM scans ORDER BY id")]
        assert history == [(scan_id, "tumor", 3, 40, None) for scan_id in scans]
        assert _rows(old_database, "SELECT DISTINCT patient_ref FROM scans") == [(None,)]

    def test_downgrade_drops_the_new_parts(self, old_database: str) -> None:
        upgrade_database(old_database)
        command.downgrade(alembic_config(old_database, MIGRATIONS_DIR), "0001")
        assert len(_rows(old_database, "SELECT id FROM scans")) == len(OLD_HOSPITALS)
