"""Plankton runs on real RQ worker processes: frames/s with 1 and 2 workers, and a worker's memory
over a long run.

Everything is real: a ``redis-server`` started here on a free port, a PostgreSQL database created
for the run (``--database sqlite`` for a file instead), the classify schema migrated, frames
stored in a filesystem blob store and ``python -m specimen_classify worker`` processes (forking
RQ workers, the forest loaded once before forking), exactly as ``make run`` starts one. A run is
created and queued as ``POST /projects/{id}/runs`` does (``create_job`` + ``JobQueue.enqueue``),
one RQ job per frame; each frame is decoded, cut, measured, classified, its crops and masks
written as PNG blobs and its objects stored, and the fan-in closes the run.

* **Scaling**: for each worker count, the workers are started and waited for (registered in
  Redis, model loaded), then a run of ``--frames`` frames is queued; frames/s is frames over the
  time from queueing to the run's close (``finished_at``), so worker start-up is not counted.
  The workers' CPU seconds per frame (the worker processes' and their work horses', from
  ``/proc``) is the per-core figure on a loaded machine; PostgreSQL's and Redis's own CPU is not
  in it.
* **Memory**: ``--memory-workers`` workers run ``--memory-frames`` frames; each worker process's
  RSS (and its current work horse's: RQ forks one per job) is read from ``/proc`` every
  ``--sample-seconds``, with the run's progress, and summarised per tenth of the run.

The frames are generated (``plankton_frame``, ``--side`` px square, ``--per-category`` objects of
each of the five categories), ``--distinct`` images stored round robin, one blob per frame. The
forest is a small one trained here (3 frames, 20 trees; as the tests'), which changes nothing of
the pipeline's cost but the forest's own (under 1 % of a frame, see BENCHMARKS.md).

    .venv/bin/python bench/worker_scaling.py [--frames 300] [--memory-frames 2000] [--side 256]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from redis import Redis
from rq import Worker

from specimen_classify.adapters.jobs import JobQueue, TaskSpec, create_job, get_job
from specimen_classify.adapters.migrations import upgrade_database
from specimen_classify.adapters.model_store import ModelStore
from specimen_classify.adapters.tables import FrameRow, ProjectRow
from specimen_classify.domain.plankton.runs import RunSettings, settings_hash
from specimen_classify.domain.predictions import PLANKTON_MODEL
from specimen_classify.domain.synthetic_plankton import CATEGORIES, plankton_frame
from specimen_imaging.codecs import encode_image
from specimen_kit.blobs import FilesystemBlobStore
from specimen_kit.database import build_engine, build_sessionmaker
from specimen_kit.launch import RedisServer, free_port
from specimen_kit.timestamps import utc_now

QUEUE = "bench-jobs"


def rss_kib(pid: int) -> int:
    """Resident set size of a process, KiB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return []
    return [int(p) for p in text.split()]


def train_model(model_dir: Path, workdir: Path) -> None:
    from specimen_classify.adapters.datasets import generate_plankton
    from specimen_classify.training.plankton import train_plankton

    generate_plankton(workdir / "train", frames=3, seed=11, per_category=6, height=384, width=384)
    store = ModelStore(model_dir)
    staged = store.staging_dir()
    train_plankton(workdir / "train" / "objects", staged, seed=0, n_estimators=20, progress=False)
    store.register(PLANKTON_MODEL, staged, activate=True, by="bench")


@contextlib.contextmanager
def database(kind: str, workdir: Path) -> Iterator[str]:
    if kind == "sqlite":
        url = f"sqlite:///{workdir / 'classify.sqlite3'}"
        upgrade_database(url)
        yield url
        return
    from specimen_kit.testing import temporary_postgres_database

    with temporary_postgres_database("specimen_bench_workers") as url:
        upgrade_database(url)
        yield url


