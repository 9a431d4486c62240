"""A byte-weighted bound on the request bodies the gateway holds in memory at once.

The gateway reads a body whole before it takes an upstream connection (a slow client must not
hold one of the pooled connections: issue 9, finding 9). Each body is bounded by the size
limit; this bounds their sum, so that many large uploads at once are a 503 + ``Retry-After``
rather than the gateway's memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from specimen_kit.errors import Problem

RETRY_AFTER_SECONDS = 1


class BuffersFull(Problem):
    """The gateway holds as many request bodies as its memory budget allows; retry shortly."""

    status = 503
    title = "Gateway buffers full"
    slug = "gateway-buffers-full"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, retry_after=RETRY_AFTER_SECONDS)
        self.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)


class BodyBudget:
    """Reservations of body bytes against ``max_bytes`` (one event loop: no lock needed)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.reserved = 0

    @contextmanager
    def reserve(self, size: int) -> Iterator[None]:
        """Hold ``size`` bytes of the budget while the block runs; :class:`BuffersFull` if
        they are not free."""
        if self.reserved + size > self.max_bytes:
            raise BuffersFull(f"The gateway is holding {self.reserved} bytes of request bodies "
                              f"already (limit {self.max_bytes}); retry in a moment.")
        self.reserved += size
        try:
            yield
        finally:
            self.reserved -= size
