"""Deadlines stop the work between steps (issue 9, finding 7)."""

from __future__ import annotations

import math

import pytest

from specimen_kit.deadlines import (
    NO_DEADLINE,
    Deadline,
    WorkCancelled,
    WorkDeadlineExceeded,
    checkpoint,
    current_deadline,
    deadline_scope,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class TestDeadline:
    def test_work_goes_on_before_the_deadline_and_stops_after_it(self) -> None:
        clock = FakeClock()
        deadline = Deadline(10, clock=clock)
        deadline.check("decode")
        clock.now += 10
        with pytest.raises(WorkDeadlineExceeded) as raised:
            deadline.check("opening")
        assert raised.value.status == 503
        assert raised.value.headers["Retry-After"]
        assert "'opening'" in raised.value.detail
        assert deadline.stopped == "deadline"

    def test_a_cancelled_deadline_stops_the_work_at_the_next_step(self) -> None:
        deadline = Deadline(math.inf)
        deadline.cancel()
        with pytest.raises(WorkCancelled):
            deadline.check("threshold")
        assert deadline.stopped == "client_gone"

    def test_checkpoint_uses_the_current_deadline_and_none_outside_a_request(self) -> None:
        assert current_deadline() is NO_DEADLINE
        checkpoint("anything")
        clock = FakeClock()
        with deadline_scope(Deadline(1, clock=clock)):
            clock.now += 2
            with pytest.raises(WorkDeadlineExceeded):
                checkpoint("threshold")
        assert current_deadline() is NO_DEADLINE
