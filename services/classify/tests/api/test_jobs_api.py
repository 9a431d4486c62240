"""The runs and ``/jobs`` routes: 202 + Location, progress to the end with a real RQ worker
process on a private redis-server, who may see and change a job (404 outside), validation,
cancel and retry answers."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from specimen_classify.adapters.tables import FrameRow, ProjectMemberRow, ProjectRow
from specimen_classify.api import jobs as jobs_api
from specimen_classify.domain import synthetic_plankton
from specimen_imaging.codecs import encode_image
from specimen_kit.blobs import FilesystemBlobStore
from specimen_kit.database import build_engine, build_sessionmaker
from specimen_kit.launch import RedisServer, redis_server_binary
from specimen_kit.timestamps import utc_now

pytestmark = pytest.mark.skipif(redis_server_binary() is None, reason="no redis-server binary")

OWNER, VIEWER, MANAGER, STRANGER, ADMIN = "7", "8", "9", "10", "11"
SIDE = 256


def _frame(index: int) -> bytes:
    frame = synthetic_plankton.plankton_frame((5, index), dict.fromkeys(synthetic_plankton.CATEGORIES, 1),
                                              SIDE, SIDE)
    return encode_image(frame.image, "png")


def _project(database_url: str, blob_dir: Path, frames: int,
             settings: str = "{}") -> tuple[int, list[int]]:
    engine = build_engine(database_url)
    blobs = FilesystemBlobStore(blob_dir)
    now = utc_now()
    try:
        with build_sessionmaker(engine)() as session, session.begin():
            project = ProjectRow(name="cruise", description=None, instrument=None, pixel_size_um=None,
                                 settings=settings, owner_id=int(OWNER), created_at=now, updated_at=now)
            session.add(project)
            session.flush()
            session.add_all([
                ProjectMemberRow(project_id=project.id, user_id=int(VIEWER), role="viewer", added_at=now),
                ProjectMemberRow(project_id=project.id, user_id=int(MANAGER), role="manager", added_at=now)])
            rows = []
            for i in range(frames):
                data = _frame(i)
                rows.append(FrameRow(project_id=project.id, file_name=f"f{i}", image_key=blobs.put(data),
                                     media_type="image/png", bytes=len(data), width=SIDE, height=SIDE,
                                     created_by=int(OWNER), created_at=now))
            session.add_all(rows)
            session.flush()
            return project.id, [row.id for row in rows]
    finally:
        engine.dispose()


@pytest.fixture
def jobs_app(start_app: Any, redis_server: RedisServer, database_url: str, tmp_path: Path) -> Any:
    def start(**overrides: Any) -> Any:
        return start_app(**{"redis_url": redis_server.url, "jobs_queue": "api-test", **overrides})
    return start


def _worker(tmp_path: Path, database_url: str, model_dir: Path, redis_url: str,
            *args: str) -> subprocess.Popen[bytes]:
    log = open(tmp_path / "worker.log", "ab")  # noqa: SIM115
    env = {**os.environ, "SPECIMEN_DATA_DIR": str(tmp_path), "SPECIMEN_CLASSIFY_DATABASE_URL": database_url,
           "SPECIMEN_CLASSIFY_MODEL_DIR": str(model_dir), "SPECIMEN_REDIS_URL": redis_url,
           "SPECIMEN_CLASSIFY_JOBS_QUEUE": "api-test", "SPECIMEN_CLASSIFY_JOB_RECONCILE_SECONDS": "1"}
    process = subprocess.Popen([sys.executable, "-m", "specimen_classify", "worker", *args], env=env,
                               stdout=log, stderr=log, start_new_session=True)
    log.close()
    return process


async def _until_closed(http: httpx.AsyncClient, location: str, headers: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + 120.0
    while time.monotonic() < deadline:
        answer = (await http.get(location, headers=headers)).json()
        if answer["status"] not in ("queued", "running"):
            return answer
        await asyncio.sleep(0.3)
    raise AssertionError(f"still {answer} after 120 s")


class TestRunThroughTheApi:
    async def test_a_run_is_accepted_watched_and_listed(
            self, jobs_app: Any, auth: Any, database_url: str, tmp_path: Path, model_dir: Path,
            redis_server: RedisServer) -> None:
        project_id, _ = _project(database_url, tmp_path / "classify-blobs", 3)
        async with jobs_app() as http:
            answer = await http.post(f"/api/v1/projects/{project_id}/runs", headers=auth(sub=MANAGER),
                                     json={"padding": 4, "fade_background": 0.5, "min_area": 12})
            assert answer.status_code == 202, answer.text
            job = answer.json()
            assert answer.headers["location"] == f"/api/v1/jobs/{job['id']}"
            assert job["status"] == "queued" and job["kind"] == "plankton-run"
            assert job["progress"] == {"total": 3, "done": 0, "failed": 0, "objects": 0}
            assert job["params"]["model_version"] == 1 and job["params"]["padding"] == 4
            assert job["params"]["min_area"] == 12 and len(job["params_hash"]) == 64
            worker = _worker(tmp_path, database_url, model_dir, redis_server.url)
            try:
                done = await _until_closed(http, answer.headers["location"], auth(sub=VIEWER))
            finally:
                os.killpg(worker.pid, signal.SIGTERM)
                worker.wait(30)
            assert worker.returncode == 0  # SIGTERM: warm shutdown
            assert done["status"] == "succeeded", (tmp_path / "worker.log").read_text()[-3000:]
            assert done["progress"]["done"] == 3 and done["progress"]["objects"] > 0
            assert done["started_at"].endswith("Z") and done["finished_at"].endswith("Z")
            assert done["errors"] == []
            runs = (await http.get(f"/api/v1/projects/{project_id}/runs", headers=auth(sub=VIEWER))).json()
            assert runs["total"] == 1 and runs["items"][0]["id"] == job["id"]
            assert (runs["limit"], runs["offset"]) == (50, 0)
            retry = await http.post(f"/api/v1/jobs/{job['id']}/retry", headers=auth(sub=OWNER))
            assert retry.status_code == 409 and retry.json()["type"].endswith("/job-not-retryable")

    async def test_a_run_describes_its_objects_and_the_backfill_redescribes_them_alike(
            self, jobs_app: Any, auth: Any, database_url: str, tmp_path: Path, model_dir: Path,
            redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
        """Issue 14: every object a run stores gets its descriptor; objects without one (stored
        before the search existed) get the same vector from a descriptor-backfill job run by a
        worker process, and from the CLI's --inline backfill."""
        from redis import Redis
        from sqlalchemy import delete, func, select

        from specimen_classify.adapters.descriptor_backfill import start_backfill
        from specimen_classify.adapters.jobs import JobQueue
        from specimen_classify.adapters.tables import ObjectDescriptorRow, PlanktonObjectRow
        from specimen_classify.cli import main as cli

        project_id, _ = _project(database_url, tmp_path / "classify-blobs", 2)
        engine = build_engine(database_url)
        sessions = build_sessionmaker(engine)

        def vectors() -> dict[int, bytes]:
            with sessions() as session:
                return dict(session.execute(select(ObjectDescriptorRow.object_id,
                                                   ObjectDescriptorRow.vector)).all())

        def forget() -> None:
            with sessions() as session, session.begin():
                session.execute(delete(ObjectDescriptorRow))

        async with jobs_app() as http:
            answer = await http.post(f"/api/v1/projects/{project_id}/runs", headers=auth(sub=MANAGER),
                                     json={"padding": 4, "fade_background": 1.0, "contours": True})
            assert answer.status_code == 202, answer.text
            worker = _worker(tmp_path, database_url, model_dir, redis_server.url)
            try:
                done = await _until_closed(http, answer.headers["location"], auth(sub=VIEWER))
                assert done["status"] == "succeeded", (tmp_path / "worker.log").read_text()[-3000:]
                with sessions() as session:
                    objects = session.scalar(select(func.count(PlanktonObjectRow.id)))
                stored = vectors()
                assert objects and len(stored) == objects
                forget()
                with sessions() as session, session.begin():
                    job, tasks = start_backfill(session, created_by=int(OWNER), project_id=project_id)
                assert job.kind == "descriptor-backfill" and len(tasks) == 2
                JobQueue(Redis.from_url(redis_server.url), "api-test").enqueue(tasks)
                backfilled = await _until_closed(http, f"/api/v1/jobs/{job.id}", auth(sub=OWNER))
            finally:
                os.killpg(worker.pid, signal.SIGTERM)
                worker.wait(30)
            assert backfilled["status"] == "succeeded", backfilled
            assert backfilled["progress"]["objects"] == objects
            # The crops were faded and contoured: the descriptor reads the frame under the mask.
            assert vectors() == stored
            forget()
            monkeypatch.setenv("SPECIMEN_CLASSIFY_DATABASE_URL", database_url)
            monkeypatch.setenv("SPECIMEN_DATA_DIR", str(tmp_path))
            assert cli(["backfill-object-descriptors", "--inline"]) == 0
            assert vectors() == stored
        engine.dispose()

    async def test_cancel_before_any_worker_takes_it(self, jobs_app: Any, auth: Any, database_url: str,
                                                     tmp_path: Path) -> None:
        project_id, frame_ids = _project(database_url, tmp_path / "classify-blobs", 2)
        async with jobs_app() as http:
            job = (await http.post(f"/api/v1/projects/{project_id}/runs", headers=auth(sub=OWNER),
                                   json={"frame_ids": [frame_ids[1]]})).json()
            assert job["progress"]["total"] == 1
            cancelled = await http.post(f"/api/v1/jobs/{job['id']}/cancel", headers=auth(sub=OWNER))
            assert cancelled.status_code == 202
            assert cancelled.json()["status"] == "cancelled" and cancelled.json()["finished_at"]
            again = await http.post(f"/api/v1/jobs/{job['id']}/retry", headers=auth(sub=MANAGER))
            assert again.status_code == 202 and again.json()["status"] == "queued"


    async def test_the_projects_default_settings_fill_what_the_run_leaves_out(
            self, jobs_app: Any, auth: Any, database_url: str, tmp_path: Path) -> None:
        project_id, _ = _project(database_url, tmp_path / "classify-blobs", 1,
                                 settings='{"padding": 5, "min_area": 30, "contours": true}')
        async with jobs_app() as http:
            job = (await http.post(f"/api/v1/projects/{project_id}/runs", headers=auth(sub=OWNER),
                                   json={"padding": 2})).json()
        params = job["params"]
        assert (params["padding"], params["min_area"], params["contours"]) == (2, 30, True)


    async def test_a_run_posted_while_redis_is_down_is_kept_and_run_when_it_is_back(
            self, jobs_app: Any, auth: Any, database_url: str, tmp_path: Path, model_dir: Path,
            redis_server: RedisServer) -> None:
        project_id, _ = _project(database_url, tmp_path / "classify-blobs", 2)
        async with jobs_app() as http:
            redis_server.stop()
            started = await http.post(f"/api/v1/projects/{project_id}/runs", headers=auth(sub=OWNER),
                                      json={})
            assert started.status_code == 202, started.text  # recorded; the reconciler queues it
            redis_server.start()
            # A pool of two forking workers (--concurrency 2) in one command.
            worker = _worker(tmp_path, database_url, model_dir, redis_server.url, "--concurrency", "2")
            try:
                done = await _until_closed(http, started.headers["location"], auth(sub=OWNER))
            finally:
                os.killpg(worker.pid, signal.SIGTERM)
                worker.wait(30)
        assert done["status"] == "succeeded" and done["progress"]["done"] == 2, done


