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

from specimen_kit.blobs import FilesystemBlobStore
from specimen_kit.database import build_engine
from specimen_kit.problems import PROBLEM_JSON
from specimen_kit.storage import sweep_orphans
from specimen_segment.adapters.models import Base, ImageRow
from specimen_segment.adapters.repository import SqlLibraryRepository, referenced_blob_keys
from specimen_segment.cli import main
from specimen_segment.config import SegmentSettings

IMAGES = "/api/v1/images"


def _blobs(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "segment-blobs").glob("??/[0-9a-f]*"))


def _image_rows(database_url: str) -> int:
    engine = build_engine(database_url)
    try:
        with Session(engine) as session:
            return session.scalar(select(func.count(ImageRow.id))) or 0
    finally:
        engine.dispose()


class TestQuotas:
    async def test_image_count_quota(self, start_app: Any, auth: Any, make_image: Any,
                                     tmp_path: Path) -> None:
        async with start_app(quota_images=2) as http:
            for seed in range(2):
                ok = await http.post(IMAGES, headers=auth(),
                                     files={"file": ("a.png", make_image("png", seed=seed))})
                assert ok.status_code == 201
            refused = await http.post(IMAGES, headers=auth(),
                                      files={"file": ("a.png", make_image("png"))})
            other_user = await http.post(IMAGES, headers=auth(sub="8"),
                                         files={"file": ("a.png", make_image("png"))})
        assert refused.status_code == 409
        assert refused.headers["content-type"] == PROBLEM_JSON
        problem = refused.json()
        assert problem["type"].endswith("quota-exceeded")
        assert (problem["quota"], problem["used"], problem["limit"]) == ("images", 2, 2)
        assert "2 images of the 2 allowed" in problem["detail"]
        assert other_user.status_code == 201  # quotas are per user
        assert len(_blobs(tmp_path)) == 3

    async def test_byte_quota_counts_originals(self, start_app: Any, auth: Any,
                                               make_image: Any, tmp_path: Path) -> None:
        first, second = make_image("bmp", (8, 8), seed=1), make_image("bmp", (8, 8), seed=2)
        async with start_app(quota_bytes=len(first) + len(second) - 1) as http:
            ok = await http.post(IMAGES, headers=auth(), files={"file": ("a.bmp", first)})
            refused = await http.post(IMAGES, headers=auth(), files={"file": ("b.bmp", second)})
        assert ok.status_code == 201
        assert refused.status_code == 409
        problem = refused.json()
        assert (problem["quota"], problem["used"], problem["requested"], problem["limit"]) == (
            "bytes", len(first), len(second), len(first) + len(second) - 1)
        assert len(_blobs(tmp_path)) == 1

    async def test_deleting_frees_the_quota(self, start_app: Any, auth: Any,
                                            make_image: Any) -> None:
        async with start_app(quota_images=1) as http:
            image = (await http.post(IMAGES, headers=auth(),
                                     files={"file": ("a.png", make_image("png"))})).json()
            await http.delete(f"{IMAGES}/{image['id']}", headers=auth())
            again = await http.post(IMAGES, headers=auth(),
                                    files={"file": ("a.png", make_image("png"))})
        assert again.status_code == 201


