"""A SIGTERM stops the worker wherever it lands.

* While an idle worker reconciles: RQ's warm shutdown of an idle worker raises
  ``StopRequested`` (an ``Exception``) from its signal handler, wherever the main thread is. The
  reconciler caught every ``Exception`` to retry the next period, so a SIGTERM during a
  reconcile was swallowed and the worker ran on for ever.
* Between a job's end and the wait for the next: RQ still marks the worker busy, so its handler
  only records the stop (``_stop_requested``), and its wait for a job never looks at it. Seen
  in the suite under load: a worker pool's worker still waiting for jobs minutes after SIGTERM.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from rq.exceptions import StopRequested

from specimen_classify.adapters import worker as worker_module


def _idle_worker() -> Any:
    return SimpleNamespace(connection=None, lease_seconds=60.0, reconcile_seconds=15.0)


def test_a_stop_request_raised_mid_reconcile_reaches_rq(monkeypatch: pytest.MonkeyPatch) -> None:
    def signal_lands(*_: Any, **__: Any) -> None:
        raise StopRequested()

    monkeypatch.setattr(worker_module, "resources",
                        lambda: SimpleNamespace(sessions=lambda: None, settings=None))
    monkeypatch.setattr(worker_module, "job_queue_of", lambda *_: None)
    monkeypatch.setattr(worker_module, "reconcile", signal_lands)
    with pytest.raises(StopRequested):
        worker_module.ReconcilingWorker.reconcile_now(_idle_worker())


def test_a_database_fault_mid_reconcile_is_retried_next_period(monkeypatch: pytest.MonkeyPatch) -> None:
    def database_away(*_: Any, **__: Any) -> None:
        raise ConnectionError("database away")

    monkeypatch.setattr(worker_module, "resources",
                        lambda: SimpleNamespace(sessions=lambda: None, settings=None))
    monkeypatch.setattr(worker_module, "job_queue_of", lambda *_: None)
    monkeypatch.setattr(worker_module, "reconcile", database_away)
    worker_module.ReconcilingWorker.reconcile_now(_idle_worker())  # logged, not raised


def _worker_told_to_stop_while_busy(horse_pid: int) -> Any:
    worker = object.__new__(worker_module.ReconcilingWorker)
    worker._stop_requested = True  # what RQ's warm-stop handler records for a busy worker
    worker._horse_pid = horse_pid
    return worker


def test_a_stop_recorded_while_busy_stops_the_wait_for_the_next_job() -> None:
    with pytest.raises(StopRequested):
        _ = _worker_told_to_stop_while_busy(horse_pid=0).should_run_maintenance_tasks


def test_a_stop_recorded_while_a_horse_works_waits_for_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker_module.Worker, "should_run_maintenance_tasks", property(lambda self: False))
    worker = _worker_told_to_stop_while_busy(horse_pid=4242)
    worker._last_reconciled = float("inf")  # not due
    assert worker.should_run_maintenance_tasks is False
