"""Scan imports: ``POST /scans/imports`` records a ``scan-import`` job, a real forking RQ worker
(``python -m specimen_classify worker --burst``, a ``redis-server`` of the test's own) files each
slice as ``POST /scans`` would; bad members fail alone with their reason and the job completes.

On SQLite and PostgreSQL (``database_url``).
"""

from __future__ import annotations

import base64
import csv
import io
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from redis import Redis
from sqlalchemy import func, select, update

from specimen_classify.adapters.jobs import JobQueue
from specimen_classify.adapters.scan_imports import import_blob_keys
from specimen_classify.adapters.tables import JobTaskRow, ScanRow
from specimen_classify.cli import kept_blob_keys
from specimen_kit.database import build_engine, build_sessionmaker
from specimen_kit.launch import RedisServer, redis_server_binary

pytestmark = pytest.mark.skipif(redis_server_binary() is None, reason="no redis-server binary")
IMPORTS = "/api/v1/scans/imports"
QUEUE = "test-scan-imports"


def zip_of(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def table(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


class Bench:
    def __init__(self, database_url: str, tmp_path: Path, model_dir: Path, redis: RedisServer,
                 auth: Callable[..., dict[str, str]], start_app: Callable[..., Any]) -> None:
        self.database_url = database_url
        self.redis = redis
        self.blob_dir = tmp_path / "classify-blobs"
        self.env = {**os.environ, "SPECIMEN_DATA_DIR": str(tmp_path),
                    "SPECIMEN_CLASSIFY_DATABASE_URL": database_url,
                    "SPECIMEN_CLASSIFY_MODEL_DIR": str(model_dir),
                    "SPECIMEN_CLASSIFY_BLOB_DIR": str(self.blob_dir),
                    "SPECIMEN_REDIS_URL": redis.url, "SPECIMEN_CLASSIFY_JOBS_QUEUE": QUEUE,
                    "SPECIMEN_LOG_LEVEL": "WARNING"}
        self.app = start_app(redis_url=redis.url, jobs_queue=QUEUE, blob_dir=self.blob_dir)
        self.technician = auth(sub="7", role="technician", hospital="General")
        self.other_technician = auth(sub="17", role="technician", hospital="General")
        self.moderator = auth(sub="8", role="moderator", hospital="General")
        self.other_moderator = auth(sub="9", role="moderator", hospital="St Mary")
        self.admin = auth(sub="1", role="admin", hospital="Headquarters")
        self.engine = build_engine(database_url)
        self.sessions = build_sessionmaker(self.engine)

    def work(self) -> None:
        done = subprocess.run([sys.executable, "-m", "specimen_classify", "worker", "--burst"],
                              env=self.env, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr[-3000:]

    def scans(self) -> int:
        with self.sessions() as session:
            return session.scalar(select(func.count(ScanRow.id))) or 0


@pytest.fixture
def bench(database_url: str, tmp_path: Path, model_dir: Path, redis_server: RedisServer,
          auth: Callable[..., dict[str, str]], start_app: Callable[..., Any]) -> Iterator[Bench]:
    made = Bench(database_url, tmp_path, model_dir, redis_server, auth, start_app)
    try:
        yield made
    finally:
        made.engine.dispose()


async def _start(http: Any, archive: bytes, headers: dict[str, str], *, metadata: bytes | None = None,
                 **fields: str) -> dict[str, Any]:
    files: dict[str, Any] = {"archive": ("slices.zip", archive, "application/zip")}
    if metadata is not None:
        files["metadata"] = ("scans.csv", metadata, "text/csv")
    created = await http.post(IMPORTS, files=files, data=fields, headers=headers)
    assert created.status_code == 202, created.text
    assert created.headers["location"] == f"/api/v1/jobs/{created.json()['id']}"
    job: dict[str, Any] = created.json()
    return job


class TestImport:
    async def test_each_slice_is_filed_as_post_scans_files_it_and_bad_members_fail_alone(
            self, bench: Bench, slices: Any) -> None:
        good = {f"study/slice_{i}.png": slices.file(seed=i) for i in range(3)}
        members = {**good, "study/slice_3.dcm": slices.file(seed=3, format="dicom"),
                   "study/blank.png": slices.encode(np.zeros((slices.size, slices.size), np.uint8)),
                   "study/readme.txt": b"not an image",
                   "../escape.png": slices.file(seed=4),
                   "scans.csv": table([
                       {"file_name": "slice_0.png", "patient_ref": "P-1", "true_label": "tumor",
                        "notes": "a"},
                       {"file_name": "study/slice_1.png", "patient_ref": "P-2", "true_label": "",
                        "notes": ""},
                       {"file_name": "missing.png", "patient_ref": "P-9", "true_label": "", "notes": ""}])}
        async with bench.app as http:
            job = await _start(http, zip_of(members), bench.technician, patient_gender="female")
            assert job["kind"] == "scan-import" and job["status"] == "queued"
            assert job["progress"]["total"] == 7 and job["progress"]["failed"] == 1
            assert [e["item"] for e in job["errors"]] == ["../escape.png"]
            assert job["params"]["unmatched"] == ["missing.png"]
            bench.work()
            done = (await http.get(f"/api/v1/jobs/{job['id']}", headers=bench.technician)).json()
            listed = (await http.get("/api/v1/scans?sort=id", headers=bench.technician)).json()
            direct = await bench_direct(http, bench, good["study/slice_0.png"])
        assert done["status"] == "succeeded", done
        assert done["progress"] == {"total": 7, "done": 4, "failed": 3, "objects": 4}
        reasons = {e["item"]: e["error"] for e in done["errors"]}
        assert set(reasons) == {"../escape.png", "study/blank.png", "study/readme.txt"}
        assert "unsafe path" in reasons["../escape.png"]
        assert "brain" in reasons["study/blank.png"].lower()
        assert listed["total"] == 4
        scans = sorted(listed["items"], key=lambda s: s["id"])
        by_ref = {s["patient_ref"]: s for s in scans}
        assert by_ref["P-1"]["true_label"] == "tumor" and by_ref["P-1"]["notes"] == "a"
        assert by_ref["P-2"]["true_label"] is None
        assert {s["hospital"] for s in scans} == {"general"}
        assert {s["patient_gender"] for s in scans} == {"female"}
        assert {s["created_by"] for s in scans} == {7}
        dicom = [s for s in scans if s["image"]["media_type"] == "application/dicom"]
        assert len(dicom) == 1
        # The same classification as POST /scans gives the same bytes.
        first = by_ref["P-1"]["classification"]
        assert (first["label"], first["probability"], first["model"]) == (
            direct["classification"]["label"], direct["classification"]["probability"],
            direct["classification"]["model"])

    async def test_a_task_run_again_after_its_scan_was_committed_files_no_second_scan(
            self, bench: Bench, slices: Any) -> None:
        async with bench.app as http:
            job = await _start(http, zip_of({"a.png": slices.file(seed=0), "b.png": slices.file(seed=1)}),
                               bench.technician, patient_gender="male")
            bench.work()
            assert bench.scans() == 2
            # A worker lost after its commit: the reconciler queues the task again.
            with bench.sessions() as session, session.begin():
                task_ids = list(session.scalars(select(JobTaskRow.id).where(JobTaskRow.job_id == job["id"])))
                session.execute(update(JobTaskRow).where(JobTaskRow.id.in_(task_ids)).values(
                    status="queued", finished_at=None))
            JobQueue(Redis.from_url(bench.redis.url), QUEUE).enqueue(task_ids, force=True)
            bench.work()
            done = (await http.get(f"/api/v1/jobs/{job['id']}", headers=bench.technician)).json()
        assert bench.scans() == 2
        assert done["status"] == "succeeded" and done["progress"]["done"] == 2

    async def test_archive_is_kept_until_every_member_is_filed(self, bench: Bench, slices: Any) -> None:
        async with bench.app as http:
            job = await _start(http, zip_of({"a.png": slices.file(seed=0), "x.txt": b"no"}),
                               bench.technician, patient_gender="other")
            key = job["params"]["archive"]["blob_key"]
            with bench.sessions() as session:
                assert key in kept_blob_keys(session)
            bench.work()
            with bench.sessions() as session:
                assert key in import_blob_keys(session)  # x.txt failed: a retry would need it


class TestBodies:
    async def test_json_with_a_base64_zip_and_a_raw_zip_are_read_as_the_multipart_form(
            self, bench: Bench, slices: Any) -> None:
        archive = zip_of({"a.png": slices.file(seed=0), "b.png": slices.file(seed=1)})
        async with bench.app as http:
            as_json = await http.post(IMPORTS, json={
                "archive": "data:application/zip;base64," + base64.b64encode(archive).decode(),
                "metadata": "file_name,patient_ref\nb.png,P-7\n", "patient_gender": "female"},
                headers=bench.technician)
            raw = await http.post(IMPORTS, content=archive, headers={
                **bench.technician, "content-type": "application/zip"})
            bad = await http.post(IMPORTS, json={"archive": "not base64!"}, headers=bench.technician)
        assert as_json.status_code == 202, as_json.text
        assert as_json.json()["params"]["fields"] == {"b.png": {"patient_ref": "P-7"}}
        assert as_json.json()["params"]["defaults"] == {"patient_gender": "female"}
        assert raw.status_code == 202 and raw.json()["progress"]["total"] == 2
        assert bad.status_code == 422


class TestVisibility:
    async def test_creator_hospital_moderators_and_admins_see_the_job_others_404(
            self, bench: Bench, slices: Any) -> None:
        async with bench.app as http:
            job = await _start(http, zip_of({"a.png": slices.file()}), bench.technician,
                               patient_gender="unknown")
            url = f"/api/v1/jobs/{job['id']}"
            seen = {name: (await http.get(url, headers=headers)).status_code
                    for name, headers in [("creator", bench.technician), ("moderator", bench.moderator),
                                          ("admin", bench.admin), ("technician", bench.other_technician),
                                          ("other_moderator", bench.other_moderator)]}
            cancel_other = await http.post(f"{url}/cancel", headers=bench.other_moderator)
            cancel = await http.post(f"{url}/cancel", headers=bench.moderator)
        assert seen == {"creator": 200, "moderator": 200, "admin": 200, "technician": 404,
                        "other_moderator": 404}
        assert cancel_other.status_code == 404
        assert cancel.status_code == 202 and cancel.json()["status"] == "cancelled"


class TestRefused:
    async def test_bad_archives_and_tables_are_422_and_record_nothing(self, bench: Bench,
                                                                      slices: Any) -> None:
        async with bench.app as http:
            not_zip = await http.post(IMPORTS, files={"archive": ("a.zip", b"PK\x03\x04 broken")},
                                      headers=bench.technician)
            only_bad = await http.post(IMPORTS, files={"archive": ("a.zip", zip_of({"../x.png": b"1"}))},
                                       headers=bench.technician)
            bad_table = await http.post(
                IMPORTS, files={"archive": ("a.zip", zip_of({"a.png": slices.file()})),
                                "metadata": ("m.csv", b"file_name,weight\na.png,3\n")},
                headers=bench.technician)
            no_archive = await http.post(IMPORTS, files={"metadata": ("m.csv", b"file_name\n")},
                                         data={"patient_gender": "male"}, headers=bench.technician)
            wrong_type = await http.post(IMPORTS, content=b"a,b", headers={
                **bench.technician, "content-type": "text/csv"})
            bad_gender = await http.post(IMPORTS, files={"archive": ("a.zip", zip_of({"a.png": b"x"}))},
                                         data={"patient_gender": "robot"}, headers=bench.technician)
        assert not_zip.status_code == 422 and not_zip.json()["type"].endswith("/archive-refused")
        assert only_bad.status_code == 422 and only_bad.json()["type"].endswith("/no-scans-to-import")
        assert only_bad.json()["rejected"][0]["file_name"] == "../x.png"
        assert bad_table.status_code == 422 and bad_table.json()["type"].endswith("/invalid-scan-table")
        assert no_archive.status_code == 422 and "archive" in no_archive.json()["detail"]
        assert wrong_type.status_code == 415
        assert bad_gender.status_code == 422
        assert bench.scans() == 0

    async def test_an_archive_past_the_member_limit_is_refused_whole(
            self, database_url: str, model_dir: Path, redis_server: RedisServer, tmp_path: Path,
            auth: Callable[..., dict[str, str]], start_app: Callable[..., Any], slices: Any) -> None:
        app = start_app(redis_url=redis_server.url, jobs_queue=QUEUE, blob_dir=tmp_path / "b",
                        scan_import_max_members=2)
        archive = zip_of({f"{i}.png": slices.file(seed=i) for i in range(3)})
        async with app as http:
            refused = await http.post(
                IMPORTS, files={"archive": ("a.zip", archive)},
                headers=auth(sub="7", role="technician", hospital="General"))
        assert refused.status_code == 422 and "more than the limit of 2" in refused.json()["detail"]

    async def test_without_redis_an_import_is_503(self, start_app: Callable[..., Any],
                                                   auth: Callable[..., dict[str, str]], slices: Any) -> None:
        async with start_app() as http:
            answer = await http.post(IMPORTS, files={"archive": ("a.zip", zip_of({"a.png": slices.file()}))},
                                     headers=auth(sub="7", role="technician", hospital="General"))
        assert answer.status_code == 503 and answer.json()["type"].endswith("/jobs-unavailable")


async def bench_direct(http: Any, bench: Bench, data: bytes) -> dict[str, Any]:
    """The same slice filed with ``POST /scans`` (then deleted again by a moderator)."""
    created = await http.post("/api/v1/scans", files={"image": ("s.png", data)},
                              data={"patient_gender": "female"}, headers=bench.technician)
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    deleted = await http.delete(f"/api/v1/scans/{body['id']}", headers=bench.moderator)
    assert deleted.status_code == 204
    return body