class TestRacingADelete:
    async def test_runs_and_exports_racing_the_projects_delete_are_202_or_404(
            self, jobs_app: Any, auth: Any, database_url: str, tmp_path: Path) -> None:
        """Regression (probing concurrency through the gateway): a run or an export posted while
        its project was being deleted met the jobs' foreign key at flush: 7 of 8 were a 500.
        The handlers run in the threadpool, so the requests really overlap."""
        async with jobs_app() as http:
            for _ in range(3):
                project_id, _ = _project(database_url, tmp_path / "classify-blobs", 2)
                base, headers = f"/api/v1/projects/{project_id}", auth(sub=OWNER)
                posts = [http.post(f"{base}/runs", headers=headers, json={}) for _ in range(4)]
                posts += [http.post(f"{base}/exports", headers=headers, json={"format": "csv"})
                          for _ in range(4)]
                answers = await asyncio.gather(*posts[:3], http.delete(base, headers=headers), *posts[3:])
                statuses = {answer.status_code for answer in answers}
                assert statuses <= {202, 204, 404}, [a.text for a in answers if a.status_code >= 500]
                assert all(a.headers["content-type"] == "application/problem+json"
                           for a in answers if a.status_code == 404)

    @pytest.mark.parametrize("named_frames", [False, True], ids=["all frames", "named frames"])
    async def test_a_project_deleted_after_the_access_check_is_404_not_no_frames(
            self, jobs_app: Any, auth: Any, database_url: str, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch, delete_project_elsewhere: Any, named_frames: bool) -> None:
        """Regression (CI, the race above): the delete committed between the run's access check and
        its frames query, which found none: a 422 no-frames-to-run for a project that is gone.
        The delete is put at exactly that point here, so the interleaving is not left to chance."""
        project_id, frame_ids = _project(database_url, tmp_path / "classify-blobs", 1)
        settings_of = jobs_api._run_settings

        def settings_then_delete(session: Any, project: int, request_body: Any) -> Any:
            settings = settings_of(session, project, request_body)
            delete_project_elsewhere(project)
            return settings

        monkeypatch.setattr(jobs_api, "_run_settings", settings_then_delete)
        body = {"frame_ids": frame_ids} if named_frames else {}
        async with jobs_app() as http:
            answer = await http.post(f"/api/v1/projects/{project_id}/runs", headers=auth(sub=OWNER),
                                     json=body)
        assert answer.status_code == 404, answer.text
        assert answer.json()["type"].endswith("/project-not-found")