class Bench:
    def __init__(self, url: str, workdir: Path, model_dir: Path, redis: RedisServer) -> None:
        self.url, self.workdir, self.model_dir, self.redis = url, workdir, model_dir, redis
        self.engine = build_engine(url)
        self.sessions = build_sessionmaker(self.engine)
        self.blobs = FilesystemBlobStore(workdir / "data" / "classify-blobs")
        self.connection = Redis.from_url(redis.url)
        self.workers: list[subprocess.Popen[bytes]] = []

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "SPECIMEN_DATA_DIR": str(self.workdir / "data"),
                "SPECIMEN_CLASSIFY_DATABASE_URL": self.url,
                "SPECIMEN_CLASSIFY_MODEL_DIR": str(self.model_dir), "SPECIMEN_REDIS_URL": self.redis.url,
                "SPECIMEN_CLASSIFY_JOBS_QUEUE": QUEUE, "SPECIMEN_LOG_LEVEL": "WARNING",
                "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}

    def project(self, images: list[bytes], frames: int, side: int) -> tuple[int, list[int]]:
        keys = [self.blobs.put(images[i % len(images)]) for i in range(frames)]  # one blob per frame
        now = utc_now()
        with self.sessions() as session, session.begin():
            project = ProjectRow(name="cruise", description=None, instrument=None, pixel_size_um=None,
                                 settings="{}", owner_id=7, created_at=now, updated_at=now)
            session.add(project)
            session.flush()
            rows = [FrameRow(project_id=project.id, file_name=f"frame{i:05d}.png",
                             image_key=keys[i], media_type="image/png",
                             bytes=len(images[i % len(images)]), width=side, height=side, created_by=7,
                             created_at=now) for i in range(frames)]
            session.add_all(rows)
            session.flush()
            return project.id, [row.id for row in rows]

    def start_workers(self, count: int) -> None:
        for i in range(count):
            log = open(self.workdir / f"worker-{len(self.workers)}-{i}.log", "ab")  # noqa: SIM115
            command = [sys.executable, "-m", "specimen_classify", "worker"]
            self.workers.append(subprocess.Popen(command, env=self.env, stdout=log, stderr=log,
                                                 start_new_session=True))
            log.close()
        deadline = time.monotonic() + 300
        while len(Worker.all(connection=self.connection)) < count:
            if time.monotonic() > deadline:
                raise SystemExit("the workers did not register in 300 s:\n" + self.logs())
            for process in self.workers:
                if process.poll() is not None:
                    raise SystemExit(f"a worker exited ({process.returncode}):\n" + self.logs())
            time.sleep(0.2)

    def stop_workers(self) -> None:
        for process in self.workers:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.workers:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.workers = []
        deadline = time.monotonic() + 30
        while Worker.all(connection=self.connection) and time.monotonic() < deadline:
            time.sleep(0.2)

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in self.workdir.glob("worker-*.log"))

    def start_run(self, project_id: int, frame_ids: list[int]) -> tuple[int, float]:
        params = RunSettings(model_version=1).model_dump(mode="json")
        with self.sessions() as session, session.begin():
            job, task_ids = create_job(session, kind="plankton-run", project_id=project_id, created_by=7,
                                       hospital=None, params=params, params_hash=settings_hash(params),
                                       tasks=[TaskSpec(frame_id=f) for f in frame_ids])
        started = time.time()
        JobQueue(self.connection, QUEUE, retries=3, retry_first_seconds=1).enqueue(task_ids)
        return job.id, started

    def job(self, job_id: int) -> Any:
        with self.sessions() as session:
            return get_job(session, job_id)

    def wait(self, job_id: int, on_tick: Any = None, tick: float = 0.5) -> Any:
        while True:
            job = self.job(job_id)
            if job.status not in ("queued", "running"):
                return job
            for process in self.workers:
                if process.poll() is not None:
                    raise SystemExit(f"a worker exited ({process.returncode}):\n" + self.logs())
            if on_tick is not None:
                on_tick(job)
            time.sleep(tick)


def frames_png(count: int, side: int, per_category: int) -> list[bytes]:
    return [encode_image(plankton_frame((31, i), dict.fromkeys(CATEGORIES, per_category), side, side).image,
                         "png") for i in range(count)]


def cpu_seconds_of_workers(pids: list[int]) -> float:
    """CPU seconds of the worker processes and of their work horses that have ended (user and
    system, the process's own and its waited-for children's, from /proc/<pid>/stat)."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_seconds_of_machine() -> float:
    """Busy CPU seconds of the whole machine (every process), from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    ticks = [int(v) for v in fields]
    busy = sum(ticks) - ticks[3] - ticks[4]  # less idle and iowait
    return busy / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=300, help="frames per scaling run")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--memory-frames", type=int, default=2000, help="0 skips the memory run")
    parser.add_argument("--memory-workers", type=int, default=2, help="workers of the memory run")
    parser.add_argument("--side", type=int, default=256)
    parser.add_argument("--per-category", type=int, default=2)
    parser.add_argument("--distinct", type=int, default=20, help="distinct frame images, stored round robin")
    parser.add_argument("--sample-seconds", type=float, default=0.5)
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--samples-out", type=Path, default=None, help="write the RSS samples here (JSON)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="specimen-bench-workers-") as tmp:
        workdir = Path(tmp)
        model_dir = workdir / "models"
        train_model(model_dir, workdir)
        images = frames_png(args.distinct, args.side, args.per_category)
        redis = RedisServer(free_port(), log_path=workdir / "redis.log")
        redis.start()
        try:
            with database(args.database, workdir) as url:
                bench = Bench(url, workdir, model_dir, redis)
                try:
                    run(bench, args, images)
                finally:
                    bench.stop_workers()
                    bench.engine.dispose()
        finally:
            redis.stop()
            shutil.rmtree(workdir / "data", ignore_errors=True)


