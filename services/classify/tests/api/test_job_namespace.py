"""Two deployments (two databases) on one Redis keep their RQ queues and job ids apart.

Job ids derive from task ids, which are database row ids: both databases have a task 1. Before
``SPECIMEN_CLASSIFY_JOB_NAMESPACE`` the second deployment's enqueue found the first's
``specimen-task-1`` waiting and silently skipped its own task (and a shared queue would have had
one deployment's worker run the other's task id against the wrong database).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue

from specimen_classify.adapters.jobs import TaskSpec, create_job, job_queue_of
from specimen_classify.adapters.migrations import upgrade_database
from specimen_classify.config import ClassifySettings
from specimen_kit.database import build_engine, build_sessionmaker
from specimen_kit.launch import RedisServer, free_port, redis_server_binary

pytestmark = pytest.mark.skipif(redis_server_binary() is None, reason="no redis-server binary")


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    server = RedisServer(free_port(), log_path=tmp_path / "redis.log")
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def _deployment(tmp_path: Path, name: str, redis_url: str) -> tuple[ClassifySettings, int]:
    """A migrated SQLite database with one export job of one task; the settings and task id."""
    url = f"sqlite:///{tmp_path / name}.sqlite3"
    upgrade_database(url)
    engine = build_engine(url)
    try:
        with build_sessionmaker(engine)() as session, session.begin():
            _, [task_id] = create_job(session, kind="ecotaxa-export", project_id=None,
                                      created_by=7, hospital=None, params={}, params_hash="x",
                                      tasks=[TaskSpec(item="export")])
    finally:
        engine.dispose()
    return ClassifySettings(data_dir=tmp_path, database_url=url, redis_url=redis_url), task_id


def test_two_databases_on_one_redis_both_enqueue(tmp_path: Path, redis_url: str) -> None:
    first, first_task = _deployment(tmp_path, "first", redis_url)
    second, second_task = _deployment(tmp_path, "second", redis_url)
    assert first_task == second_task == 1  # the collision: both number their tasks from 1
    assert first.jobs_queue == second.jobs_queue == "specimen-classify"  # neither configured
    connection = Redis.from_url(redis_url)
    first_queue, second_queue = job_queue_of(first, connection), job_queue_of(second, connection)
    assert first_queue.enqueue([first_task]) == 1
    assert second_queue.enqueue([second_task]) == 1  # was 0: skipped as "already queued"
    assert first_queue.name != second_queue.name
    assert first_queue.namespace != second_queue.namespace
    first_jobs = Queue(first_queue.name, connection=connection).job_ids
    second_jobs = Queue(second_queue.name, connection=connection).job_ids
    assert len(first_jobs) == len(second_jobs) == 1 and first_jobs != second_jobs
    # Enqueueing again is still idempotent within one deployment.
    assert first_queue.enqueue([first_task]) == 0
    assert second_queue.enqueue([second_task]) == 0
    connection.close()


def test_the_namespace_is_stable_and_settable(tmp_path: Path) -> None:
    def namespace(url: str, **fields: str) -> str:
        return ClassifySettings(data_dir=tmp_path, database_url=url, **fields).resolved_job_namespace

    postgres = namespace("postgresql+psycopg://app:secret@db:5432/specimen")
    # The same database seen with another driver or password: the same namespace (API and
    # workers agree); another database: another namespace.
    assert namespace("postgresql://other:pw@db:5432/specimen") == postgres
    assert namespace("postgresql+psycopg://app:secret@db:5432/specimen_two") != postgres
    assert postgres.startswith("db-") and len(postgres) == 15
    assert namespace("sqlite:///x.db", job_namespace="cruise-a") == "cruise-a"
    assert namespace("sqlite:///x.db", job_namespace="") == namespace("sqlite:///x.db")
    settings = ClassifySettings(data_dir=tmp_path, job_namespace="cruise-a", jobs_queue="q")
    assert settings.resolved_jobs_queue == "q.cruise-a"
    with pytest.raises(ValueError, match=r"job_namespace|SPECIMEN_CLASSIFY_JOB_NAMESPACE"):
        ClassifySettings(data_dir=tmp_path, job_namespace="bad name")