class TestAccess:
    async def test_who_may_see_start_and_change_runs(self, jobs_app: Any, auth: Any, database_url: str,
                                                     tmp_path: Path) -> None:
        project_id, _ = _project(database_url, tmp_path / "classify-blobs", 1)
        runs = f"/api/v1/projects/{project_id}/runs"
        async with jobs_app() as http:
            stranger = await http.post(runs, headers=auth(sub=STRANGER), json={})
            assert stranger.status_code == 404 and stranger.json()["type"].endswith("/project-not-found")
            viewer = await http.post(runs, headers=auth(sub=VIEWER), json={})
            assert viewer.status_code == 403 and viewer.json()["type"].endswith("/project-role-required")
            started = await http.post(runs, headers=auth(sub=ADMIN, role="admin"), json={})
            assert started.status_code == 202
            location = started.headers["location"]
            for who, seen in ((OWNER, 200), (VIEWER, 200), (MANAGER, 200), (STRANGER, 404)):
                answer = await http.get(location, headers=auth(sub=who))
                assert answer.status_code == seen, (who, answer.text)
            missing = await http.get("/api/v1/jobs/999999", headers=auth(sub=OWNER, role="admin"))
            assert missing.status_code == 404 and missing.json()["type"].endswith("/job-not-found")
            assert (await http.get(runs, headers=auth(sub=STRANGER))).status_code == 404
            assert (await http.post(location + "/cancel", headers=auth(sub=STRANGER))).status_code == 404
            assert (await http.post(location + "/cancel", headers=auth(sub=VIEWER))).status_code == 403
            assert (await http.post(location + "/retry", headers=auth(sub=VIEWER))).status_code == 403
            assert (await http.post(location + "/cancel", headers=auth(sub=MANAGER))).status_code == 202