def run(bench: Bench, args: argparse.Namespace, images: list[bytes]) -> None:
    print(f"frames {args.side}x{args.side}, {args.per_category * len(CATEGORIES)} objects drawn each; "
          f"{args.database}; {os.cpu_count()} CPUs; load average before: {os.getloadavg()}")
    print("| workers | frames | objects | seconds (queued -> closed) | frames/s | objects/s | "
          "workers' CPU s per frame | machine busy CPU s (all processes) | load average (1 min) at the end |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    rates = {}
    for count in args.workers:
        bench.start_workers(count)
        project_id, frame_ids = bench.project(images, args.frames, args.side)
        pids = [process.pid for process in bench.workers]
        busy, workers_cpu = cpu_seconds_of_machine(), cpu_seconds_of_workers(pids)
        job_id, started = bench.start_run(project_id, frame_ids)
        job = bench.wait(job_id, tick=0.2)
        time.sleep(1.0)  # the last work horse reaped: its CPU is then its worker's children's
        busy, workers_cpu = cpu_seconds_of_machine() - busy, cpu_seconds_of_workers(pids) - workers_cpu
        seconds = job.finished_at.timestamp() - started
        rates[count] = args.frames / seconds
        print(f"| {count} | {job.done}/{job.total} (failed {job.failed}) | {job.objects} | {seconds:.1f} | "
              f"{rates[count]:.2f} | {job.objects / seconds:.1f} | {workers_cpu / args.frames:.3f} | "
              f"{busy:.0f} | {os.getloadavg()[0]:.1f} |", flush=True)
        bench.stop_workers()
    if len(rates) > 1:
        first, *rest = args.workers
        for count in rest:
            print(f"scaling {first} -> {count} workers: {rates[count] / rates[first]:.2f}x")

    if args.memory_frames <= 0:
        return
    bench.start_workers(args.memory_workers)
    project_id, frame_ids = bench.project(images, args.memory_frames, args.side)
    samples: list[dict[str, float]] = []

    def sample(job: Any) -> None:
        for index, worker in enumerate(bench.workers):
            horses = children(worker.pid)
            samples.append({"t": time.time(), "done": job.done + job.failed, "worker": index,
                            "worker_kib": rss_kib(worker.pid),
                            "horse_kib": max((rss_kib(p) for p in horses), default=0)})

    job_id, started = bench.start_run(project_id, frame_ids)
    job = bench.wait(job_id, on_tick=sample, tick=args.sample_seconds)
    seconds = job.finished_at.timestamp() - started
    print(f"\nmemory run: {args.memory_workers} worker(s), {job.done}/{job.total} frames "
          f"(failed {job.failed}), {job.objects} objects in {seconds:.0f} s "
          f"({job.total / seconds:.2f} frames/s); "
          f"{len(samples)} RSS samples")
    print("| part of the run | frames done | worker | worker RSS MB (min / max) | work horse RSS MB (max) |")
    print("|---|---:|---:|---:|---:|")
    total = max(job.total, 1)
    for tenth in range(10):
        for index in range(args.memory_workers):
            part = [s for s in samples if tenth * total / 10 <= s["done"] < (tenth + 1) * total / 10
                    and s["worker"] == index]
            if not part:
                continue
            worker_mb = [s["worker_kib"] / 1024 for s in part]
            horse_mb = [s["horse_kib"] / 1024 for s in part if s["horse_kib"]]
            print(f"| {tenth * 10}-{tenth * 10 + 10} % | {int(part[0]['done'])}-{int(part[-1]['done'])} | "
                  f"{index + 1} | {min(worker_mb):.1f} / {max(worker_mb):.1f} | "
                  f"{max(horse_mb) if horse_mb else 0:.1f} |")
    if args.samples_out is not None:
        args.samples_out.write_text(json.dumps(samples))
    bench.stop_workers()


if __name__ == "__main__":
    main()
