"""How long a request's work may run, checked between the steps of the work.

A request's work (decoding, thresholding, measuring, …) runs in a worker thread that nobody can
interrupt from outside. So the work looks at its :class:`Deadline` between steps, and stops
there, with a typed error, when the deadline has passed or the client has gone (issue 9,
finding 7: a 95 CPU-second opening went on long after the gateway had answered 504).

The request's deadline is made by :class:`~specimen_kit.work_limits.WorkLimitsMiddleware` and
reaches the work through a context variable, which FastAPI's threadpool copies into the worker
thread; a domain function takes an explicit ``deadline`` argument (tests hand it one with a fake
clock) and falls back to :func:`current_deadline`. Outside a request there is none
(:data:`NO_DEADLINE`). This module imports only the standard library and the kit's errors, so
domain code may use it.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from specimen_kit.errors import Problem

CLIENT_CLOSED_REQUEST = 499


class WorkDeadlineExceeded(Problem):
    """The work ran past its deadline and was stopped between two steps (503, retry later)."""

    status = 503
    title = "Work deadline exceeded"
    slug = "work-deadline-exceeded"

    def __init__(self, step: str, seconds: float, retry_after: int = 5) -> None:
        super().__init__(
            f"the work was stopped at '{step}' after its deadline of {seconds:g} s; "
            "send a smaller image or lighter parameters, or try again later",
            step=step,
            retry_after=retry_after,
        )
        self.headers["Retry-After"] = str(retry_after)


class WorkCancelled(Problem):
    """The client went away, so its work was stopped (499: nobody reads the answer)."""

    status = CLIENT_CLOSED_REQUEST
    title = "Client closed request"
    slug = "client-closed-request"

    def __init__(self, step: str) -> None:
        super().__init__(f"the client went away; the work was stopped at '{step}'", step=step)


class Deadline:
    """A point in time after which the work stops, and a flag for a client that has gone.

    Parameters
    ----------
    seconds : float
        How long the work may run from now (``math.inf``: no limit).
    clock : callable returning float
        Monotonic seconds; tests pass a fake one.

    Examples
    --------
    >>> now = [0.0]
    >>> deadline = Deadline(10, clock=lambda: now[0])
    >>> deadline.check("decode")
    >>> now[0] = 11.0
    >>> deadline.check("threshold")
    Traceback (most recent call last):
    ...
    specimen_kit.deadlines.WorkDeadlineExceeded: the work was stopped at 'threshold' ...
    """

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._expires_at = clock() + seconds
        self._cancelled = threading.Event()
        self.stopped: str | None = None
        """Why the work was stopped (``"deadline"`` or ``"client_gone"``), None while it runs."""

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def cancel(self) -> None:
        """Mark the work as unwanted (the client has gone): the next :meth:`check` stops it."""
        self._cancelled.set()

    def remaining(self) -> float:
        """Seconds left (may be negative; ``inf`` without a limit)."""
        return self._expires_at - self._clock()

    def check(self, step: str) -> None:
        """Stop the work here if the client has gone or the deadline has passed.

        Raises
        ------
        WorkCancelled
            After :meth:`cancel`.
        WorkDeadlineExceeded
            When the deadline has passed.
        """
        if self._cancelled.is_set():
            self.stopped = "client_gone"
            raise WorkCancelled(step)
        if self._clock() >= self._expires_at:
            self.stopped = "deadline"
            raise WorkDeadlineExceeded(step, self.seconds)


NO_DEADLINE = Deadline(math.inf)
"""The deadline of work outside any request (CLI, jobs, tests): never passes, never cancelled."""

_current: ContextVar[Deadline] = ContextVar("specimen_deadline", default=NO_DEADLINE)


def current_deadline() -> Deadline:
    """The deadline of the request this code runs for (:data:`NO_DEADLINE` outside one)."""
    return _current.get()


def checkpoint(step: str, deadline: Deadline | None = None) -> None:
    """Stop here if ``deadline`` (by default the current request's) says so."""
    (deadline or _current.get()).check(step)


@contextmanager
def deadline_scope(deadline: Deadline) -> Iterator[Deadline]:
    """Make ``deadline`` the current one inside the block."""
    token = _current.set(deadline)
    try:
        yield deadline
    finally:
        _current.reset(token)