class TestNoOrphans:
    async def test_failed_commit_leaves_no_blob(self, start_app: Any, auth: Any, make_image: Any,
                                                tmp_path: Path, database_url: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
        def failing_commit(self: Session) -> None:
            raise OperationalError("COMMIT", {}, Exception("disk full"))

        async with start_app(raise_app_exceptions=False) as http:
            monkeypatch.setattr(Session, "commit", failing_commit)
            response = await http.post(IMAGES, headers=auth(),
                                       files={"file": ("a.png", make_image("png"))})
            monkeypatch.undo()
        assert response.status_code == 503  # a database failure: retry later
        assert response.headers["content-type"] == PROBLEM_JSON
        assert _blobs(tmp_path) == []
        assert list((tmp_path / "segment-blobs").rglob("*.*")) == []  # no temporary file
        assert _image_rows(database_url) == 0

    async def test_failed_insert_leaves_no_blob(self, start_app: Any, auth: Any, make_image: Any,
                                                tmp_path: Path, database_url: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
        def failing_add(self: SqlLibraryRepository, image: Any) -> None:
            raise OperationalError("INSERT", {}, Exception("connection lost"))

        monkeypatch.setattr(SqlLibraryRepository, "add_image", failing_add)
        async with start_app(raise_app_exceptions=False) as http:
            response = await http.post(IMAGES, headers=auth(),
                                       files={"file": ("a.png", make_image("png"))})
        assert response.status_code == 503  # a database failure: retry later
        assert _blobs(tmp_path) == []
        assert _image_rows(database_url) == 0

    async def test_failed_delete_keeps_the_blob(self, start_app: Any, auth: Any, make_image: Any,
                                                tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
        async with start_app(raise_app_exceptions=False) as http:
            image = (await http.post(IMAGES, headers=auth(),
                                     files={"file": ("a.png", make_image("png"))})).json()

            def failing_commit(self: Session) -> None:
                raise OperationalError("COMMIT", {}, Exception("disk full"))

            monkeypatch.setattr(Session, "commit", failing_commit)
            response = await http.delete(f"{IMAGES}/{image['id']}", headers=auth())
            monkeypatch.undo()
            content = await http.get(f"{IMAGES}/{image['id']}/content", headers=auth())
        assert response.status_code == 503  # a database failure: retry later
        assert content.status_code == 200
        assert len(_blobs(tmp_path)) == 1

    async def test_stored_data_survives_a_restart(self, start_app: Any, auth: Any,
                                                  make_image: Any) -> None:
        data = make_image("png")
        async with start_app() as http:
            image = (await http.post(IMAGES, headers=auth(),
                                     files={"file": ("a.png", data)})).json()
        async with start_app() as http:
            content = await http.get(f"{IMAGES}/{image['id']}/content", headers=auth())
        assert content.content == data


class TestSweepOrphans:
    async def test_removes_old_blobs_without_rows_only(self, start_app: Any, auth: Any,
                                                       make_image: Any, tmp_path: Path,
                                                       database_url: str) -> None:
        async with start_app() as http:
            image = (await http.post(IMAGES, headers=auth(),
                                     files={"file": ("a.png", make_image("png"))})).json()
        store = FilesystemBlobStore(tmp_path / "segment-blobs")
        old_orphan, young_orphan = store.put(b"old"), store.put(b"young")
        stale_temporary = tmp_path / "segment-blobs" / old_orphan[:2] / ".tmp-crashed"
        stale_temporary.write_bytes(b"partial")
        an_hour_ago = time.time() - 3600
        for path in [*_blobs(tmp_path), stale_temporary]:
            if path.name != young_orphan:
                os.utime(path, (an_hour_ago, an_hour_ago))

        settings = SegmentSettings(data_dir=tmp_path, database_url=database_url)
        dry = sweep_orphans(settings.resolved_blob_dir, database_url, referenced_blob_keys,
                            grace_seconds=600, dry_run=True)
        assert dry.removed == [old_orphan]
        assert len(_blobs(tmp_path)) == 3
        report = sweep_orphans(settings.resolved_blob_dir, database_url, referenced_blob_keys,
                               grace_seconds=600)

        assert (report.removed, report.temporaries) == ([old_orphan], 1)
        assert not stale_temporary.exists()
        assert {path.name for path in _blobs(tmp_path)} == {young_orphan, _blob_of(image, tmp_path,
                                                                                    database_url)}

    def test_command_line(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("SPECIMEN_DATA_DIR", str(tmp_path))
        monkeypatch.delenv("SPECIMEN_SEGMENT_DATABASE_URL", raising=False)
        assert main(["migrate"]) == 0
        assert (tmp_path / "segment.sqlite3").exists()
        orphan = FilesystemBlobStore(tmp_path / "segment-blobs").put(b"orphan")
        assert main(["sweep-orphans", "--grace-seconds", "0"]) == 0
        assert not (tmp_path / "segment-blobs" / orphan[:2] / orphan).exists()


def _blob_of(image: dict[str, Any], tmp_path: Path, database_url: str) -> str:
    engine = build_engine(database_url)
    try:
        with Session(engine) as session:
            row = session.scalar(select(ImageRow).where(ImageRow.name == image["name"]))
            assert row is not None
            return row.blob_key
    finally:
        engine.dispose()


class TestDatabase:
    def test_migrated_schema_matches_the_models(self, database_url: str) -> None:
        engine = build_engine(database_url)
        try:
            with engine.connect() as connection:
                context = MigrationContext.configure(connection, opts={"compare_type": True})
                assert compare_metadata(context, Base.metadata) == []
        finally:
            engine.dispose()

    async def test_readiness_checks_the_database(self, start_app: Any, tmp_path: Path) -> None:
        async with start_app() as http:
            ready = await http.get("/readyz")
        assert ready.status_code == 200
        async with start_app(database_url="postgresql+psycopg://nobody@127.0.0.1:1/none") as http:
            unready = await http.get("/readyz")
        assert unready.status_code == 503
