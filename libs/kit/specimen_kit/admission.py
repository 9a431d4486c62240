"""Admission by cost: a request's images may be decoded only while the process has pixels to spare.

Memory grows with the pixels being worked on (``bench/memory_per_pixel.py``: tens of bytes per
pixel at the peak), not with the number of requests: three 40 MP images at once took a service
to 7.6 GB (issue 9, finding 6). So each process holds a :class:`PixelBudget`; a request takes
its image's pixel count from it as soon as the header has been read, before any pixel is
decoded (:func:`admit_pixels`, called by ``specimen_imaging.codecs``), and gives everything
back when its response has been sent. A request that cannot get its pixels within a short wait
is answered 503 with ``Retry-After`` (:class:`Overloaded`) and never decodes.

A request whose images are larger than the whole budget is still admitted when nothing else
holds pixels (it waits for the others to finish first): the pixel limit per image, not the
budget, is what refuses an image outright (413).

The budget is FIFO-fair: a large request at the head of the queue is not overtaken forever by
small ones. Waiting happens in the worker thread that decodes (decoding is synchronous), never
on the event loop.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from specimen_kit.errors import Problem


class Overloaded(Problem):
    """Too much image work is in progress in this process (503, retry after a moment)."""

    status = 503
    title = "Service overloaded"
    slug = "overloaded"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail, retry_after=retry_after)
        self.headers["Retry-After"] = str(retry_after)


class PixelBudget:
    """A weighted, FIFO-fair, thread-safe semaphore counting pixels.

    Parameters
    ----------
    capacity : int
        Pixels that may be in work at once in this process (> 0).
    wait_seconds : float
        How long :meth:`acquire` waits for room before refusing (>= 0).
    clock : callable returning float
        Monotonic seconds (tests may pass their own).

    Examples
    --------
    >>> budget = PixelBudget(100, wait_seconds=0)
    >>> budget.acquire(60, held=0); budget.in_use
    60
    >>> budget.acquire(60, held=0)
    Traceback (most recent call last):
    ...
    specimen_kit.admission.Overloaded: 60 pixels are in work ...
    >>> budget.release(60); budget.in_use
    0
    """

    def __init__(self, capacity: int, wait_seconds: float,
                 *, clock: Callable[[], float] = time.monotonic) -> None:
        if capacity <= 0:
            raise ValueError(f"capacity={capacity} must be > 0")
        if not (wait_seconds >= 0 and math.isfinite(wait_seconds)):
            raise ValueError(f"wait_seconds={wait_seconds} must be a finite number >= 0")
        self.capacity = capacity
        self.wait_seconds = wait_seconds
        self._clock = clock
        self._in_use = 0
        self._queue: deque[object] = deque()
        self._changed = threading.Condition()

    @property
    def in_use(self) -> int:
        """Pixels held now."""
        return self._in_use

    @property
    def waiting(self) -> int:
        """Requests waiting for room now."""
        return len(self._queue)

    def _fits(self, weight: int, held: int) -> bool:
        # Alone (nobody else holds pixels), a request always fits, however large it is.
        return self._in_use + weight <= self.capacity or self._in_use == held

    def acquire(self, weight: int, *, held: int) -> None:
        """Take ``weight`` pixels, waiting up to ``wait_seconds`` for them (FIFO).

        Parameters
        ----------
        weight : int
            Pixels to take (>= 0).
        held : int
            Pixels the same request holds already (its earlier images), so that a request is
            never kept waiting for itself.

        Raises
        ------
        Overloaded
            No room within ``wait_seconds``; nothing was taken.
        """
        if weight <= 0:
            return
        ticket = object()
        give_up_at = self._clock() + self.wait_seconds
        with self._changed:
            self._queue.append(ticket)
            try:
                while not (self._queue[0] is ticket and self._fits(weight, held)):
                    left = give_up_at - self._clock()
                    if left <= 0:
                        raise Overloaded(
                            f"{self._in_use} pixels are in work and {weight} more do not fit the "
                            f"budget of {self.capacity}; try again in a moment",
                            retry_after=max(1, math.ceil(self.wait_seconds)),
                        )
                    self._changed.wait(left)
                self._in_use += weight
            finally:
                self._queue.remove(ticket)
                # The head changed (or room was freed for the next one): let the others look.
                self._changed.notify_all()

    def release(self, weight: int) -> None:
        """Give back ``weight`` pixels taken by :meth:`acquire`."""
        if weight <= 0:
            return
        with self._changed:
            self._in_use = max(0, self._in_use - weight)
            self._changed.notify_all()


class RequestAdmission:
    """The pixels one request holds from a :class:`PixelBudget`, given back all at once."""

    def __init__(self, budget: PixelBudget) -> None:
        self.budget = budget
        self.held = 0
        self._lock = threading.Lock()

    def admit(self, pixels: int) -> None:
        """Take ``pixels`` more for this request (raises :class:`Overloaded`)."""
        with self._lock:
            self.budget.acquire(pixels, held=self.held)
            self.held += pixels

    def release(self) -> None:
        """Give back everything this request holds."""
        with self._lock:
            self.budget.release(self.held)
            self.held = 0


_current: ContextVar[RequestAdmission | None] = ContextVar("specimen_admission", default=None)


def admit_pixels(pixels: int) -> None:
    """Take ``pixels`` from the current request's budget; nothing outside a request.

    Called by the image decoders once the header has given the pixel count, before decoding.

    Raises
    ------
    Overloaded
        The process has no room for them within the budget's wait (503 + ``Retry-After``).
    """
    admission = _current.get()
    if admission is not None:
        admission.admit(pixels)


@contextmanager
def admission_scope(budget: PixelBudget) -> Iterator[RequestAdmission]:
    """Count the images decoded inside the block against ``budget``; give them back at its end."""
    admission = RequestAdmission(budget)
    token = _current.set(admission)
    try:
        yield admission
    finally:
        _current.reset(token)
        admission.release()
