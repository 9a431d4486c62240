"""Fixed-window rate limits, in process memory or shared through Redis.

Memory is the zero-set-up default and limits per replica; with ``SPECIMEN_REDIS_URL`` set the
counters live in Redis and hold across replicas.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis


@dataclass(frozen=True, slots=True)
class RateLimit:
    """``limit`` hits per ``window_seconds``; written ``"10/minute"`` in settings."""

    limit: int
    window_seconds: int

    _UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """Parse ``"<count>/<second|minute|hour|day>"``.

        >>> RateLimit.parse("10/minute")
        RateLimit(limit=10, window_seconds=60)
        """
        count, _, unit = text.strip().partition("/")
        unit = unit.strip().rstrip("s")
        if not count.strip().isdigit() or unit not in cls._UNITS or int(count) < 1:
            raise ValueError(f"rate limit {text!r} is not of the form '10/minute' "
                             f"(units: {', '.join(cls._UNITS)})")
        return cls(int(count), cls._UNITS[unit])


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    retry_after: int = 0


class RateLimiter(Protocol):
    async def hit(self, key: str, rule: RateLimit) -> Decision: ...


class MemoryRateLimiter:
    """Counters in this process; fine for one replica and for tests."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._windows: dict[str, tuple[int, int]] = {}

    async def hit(self, key: str, rule: RateLimit) -> Decision:
        now = self._clock()
        window = int(now // rule.window_seconds)
        started, count = self._windows.get(key, (window, 0))
        if started != window:
            count = 0
            if len(self._windows) > 100_000:
                self._windows = {k: v for k, v in self._windows.items() if v[0] == window}
        count += 1
        self._windows[key] = (window, count)
        if count <= rule.limit:
            return Decision(True)
        retry_after = math.ceil((window + 1) * rule.window_seconds - now)
        return Decision(False, max(retry_after, 1))


class RedisRateLimiter:
    """Counters in Redis (``INCR`` + ``EXPIRE NX``), shared by every replica."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    async def hit(self, key: str, rule: RateLimit) -> Decision:
        window = int(time.time() // rule.window_seconds)
        redis_key = f"{self._prefix}:{key}:{window}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(redis_key)
            pipe.expire(redis_key, rule.window_seconds, nx=True)
            count, _ = await pipe.execute()
        if count <= rule.limit:
            return Decision(True)
        retry_after = math.ceil((window + 1) * rule.window_seconds - time.time())
        return Decision(False, max(retry_after, 1))


def build_rate_limiter(redis_url: str | None, prefix: str) -> tuple[RateLimiter, Redis | None]:
    """A Redis limiter when a URL is set (the client is returned so the owner closes it)."""
    if not redis_url:
        return MemoryRateLimiter(), None
    redis = Redis.from_url(redis_url)
    return RedisRateLimiter(redis, prefix), redis
