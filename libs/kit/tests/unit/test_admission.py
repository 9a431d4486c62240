"""The pixel budget: room, waits, FIFO fairness, the lone giant, release on error (issue 9, finding 6)."""

from __future__ import annotations

import threading
import time

import pytest

from specimen_kit.admission import Overloaded, PixelBudget, admission_scope, admit_pixels
from specimen_kit.testing import wait_until


def _acquire_in_thread(budget: PixelBudget, weight: int, order: list[int], tag: int) -> threading.Thread:
    def run() -> None:
        budget.acquire(weight, held=0)
        order.append(tag)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


class TestPixelBudget:
    def test_requests_that_fit_are_admitted_at_once(self) -> None:
        budget = PixelBudget(100, wait_seconds=0)
        budget.acquire(40, held=0)
        budget.acquire(60, held=0)
        assert budget.in_use == 100

    def test_no_room_within_the_wait_is_a_503_with_retry_after_and_takes_nothing(self) -> None:
        budget = PixelBudget(100, wait_seconds=0.05)
        budget.acquire(80, held=0)
        with pytest.raises(Overloaded) as raised:
            budget.acquire(30, held=0)
        assert raised.value.status == 503
        assert raised.value.headers["Retry-After"] == "1"
        assert budget.in_use == 80
        assert budget.waiting == 0

    def test_a_request_larger_than_the_budget_is_admitted_when_alone(self) -> None:
        budget = PixelBudget(100, wait_seconds=0)
        budget.acquire(1000, held=0)
        assert budget.in_use == 1000
        with pytest.raises(Overloaded):
            budget.acquire(1, held=0)

    def test_a_request_never_waits_for_its_own_earlier_images(self) -> None:
        budget = PixelBudget(100, wait_seconds=0)
        budget.acquire(90, held=0)
        budget.acquire(90, held=90)
        assert budget.in_use == 180

    def test_a_waiter_is_admitted_when_pixels_are_released(self) -> None:
        budget = PixelBudget(100, wait_seconds=30)
        budget.acquire(100, held=0)
        order: list[int] = []
        thread = _acquire_in_thread(budget, 50, order, 1)
        wait_until(lambda: budget.waiting == 1)
        budget.release(100)
        thread.join(5)
        assert order == [1]
        assert budget.in_use == 50

    def test_waiters_are_served_first_come_first_served(self) -> None:
        budget = PixelBudget(100, wait_seconds=30)
        budget.acquire(100, held=0)
        order: list[int] = []
        big = _acquire_in_thread(budget, 100, order, 1)
        wait_until(lambda: budget.waiting == 1)
        small = _acquire_in_thread(budget, 10, order, 2)
        wait_until(lambda: budget.waiting == 2)
        budget.release(50)
        time.sleep(0.05)
        # 50 are free: the small one would fit, but the large one came first.
        assert order == []
        budget.release(50)
        big.join(5)
        assert order == [1]
        budget.release(100)
        small.join(5)
        assert order == [1, 2]


class TestAdmissionScope:
    def test_outside_a_request_decoding_is_not_counted(self) -> None:
        admit_pixels(10**9)

    def test_everything_is_given_back_when_the_request_fails(self) -> None:
        budget = PixelBudget(100, wait_seconds=0)
        with pytest.raises(RuntimeError), admission_scope(budget):
            admit_pixels(30)
            admit_pixels(30)
            assert budget.in_use == 60
            raise RuntimeError("the work failed")
        assert budget.in_use == 0

    def test_a_refused_image_leaves_the_others_counted_until_the_end(self) -> None:
        budget = PixelBudget(100, wait_seconds=0)
        budget.acquire(50, held=0)
        with admission_scope(budget) as admission:
            admit_pixels(40)
            with pytest.raises(Overloaded):
                admit_pixels(20)
            assert admission.held == 40
        assert budget.in_use == 50
