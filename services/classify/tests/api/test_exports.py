"""EcoTaxa and CSV exports: ``POST /projects/{id}/exports`` records an ``ecotaxa-export`` job, a real
forking RQ worker (``python -m specimen_classify worker --burst``, real Redis) writes the file,
``GET /exports/{id}/content`` streams it; the ZIP is read back by EcoTaxa's import rules.

On SQLite and PostgreSQL (``database_url``); Redis db 13 with a queue of the test's own.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from specimen_classify.adapters.ecotaxa_exports import export_blob_keys
from specimen_classify.adapters.jobs import create_job
from specimen_classify.adapters.tables import (
    FrameRow,
    JobRow,
    PlanktonObjectRow,
    ProjectMemberRow,
    ProjectRow,
)
from specimen_classify.cli import kept_blob_keys
from specimen_classify.domain.plankton.ecotaxa import BOM
from specimen_classify.domain.plankton.ecotaxa_import import check_ecotaxa_tsv
from specimen_kit.blobs import FilesystemBlobStore
from specimen_kit.database import build_engine
from specimen_kit.storage import sweep_orphans

REDIS_DB = 13
T0 = datetime(2026, 5, 1, 8, 30, tzinfo=UTC)
OWNER, VIEWER, OUTSIDER = "41", "42", "43"
RUN_SETTINGS = {"threshold": "otsu", "min_area": 10, "padding": 8, "fade_background": 0.0, "model_version": 1}


@pytest.fixture
def redis_url() -> Iterator[str]:
    """Redis db 13, emptied before and after: every test's database numbers its tasks from 1, and
    the RQ job ids derive from the task ids, so a job left by another test would hide this one's."""
    url = f"redis://127.0.0.1:6379/{REDIS_DB}"
    connection = Redis.from_url(url)
    try:
        connection.flushdb()
    except Exception as error:  # pragma: no cover - the suite's Redis is part of the environment
        pytest.fail(f"Redis at {url} is needed: {error}")
    yield url
    connection.flushdb()
    connection.close()


@pytest.fixture
def queue_name() -> str:
    return f"test-exports-{uuid.uuid4().hex[:8]}"


def _png(value: int) -> bytes:
    _, png = cv2.imencode(".png", np.full((12, 16), value, np.uint8))
    return png.tobytes()


def seed_project(database_url: str, blob_dir: Path) -> dict[str, Any]:
    """A project of OWNER (VIEWER a member): 2 frames, 5 objects (2 validated by Zoé), a run."""
    store = FilesystemBlobStore(blob_dir)
    engine = build_engine(database_url)
    try:
        with Session(engine) as session:
            project = ProjectRow(name="Cruise 42", description="", instrument="sHIP", pixel_size_um=10.0,
                                 settings="{}", owner_id=int(OWNER), created_at=T0, updated_at=T0)
            session.add(project)
            session.flush()
            session.add(ProjectMemberRow(project_id=project.id, user_id=int(VIEWER), role="viewer",
                                         added_at=T0))
            run, _ = create_job(session, kind="plankton-run", project_id=project.id, created_by=int(OWNER),
                                hospital=None, params=RUN_SETTINGS, params_hash="0" * 64, tasks=[])
            frames = []
            for index in range(2):
                frame = FrameRow(project_id=project.id, file_name=f"frame_{index}.png",
                                 image_key=uuid.uuid4().hex, media_type="image/png", bytes=1, width=64,
                                 height=64, sample_id="st1", acq_id=f"st1_a{index}", latitude=43.68,
                                 longitude=7.31, depth_min=0.0, depth_max=50.0, taken_at=T0,
                                 created_by=int(OWNER), created_at=T0)
                session.add(frame)
                frames.append(frame)
            session.flush()
            statuses = ["predicted", "validated", "dubious", "validated", "predicted"]
            categories = ["copepod", "copepod", "fecal_pellet", "single_cell", "copepod"]
            for i, (status, category) in enumerate(zip(statuses, categories, strict=True)):
                human = status != "predicted"
                session.add(PlanktonObjectRow(
                    project_id=project.id, frame_id=frames[i % 2].id, job_id=run.id, rank=i // 2 + 1,
                    min_row=1, min_col=2, max_row=11, max_col=12, centroid_row=6.0, centroid_col=7.0,
                    features=json.dumps({"area": 80.0 + i, "perimeter": 31.5}), feature_set_version="2",
                    crop_key=store.put(_png(10 * i)), mask_key=None, category=category, probability=0.9,
                    scores="{}", model_name="plankton", model_version=1, status=status,
                    annotated_by=int(VIEWER) if human else None, annotated_by_name="Zoé" if human else None,
                    annotated_at=T0 if human else None, created_at=T0))
            session.commit()
            return {"id": project.id, "run": run.id}
    finally:
        engine.dispose()


