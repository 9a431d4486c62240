"""The scans' storage: the unit of work over rows and blobs, migrations, sweep, readiness."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from specimen_classify.adapters.scan_repository import SqlScanRepository, referenced_blob_keys
from specimen_classify.adapters.tables import Base, ScanRow
from specimen_classify.cli import main
from specimen_classify.config import ClassifySettings
from specimen_kit.blobs import FilesystemBlobStore
from specimen_kit.database import build_engine
from specimen_kit.storage import sweep_orphans

SCANS = "/api/v1/scans"


def _blobs(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "classify-blobs").glob("??/[0-9a-f]*"))


def _scan_rows(database_url: str) -> list[ScanRow]:
    engine = build_engine(database_url)
    try:
        with Session(engine) as session:
            return list(session.scalars(select(ScanRow)))
    finally:
        engine.dispose()


def _failing_commit(self: Session) -> None:
    raise OperationalError("COMMIT", {}, Exception("disk full"))


class TestUnitOfWork:
    async def test_the_image_is_stored_under_the_row_s_key(self, api: Any, slices: Any,
                                                           tmp_path: Path,
                                                           database_url: str) -> None:
        data = slices.file(seed=2)
        await api.create(data)
        (row,) = _scan_rows(database_url)
        assert [path.name for path in _blobs(tmp_path)] == [row.image_key]
        assert _blobs(tmp_path)[0].read_bytes() == data

    async def test_a_failed_commit_leaves_no_blob(self, start_app: Any, auth: Any, slices: Any,
                                                  tmp_path: Path, database_url: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
        async with start_app(raise_app_exceptions=False) as http:
            monkeypatch.setattr(Session, "commit", _failing_commit)
            response = await http.post(SCANS, headers=auth(), data={"patient_gender": "male"},
                                       files={"image": ("s.png", slices.file())})
            monkeypatch.undo()
        assert response.status_code == 503  # a database failure: retry later
        assert response.headers["content-type"] == "application/problem+json"
        assert _blobs(tmp_path) == []
        assert list((tmp_path / "classify-blobs").rglob("*.*")) == []  # no temporary file
        assert _scan_rows(database_url) == []

    async def test_a_failed_insert_leaves_no_blob(self, start_app: Any, auth: Any, slices: Any,
                                                  tmp_path: Path, database_url: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
        def failing_add(self: SqlScanRepository, draft: Any) -> None:
            raise OperationalError("INSERT", {}, Exception("connection lost"))

        monkeypatch.setattr(SqlScanRepository, "add", failing_add)
        async with start_app(raise_app_exceptions=False) as http:
            response = await http.post(SCANS, headers=auth(), data={"patient_gender": "male"},
                                       files={"image": ("s.png", slices.file())})
        assert response.status_code == 503  # a database failure: retry later
        assert _blobs(tmp_path) == []
        assert _scan_rows(database_url) == []

    async def test_a_deleted_scan_s_blob_goes_after_the_commit(self, api: Any,
                                                               tmp_path: Path) -> None:
        kept, deleted = await api.create(), await api.create()
        assert len(_blobs(tmp_path)) == 2
        await api.http.delete(f"{SCANS}/{deleted['id']}", headers=api.moderator)
        image = await api.http.get(f"{SCANS}/{kept['id']}/image", headers=api.moderator)
        assert len(_blobs(tmp_path)) == 1
        assert image.status_code == 200

    async def test_a_failed_delete_keeps_scan_and_blob(self, start_app: Any, auth: Any,
                                                       slices: Any, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
        moderator = auth(sub="8", role="moderator")
        async with start_app(raise_app_exceptions=False) as http:
            scan = (await http.post(SCANS, headers=moderator, data={"patient_gender": "male"},
                                    files={"image": ("s.png", slices.file())})).json()
            monkeypatch.setattr(Session, "commit", _failing_commit)
            response = await http.delete(f"{SCANS}/{scan['id']}", headers=moderator)
            monkeypatch.undo()
            image = await http.get(f"{SCANS}/{scan['id']}/image", headers=moderator)
        assert response.status_code == 503  # a database failure: retry later
        assert image.status_code == 200
        assert len(_blobs(tmp_path)) == 1

    async def test_a_failed_reclassification_keeps_the_old_result(
            self, start_app: Any, auth: Any, slices: Any,
            monkeypatch: pytest.MonkeyPatch) -> None:
        moderator = auth(sub="8", role="moderator")
        async with start_app(raise_app_exceptions=False) as http:
            scan = (await http.post(SCANS, headers=moderator, data={"patient_gender": "male"},
                                    files={"image": ("s.png", slices.file())})).json()
            monkeypatch.setattr(Session, "commit", _failing_commit)
            response = await http.post(f"{SCANS}/{scan['id']}/classification", headers=moderator)
            monkeypatch.undo()
            stored = (await http.get(f"{SCANS}/{scan['id']}", headers=moderator)).json()
        assert response.status_code == 503  # a database failure: retry later
        assert stored == scan

    async def test_scans_survive_a_restart(self, start_app: Any, auth: Any,
                                           slices: Any) -> None:
        data = slices.file(format="tiff")
        async with start_app() as http:
            scan = (await http.post(SCANS, headers=auth(), data={"patient_gender": "male"},
                                    files={"image": ("s.tif", data)})).json()
        async with start_app() as http:
            fetched = (await http.get(f"{SCANS}/{scan['id']}", headers=auth())).json()
            image = await http.get(f"{SCANS}/{scan['id']}/image", headers=auth())
        assert fetched == scan
        assert image.content == data


class TestSweepOrphans:
    async def test_removes_old_blobs_without_rows_only(self, api: Any, tmp_path: Path,
                                                       database_url: str) -> None:
        await api.create()
        (row,) = _scan_rows(database_url)
        store = FilesystemBlobStore(tmp_path / "classify-blobs")
        old_orphan, young_orphan = store.put(b"old"), store.put(b"young")
        stale_temporary = tmp_path / "classify-blobs" / old_orphan[:2] / ".tmp-crashed"
        stale_temporary.write_bytes(b"partial")
        an_hour_ago = time.time() - 3600
        for path in [*_blobs(tmp_path), stale_temporary]:
            if path.name != young_orphan:
                os.utime(path, (an_hour_ago, an_hour_ago))

        settings = ClassifySettings(data_dir=tmp_path, database_url=database_url)
        dry = sweep_orphans(settings.resolved_blob_dir, database_url, referenced_blob_keys,
                            grace_seconds=600, dry_run=True)
        assert (dry.removed, len(_blobs(tmp_path))) == ([old_orphan], 3)
        report = sweep_orphans(settings.resolved_blob_dir, database_url, referenced_blob_keys,
                               grace_seconds=600)

        assert (report.removed, report.temporaries) == ([old_orphan], 1)
        assert not stale_temporary.exists()
        assert {path.name for path in _blobs(tmp_path)} == {young_orphan, row.image_key}


class TestCommandLine:
    def test_migrate_creates_the_sqlite_database(self, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("SPECIMEN_DATA_DIR", str(tmp_path))
        monkeypatch.delenv("SPECIMEN_CLASSIFY_DATABASE_URL", raising=False)
        assert main(["migrate"]) == 0
        engine = build_engine(f"sqlite:///{tmp_path / 'classify.sqlite3'}")
        try:
            with Session(engine) as session:
                assert session.scalar(select(func.count(ScanRow.id))) == 0
        finally:
            engine.dispose()

    def test_sweep_orphans_removes_an_orphan(self, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("SPECIMEN_DATA_DIR", str(tmp_path))
        monkeypatch.delenv("SPECIMEN_CLASSIFY_DATABASE_URL", raising=False)
        monkeypatch.delenv("SPECIMEN_CLASSIFY_BLOB_DIR", raising=False)
        assert main(["migrate"]) == 0
        orphan = FilesystemBlobStore(tmp_path / "classify-blobs").put(b"orphan")
        assert main(["sweep-orphans", "--grace-seconds", "0"]) == 0
        assert not (tmp_path / "classify-blobs" / orphan[:2] / orphan).exists()


class TestDatabase:
    def test_migrated_schema_matches_the_models(self, database_url: str) -> None:
        engine = build_engine(database_url)
        try:
            with engine.connect() as connection:
                context = MigrationContext.configure(connection, opts={"compare_type": True})
                assert compare_metadata(context, Base.metadata) == []
        finally:
            engine.dispose()

    async def test_readiness_checks_the_database(self, start_app: Any) -> None:
        async with start_app() as http:
            ready = await http.get("/readyz")
        async with start_app(database_url="postgresql+psycopg://nobody@127.0.0.1:1/none") as http:
            unready = await http.get("/readyz")
        assert ready.status_code == 200
        assert unready.status_code == 503
