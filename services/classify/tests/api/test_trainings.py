"""Training from the API: ``POST /models/plankton/trainings`` records a ``plankton-training`` job, a
real forking RQ worker (``python -m specimen_classify worker --burst``, a ``redis-server`` of the
test's own) trains a forest on the projects' *validated* objects, writes its card and registers
the version without activating it.

On SQLite and PostgreSQL (``database_url``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from specimen_classify.adapters.jobs import JobQueue, job_queue_of
from specimen_classify.adapters.model_store import ModelStore
from specimen_classify.adapters.tables import FrameRow, JobTaskRow, PlanktonObjectRow, ProjectRow
from specimen_classify.config import ClassifySettings
from specimen_imaging.measurements import FEATURE_SET_VERSION, feature_names_of
from specimen_kit.database import build_engine
from specimen_kit.launch import RedisServer, redis_server_binary

pytestmark = pytest.mark.skipif(redis_server_binary() is None, reason="no redis-server binary")
TRAININGS = "/api/v1/models/plankton/trainings"
QUEUE = "test-trainings"
T0 = datetime(2026, 5, 1, 8, 30, tzinfo=UTC)
MODERATOR, OTHER_MODERATOR, TECHNICIAN = 8, 9, 7


def seed_project(database_url: str, owner: int, validated: dict[str, int], predicted: int = 5,
                 seed: int = 0) -> int:
    """A project of ``owner`` with ``validated[c]`` validated objects of category ``c`` (features
    drawn around a mean of the category's own) and ``predicted`` unreviewed ones."""
    names = feature_names_of(FEATURE_SET_VERSION)
    rng = np.random.default_rng(seed)
    engine = build_engine(database_url)
    try:
        with Session(engine) as session:
            project = ProjectRow(name="Cruise", description="", instrument=None, pixel_size_um=None,
                                 settings="{}", owner_id=owner, created_at=T0, updated_at=T0)
            session.add(project)
            session.flush()
            frame = FrameRow(project_id=project.id, file_name="f.png", image_key=uuid.uuid4().hex,
                             media_type="image/png", bytes=1, width=64, height=64, created_by=owner,
                             created_at=T0)
            session.add(frame)
            session.flush()
            statuses = [(c, "validated") for c, n in validated.items() for _ in range(n)]
            statuses += [("copepod", "predicted")] * predicted
            for rank, (category, status) in enumerate(statuses, start=1):
                centre = 10.0 * (sorted({*validated, "copepod"}).index(category) + 1)
                features = {name: float(centre + rng.normal()) for name in names}
                session.add(PlanktonObjectRow(
                    project_id=project.id, frame_id=frame.id, job_id=None, rank=rank, min_row=0, min_col=0,
                    max_row=4, max_col=4, centroid_row=2.0, centroid_col=2.0, features=json.dumps(features),
                    feature_set_version=FEATURE_SET_VERSION, crop_key=None, mask_key=None, category=category,
                    probability=0.9, scores="{}", model_name="plankton", model_version=1, status=status,
                    annotated_by=owner if status == "validated" else None, annotated_by_name=None,
                    annotated_at=T0 if status == "validated" else None, created_at=T0))
            session.commit()
            return int(project.id)
    finally:
        engine.dispose()


class Bench:
    def __init__(self, database_url: str, tmp_path: Path, model_dir: Path, redis: RedisServer,
                 auth: Callable[..., dict[str, str]], start_app: Callable[..., Any]) -> None:
        self.database_url = database_url
        self.model_dir = model_dir
        self.env = {**os.environ, "SPECIMEN_DATA_DIR": str(tmp_path),
                    "SPECIMEN_CLASSIFY_DATABASE_URL": database_url,
                    "SPECIMEN_CLASSIFY_MODEL_DIR": str(model_dir),
                    "SPECIMEN_REDIS_URL": redis.url, "SPECIMEN_CLASSIFY_JOBS_QUEUE": QUEUE,
                    "SPECIMEN_LOG_LEVEL": "WARNING"}
        self.app = start_app(redis_url=redis.url, jobs_queue=QUEUE)
        self.moderator = auth(sub=str(MODERATOR), role="moderator", hospital="General")
        self.other_moderator = auth(sub=str(OTHER_MODERATOR), role="moderator", hospital="General")
        self.technician = auth(sub=str(TECHNICIAN), role="technician", hospital="General")
        self.admin = auth(sub="1", role="admin", hospital="Headquarters")

    def work(self, *queues: str) -> str:
        """Run a burst worker on ``queues`` (default: all of them); its log."""
        chosen = [argument for queue in queues for argument in ("--queue", queue)]
        done = subprocess.run([sys.executable, "-m", "specimen_classify", "worker", "--burst", *chosen],
                              env=self.env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stderr

    def task_attempts(self, job_id: int) -> list[tuple[str, int]]:
        engine = build_engine(self.database_url)
        try:
            with Session(engine) as session:
                return [(task.status, task.attempts) for task in session.scalars(
                    select(JobTaskRow).where(JobTaskRow.job_id == job_id))]
        finally:
            engine.dispose()

    def default_lane_queue(self) -> JobQueue:
        """The deployment's queue as the API names it (the default lane's)."""
        settings = ClassifySettings(data_dir=Path(self.env["SPECIMEN_DATA_DIR"]),
                                    database_url=self.database_url, jobs_queue=QUEUE)
        return job_queue_of(settings, Redis.from_url(self.env["SPECIMEN_REDIS_URL"]))


@pytest.fixture
def bench(database_url: str, tmp_path: Path, model_dir: Path, redis_server: RedisServer,
          auth: Callable[..., dict[str, str]], start_app: Callable[..., Any]) -> Bench:
    return Bench(database_url, tmp_path, model_dir, redis_server, auth, start_app)


class TestTraining:
    async def test_a_moderator_trains_a_version_from_validated_objects_left_inactive(
            self, bench: Bench) -> None:
        first = seed_project(bench.database_url, MODERATOR, {"copepod": 9, "diatom": 8, "egg": 2}, seed=1)
        second = seed_project(bench.database_url, MODERATOR, {"copepod": 7, "diatom": 8}, seed=2)
        async with bench.app as http:
            created = await http.post(TRAININGS, json={"project_ids": [second, first], "n_estimators": 10},
                                      headers=bench.moderator)
            assert created.status_code == 202, created.text
            job = created.json()
            assert created.headers["location"] == f"/api/v1/jobs/{job['id']}"
            assert job["kind"] == "plankton-training" and job["status"] == "queued"
            assert job["params"]["project_ids"] == sorted([first, second])
            bench.work()
            done = (await http.get(f"/api/v1/jobs/{job['id']}", headers=bench.moderator)).json()
            model = (await http.get("/api/v1/models/plankton", headers=bench.technician)).json()
            card = (await http.get(done["result"]["version_url"], headers=bench.technician)).json()
            hidden = await http.get(f"/api/v1/jobs/{job['id']}", headers=bench.other_moderator)
        assert done["status"] == "succeeded", done
        assert done["result"]["version"] == 2 and done["result"]["activated"] is False
        assert done["progress"]["objects"] == 32  # 16 copepods, 16 diatoms; the 2 eggs and predicted left out
        assert [v["version"] for v in model["versions"]] == [1, 2]
        assert model["active"]["version"] == 1
        provenance = card["card"]["training_data"]
        assert provenance["kind"] == "projects" and provenance["job_id"] == job["id"]
        assert provenance["per_category"] == {"copepod": 16, "diatom": 16}
        assert provenance["left_out_categories"] == {"egg": 2}
        assert {p["id"]: p["validated_objects"] for p in provenance["projects"]} == {
            first: {"copepod": 9, "diatom": 8}, second: {"copepod": 7, "diatom": 8}}
        assert card["card"]["classes"] == ["copepod", "diatom"]
        assert ModelStore(bench.model_dir).active_version("plankton") == 1
        assert hidden.status_code == 404

    async def test_a_training_waits_for_a_training_queue_worker(self, bench: Bench) -> None:
        """The serving image has no trainer: its workers (``--queue default``) must leave a
        training queued, never take it and fail it as ``trainer-missing``; a worker on the
        training queue (the trainer image's) then runs it."""
        project = seed_project(bench.database_url, MODERATOR, {"copepod": 12, "diatom": 12})
        async with bench.app as http:
            created = await http.post(TRAININGS, json={"project_ids": [project], "n_estimators": 10},
                                      headers=bench.moderator)
            assert created.status_code == 202, created.text
            location = created.headers["location"]
            job_id = created.json()["id"]
            bench.work("default")
            waiting = (await http.get(location, headers=bench.moderator)).json()
            assert waiting["status"] == "queued", waiting
            assert bench.task_attempts(job_id) == [("queued", 0)]
            # Delivered on the serving queue all the same (enqueued before there were two
            # queues): the serving worker leaves it queued, and a reconciler moves it over.
            assert bench.default_lane_queue().enqueue(
                _task_ids(bench.database_url, job_id), force=True) == 1
            log = bench.work("default")
            assert "belongs on the training lane" in log
            assert (await http.get(location, headers=bench.moderator)).json()["status"] == "queued"
            assert bench.task_attempts(job_id) == [("queued", 0)]
            bench.work("training")
            done = (await http.get(location, headers=bench.moderator)).json()
        assert done["status"] == "succeeded", done
        assert done["result"]["version"] == 2 and done["progress"]["objects"] == 24
        assert bench.task_attempts(job_id) == [("succeeded", 1)]
        assert ModelStore(bench.model_dir).active_version("plankton") == 1

    async def test_objects_validated_as_unclear_are_left_out_not_a_class(self, bench: Bench) -> None:
        """``unclear`` is the forest's abstention, which the trainer adds itself: objects a person
        validated as ``unclear`` made it a duplicate label and failed every such training (found
        by scripts/prove_plankton_journey.py, which validates each object as predicted)."""
        project = seed_project(bench.database_url, MODERATOR, {"copepod": 12, "diatom": 12, "unclear": 15})
        lonely = seed_project(bench.database_url, MODERATOR, {"copepod": 12, "unclear": 30})
        async with bench.app as http:
            created = await http.post(TRAININGS, json={"project_ids": [project], "n_estimators": 10},
                                      headers=bench.moderator)
            refused = await http.post(TRAININGS, json={"project_ids": [lonely]}, headers=bench.moderator)
            assert created.status_code == 202, created.text
            bench.work()
            done = (await http.get(created.headers["location"], headers=bench.moderator)).json()
            card = (await http.get(done["result"]["version_url"], headers=bench.technician)).json()
        assert done["status"] == "succeeded", done
        assert card["card"]["classes"] == ["copepod", "diatom"]
        assert card["card"]["training_data"]["left_out_categories"] == {"unclear": 15}
        assert refused.status_code == 422 and refused.json()["type"].endswith("/training-data-insufficient")

    async def test_too_few_validated_objects_is_422_at_once(self, bench: Bench) -> None:
        project = seed_project(bench.database_url, MODERATOR, {"copepod": 12, "diatom": 3})
        async with bench.app as http:
            refused = await http.post(TRAININGS, json={"project_ids": [project]}, headers=bench.moderator)
        assert refused.status_code == 422
        body = refused.json()
        assert body["type"].endswith("/training-data-insufficient")
        assert body["counts"] == {"copepod": 12, "diatom": 3} and body["min_per_class"] == 10

    async def test_roles_and_projects_outside_are_refused(self, bench: Bench) -> None:
        project = seed_project(bench.database_url, MODERATOR, {"copepod": 12, "diatom": 12})
        async with bench.app as http:
            technician = await http.post(TRAININGS, json={"project_ids": [project]}, headers=bench.technician)
            outside = await http.post(TRAININGS, json={"project_ids": [project]},
                                      headers=bench.other_moderator)
            missing = await http.post(TRAININGS, json={"project_ids": [project, 999]}, headers=bench.admin)
            empty = await http.post(TRAININGS, json={"project_ids": []}, headers=bench.moderator)
            extra = await http.post(TRAININGS, json={"project_ids": [project], "activate": True},
                                    headers=bench.moderator)
        assert technician.status_code == 403
        assert outside.status_code == 404 and outside.json()["type"].endswith("/project-not-found")
        assert missing.status_code == 404
        assert empty.status_code == 422 and extra.status_code == 422

    async def test_without_redis_a_training_is_503(self, start_app: Callable[..., Any],
                                                    auth: Callable[..., dict[str, str]],
                                                    database_url: str) -> None:
        project = seed_project(database_url, MODERATOR, {"copepod": 12, "diatom": 12})
        async with start_app() as http:
            answer = await http.post(TRAININGS, json={"project_ids": [project]},
                                     headers=auth(sub=str(MODERATOR), role="moderator"))
        assert answer.status_code == 503 and answer.json()["type"].endswith("/jobs-unavailable")


def _task_ids(database_url: str, job_id: int) -> list[int]:
    engine = build_engine(database_url)
    try:
        with Session(engine) as session:
            return [int(task) for task in session.scalars(
                select(JobTaskRow.id).where(JobTaskRow.job_id == job_id))]
    finally:
        engine.dispose()