def run_worker(database_url: str, settings: dict[str, str]) -> None:
    """A real worker process (the ``worker`` command) that quits once the queue is empty."""
    env = {**os.environ, **settings, "SPECIMEN_CLASSIFY_DATABASE_URL": database_url,
           "SPECIMEN_LOG_LEVEL": "WARNING"}
    done = subprocess.run([sys.executable, "-m", "specimen_classify", "worker", "--burst"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture
def exports(start_app: Callable[..., Any], database_url: str, model_dir: Path, tmp_path: Path,
            redis_url: str, queue_name: str, auth: Callable[..., dict[str, str]]) -> Any:
    blob_dir = tmp_path / "classify-blobs"
    project = seed_project(database_url, blob_dir)
    worker_env = {"SPECIMEN_REDIS_URL": redis_url, "SPECIMEN_CLASSIFY_JOBS_QUEUE": queue_name,
                  "SPECIMEN_CLASSIFY_MODEL_DIR": str(model_dir), "SPECIMEN_CLASSIFY_BLOB_DIR": str(blob_dir),
                  "SPECIMEN_DATA_DIR": str(tmp_path)}

    class Exports:
        owner = auth(sub=OWNER, role="technician")
        viewer = auth(sub=VIEWER, role="technician")
        outsider = auth(sub=OUTSIDER, role="moderator")
        admin = auth(sub="1", role="admin")
        project_id = project["id"]
        run_id = project["run"]
        app = start_app(redis_url=redis_url, jobs_queue=queue_name, blob_dir=blob_dir)

        @staticmethod
        def work() -> None:
            run_worker(database_url, worker_env)

    return Exports


async def _export(http: Any, exports: Any, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    created = await http.post(f"/api/v1/projects/{exports.project_id}/exports", json=body, headers=headers)
    assert created.status_code == 202, created.text
    assert created.headers["location"] == f"/api/v1/jobs/{created.json()['id']}"
    job: dict[str, Any] = created.json()
    return job


class TestEcotaxaZip:
    async def test_viewer_exports_a_zip_ecotaxa_accepts(self, exports: Any) -> None:
        async with exports.app as http:
            job = await _export(http, exports, {"format": "ecotaxa"}, exports.viewer)
            assert (job["status"], job["content_url"]) == ("queued", None)
            early = await http.get(f"/api/v1/exports/{job['id']}/content", headers=exports.viewer)
            assert early.status_code == 409 and early.json()["type"].endswith("/export-not-ready")
            exports.work()
            state = (await http.get(f"/api/v1/exports/{job['id']}", headers=exports.viewer)).json()
            assert state["status"] == "succeeded", state["error"]
            assert state["objects"] == 5 and state["file_name"] == "ecotaxa_cruise_42.zip"
            content = await http.get(state["content_url"], headers=exports.viewer)
        assert content.status_code == 200
        assert content.headers["content-type"] == "application/zip"
        assert 'filename="ecotaxa_cruise_42.zip"' in content.headers["content-disposition"]
        assert int(content.headers["content-length"]) == len(content.content) == state["bytes"]
        with zipfile.ZipFile(io.BytesIO(content.content)) as archive:
            names = set(archive.namelist())
            tsv = archive.read("ecotaxa_cruise_42.tsv")
            crops = [archive.read(name) for name in sorted(names) if name.endswith(".png")]
        assert tsv.startswith(BOM)  # "Zoé" validated two objects
        report = check_ecotaxa_tsv(tsv, image_names=names)
        assert report.ok, report.errors
        assert report.rows == 5 and len(crops) == 5 and all(c.startswith(b"\x89PNG") for c in crops)
        lines = list(csv.DictReader(io.StringIO(tsv.decode("utf-8-sig")), delimiter="\t"))[1:]
        assert {line["process_id"] for line in lines} == {f"run_{exports.run_id}"}
        assert {line["process_padding"] for line in lines} == {"8"}
        validated = [line for line in lines if line["object_annotation_status"] == "validated"]
        assert [line["object_annotation_person_name"] for line in validated] == ["Zoé", "Zoé"]

    async def test_filters_as_the_review_list(self, exports: Any) -> None:
        async with exports.app as http:
            body = {"status": ["validated"], "category": ["copepod"]}
            job = await _export(http, exports, body, exports.owner)
            exports.work()
            state = (await http.get(f"/api/v1/exports/{job['id']}", headers=exports.owner)).json()
            content = await http.get(state["content_url"], headers=exports.owner)
        assert state["filters"] == {"status": ["validated"], "category": ["copepod"]}
        with zipfile.ZipFile(io.BytesIO(content.content)) as archive:
            tsv = archive.read("ecotaxa_cruise_42.tsv")
            report = check_ecotaxa_tsv(tsv, image_names=set(archive.namelist()))
        assert report.ok and report.rows == 1

    async def test_nothing_matching_gives_an_empty_file_ecotaxa_accepts(self, exports: Any) -> None:
        async with exports.app as http:
            job = await _export(http, exports, {"category": ["no such"]}, exports.owner)
            exports.work()
            state = (await http.get(f"/api/v1/exports/{job['id']}", headers=exports.owner)).json()
            content = await http.get(state["content_url"], headers=exports.owner)
        with zipfile.ZipFile(io.BytesIO(content.content)) as archive:
            report = check_ecotaxa_tsv(archive.read("ecotaxa_cruise_42.tsv"))
        assert report.ok and report.rows == 0 and state["objects"] == 0

    async def test_export_file_survives_sweep_orphans(self, exports: Any, database_url: str,
                                                      tmp_path: Path) -> None:
        async with exports.app as http:
            job = await _export(http, exports, {}, exports.owner)
            exports.work()
            report = sweep_orphans(tmp_path / "classify-blobs", database_url, kept_blob_keys, grace_seconds=0)
            content = await http.get(f"/api/v1/exports/{job['id']}/content", headers=exports.owner)
        engine = build_engine(database_url)
        try:
            with Session(engine) as session:
                stored = session.scalar(select(JobRow.result).where(JobRow.id == job["id"]))
                result = json.loads(stored or "{}")
                assert result["blob_key"] in export_blob_keys(session)
        finally:
            engine.dispose()
        assert result["blob_key"] not in report.removed
        assert content.status_code == 200 and len(content.content) == result["bytes"]


class TestCsv:
    async def test_csv_of_the_same_rows(self, exports: Any) -> None:
        async with exports.app as http:
            job = await _export(http, exports, {"format": "csv"}, exports.owner)
            exports.work()
            state = (await http.get(f"/api/v1/exports/{job['id']}", headers=exports.owner)).json()
            content = await http.get(state["content_url"], headers=exports.owner)
        assert content.headers["content-type"].startswith("text/csv")
        assert state["file_name"] == "cruise_42_objects.csv"
        rows = list(csv.DictReader(io.StringIO(content.content.decode("utf-8"))))
        assert len(rows) == 5
        assert {row["object_area"] for row in rows} == {"80.0", "81.0", "82.0", "83.0", "84.0"}


class TestAccess:
    async def test_outsider_gets_404_everywhere(self, exports: Any) -> None:
        async with exports.app as http:
            hidden = await http.post(f"/api/v1/projects/{exports.project_id}/exports", json={},
                                     headers=exports.outsider)
            missing = await http.post("/api/v1/projects/999999/exports", json={}, headers=exports.owner)
            job = await _export(http, exports, {}, exports.owner)
            status_read = await http.get(f"/api/v1/exports/{job['id']}", headers=exports.outsider)
            content = await http.get(f"/api/v1/exports/{job['id']}/content", headers=exports.outsider)
            admin = await http.get(f"/api/v1/exports/{job['id']}", headers=exports.admin)
        assert (hidden.status_code, missing.status_code) == (404, 404)
        assert hidden.json()["type"].endswith("/project-not-found")
        assert (status_read.status_code, content.status_code) == (404, 404)
        assert status_read.json()["type"].endswith("/export-not-found")
        assert admin.status_code == 200

    async def test_a_run_job_is_no_export(self, exports: Any, database_url: str) -> None:
        engine = build_engine(database_url)
        try:
            with Session(engine) as session:
                run_id = session.scalar(select(JobRow.id).where(JobRow.kind == "plankton-run"))
        finally:
            engine.dispose()
        async with exports.app as http:
            response = await http.get(f"/api/v1/exports/{run_id}/content", headers=exports.owner)
        assert response.status_code == 404

    @pytest.mark.parametrize("body", [{"format": "xlsx"}, {"status": ["maybe"]}, {"surprise": 1}])
    async def test_bad_bodies_are_422(self, exports: Any, body: dict[str, Any]) -> None:
        async with exports.app as http:
            response = await http.post(f"/api/v1/projects/{exports.project_id}/exports", json=body,
                                       headers=exports.owner)
        assert response.status_code == 422


class TestCancel:
    def test_a_cancelled_export_stops_and_stores_nothing(self, database_url: str, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
        from specimen_classify.adapters import ecotaxa_exports
        from specimen_classify.adapters.ecotaxa_export_repository import ExportFilters
        from specimen_classify.domain.jobs import TaskCancelled

        blob_dir = tmp_path / "classify-blobs"
        project = seed_project(database_url, blob_dir)
        before = set(FilesystemBlobStore(blob_dir).keys())
        monkeypatch.setattr(ecotaxa_exports, "CHECKPOINT_EVERY", 2)
        calls = []

        def checkpoint() -> None:
            calls.append(1)
            raise TaskCancelled("job was cancelled")

        engine = build_engine(database_url)
        try:
            with Session(engine) as session, pytest.raises(TaskCancelled):
                ecotaxa_exports.write_export(session, FilesystemBlobStore(blob_dir), project["id"], "ecotaxa",
                                             ExportFilters(), spool_dir=blob_dir, checkpoint=checkpoint)
        finally:
            engine.dispose()
        assert calls == [1]
        assert set(FilesystemBlobStore(blob_dir).keys()) == before
        assert [p.name for p in blob_dir.iterdir() if p.is_file()] == []  # no temporary file left