class TestBadRequests:
    @pytest.mark.parametrize(("body", "slug"), [
        ({"frame_ids": [999999]}, "no-frames-to-run"),
        ({"frame_ids": []}, "validation-error"),
        # ids past PostgreSQL's integer: a 500 (found by schemathesis), now refused as input
        ({"frame_ids": [-17179869183, 648359484970, 1]}, "validation-error"),
        ({"frame_ids": [0]}, "validation-error"),
        ({"model_version": 99}, "invalid-parameter"),
        ({"padding": -1}, "validation-error"),
        ({"fade_background": 2}, "validation-error"),
        ({"threshold": "nope"}, "validation-error"),
        ({"unknown": 1}, "validation-error"),
    ])
    async def test_invalid_runs_are_422(self, jobs_app: Any, auth: Any, database_url: str, tmp_path: Path,
                                        body: dict[str, Any], slug: str) -> None:
        project_id, _ = _project(database_url, tmp_path / "classify-blobs", 1)
        async with jobs_app() as http:
            answer = await http.post(f"/api/v1/projects/{project_id}/runs", headers=auth(sub=OWNER),
                                     json=body)
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["type"].endswith("/" + slug), answer.json()

    async def test_a_project_without_frames_is_422(self, jobs_app: Any, auth: Any, database_url: str,
                                                   tmp_path: Path) -> None:
        project_id, _ = _project(database_url, tmp_path / "classify-blobs", 0)
        async with jobs_app() as http:
            answer = await http.post(f"/api/v1/projects/{project_id}/runs", headers=auth(sub=OWNER), json={})
        assert answer.status_code == 422 and answer.json()["type"].endswith("/no-frames-to-run")

    async def test_without_redis_runs_are_503(self, start_app: Any, auth: Any, database_url: str,
                                              tmp_path: Path) -> None:
        project_id, _ = _project(database_url, tmp_path / "classify-blobs", 1)
        async with start_app(redis_url=None) as http:
            answer = await http.post(f"/api/v1/projects/{project_id}/runs", headers=auth(sub=OWNER), json={})
        assert answer.status_code == 503 and answer.json()["type"].endswith("/jobs-unavailable")
