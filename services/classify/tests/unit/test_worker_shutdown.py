"""A SIGTERM that lands while an idle worker reconciles still stops the worker.

RQ's warm shutdown of an idle worker raises ``StopRequested`` (an ``Exception``) from its signal
handler, wherever the main thread is. The reconciler caught every ``Exception`` to retry the next
period, so a SIGTERM during a reconcile was swallowed and the worker ran on for ever.
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
