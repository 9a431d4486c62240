"""Rate limits and other expiring counters, in process memory or shared through Redis.

Memory is the zero-set-up default and counts per replica; with ``SPECIMEN_REDIS_URL`` set the
counters live in Redis and hold across replicas. When Redis fails (down, unreachable, too
slow), the counters fall back to process memory instead of failing the request: limits keep
working, per replica and from zero, until Redis answers again. The outage is logged once, and
``specimen_ratelimit_redis_degraded`` is 1 while it lasts.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from prometheus_client import Counter, Gauge
from redis.asyncio import Redis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_REDIS_TIMEOUT_SECONDS = 0.5
# After a failure, Redis is asked again only this much later: a dead Redis costs one timeout
# per interval, not one per request.
REDIS_RETRY_INTERVAL_SECONDS = 5.0
# Past this many keys, expired ones are dropped on the next write (memory stays bounded by
# the keys live in one window, whatever the number of addresses or accounts seen).
_MEMORY_PRUNE_AT = 100_000

REDIS_FALLBACKS = Counter(
    "specimen_ratelimit_redis_fallbacks_total",
    "Counter operations answered from process memory because Redis failed or was skipped.",
    ("store",),
)
REDIS_DEGRADED = Gauge(
    "specimen_ratelimit_redis_degraded",
    "1 while the counters of this store are kept in process memory because Redis failed.",
    ("store",),
)


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


class ExpiringCounters(Protocol):
    """Integer counters that vanish when their time to live runs out (Redis semantics)."""

    async def increment(self, key: str, ttl_seconds: float, *, refresh: bool = False) -> int:
        """Add one and return the new value; the time to live is set on the first increment,
        or on every one with ``refresh``."""
        ...

    async def get(self, key: str) -> int:
        """The value, 0 when absent or expired."""
        ...

    async def seconds_left(self, key: str) -> float:
        """The time to live left, 0 when absent or expired."""
        ...

    async def delete(self, *keys: str) -> None: ...


class MemoryCounters:
    """Counters in this process; fine for one replica, for tests, and while Redis is down."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._values: dict[str, tuple[int, float]] = {}

    def _live(self, key: str, now: float) -> tuple[int, float] | None:
        entry = self._values.get(key)
        if entry is None or entry[1] <= now:
            return None
        return entry

    async def increment(self, key: str, ttl_seconds: float, *, refresh: bool = False) -> int:
        now = self._clock()
        entry = self._live(key, now)
        if entry is None and len(self._values) >= _MEMORY_PRUNE_AT:
            self._values = {k: v for k, v in self._values.items() if v[1] > now}
        value = (entry[0] if entry else 0) + 1
        expires = now + ttl_seconds if entry is None or refresh else entry[1]
        self._values[key] = (value, expires)
        return value

    async def get(self, key: str) -> int:
        entry = self._live(key, self._clock())
        return entry[0] if entry else 0

    async def seconds_left(self, key: str) -> float:
        now = self._clock()
        entry = self._live(key, now)
        return entry[1] - now if entry else 0.0

    async def delete(self, *keys: str) -> None:
        for key in keys:
            self._values.pop(key, None)


class RedisCounters:
    """Counters in Redis under ``prefix``, shared by every replica."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    async def increment(self, key: str, ttl_seconds: float, *, refresh: bool = False) -> int:
        name = f"{self._prefix}:{key}"
        milliseconds = max(1, math.ceil(ttl_seconds * 1000))
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.pexpire(name, milliseconds, nx=not refresh)
            value, _ = await pipe.execute()
        return int(value)

    async def get(self, key: str) -> int:
        value = await self._redis.get(f"{self._prefix}:{key}")
        return int(value) if value is not None else 0

    async def seconds_left(self, key: str) -> float:
        milliseconds = await self._redis.pttl(f"{self._prefix}:{key}")
        return max(int(milliseconds), 0) / 1000

    async def delete(self, *keys: str) -> None:
        if keys:
            await self._redis.delete(*(f"{self._prefix}:{key}" for key in keys))


class FallbackCounters:
    """Redis counters that answer from process memory while Redis fails.

    Login throttling and the gateway's rate limit must not turn a Redis outage into an outage
    of their own; counting per replica for a while is the lesser harm.
    """

    def __init__(self, primary: ExpiringCounters, store: str,
                 fallback: ExpiringCounters | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._primary = primary
        self._fallback = fallback or MemoryCounters()
        self._store = store
        self._clock = clock
        self._retry_at: float | None = None

    @property
    def degraded(self) -> bool:
        return self._retry_at is not None

    def _use_primary(self) -> bool:
        return self._retry_at is None or self._clock() >= self._retry_at

    def _failed(self, error: Exception) -> None:
        if self._retry_at is None:
            logger.warning("Redis failed; counting in process memory until it answers again",
                           extra={"store": self._store, "error": repr(error)})
            REDIS_DEGRADED.labels(self._store).set(1)
        self._retry_at = self._clock() + REDIS_RETRY_INTERVAL_SECONDS
        REDIS_FALLBACKS.labels(self._store).inc()

    def _answered(self) -> None:
        if self._retry_at is not None:
            logger.warning("Redis answers again; counting in Redis", extra={"store": self._store})
            REDIS_DEGRADED.labels(self._store).set(0)
            self._retry_at = None

    async def _either(self, in_redis: Callable[[], Awaitable[T]],
                      in_memory: Callable[[], Awaitable[T]]) -> T:
        if self._use_primary():
            try:
                result = await in_redis()
            except (RedisError, OSError) as error:
                self._failed(error)
            else:
                self._answered()
                return result
        REDIS_FALLBACKS.labels(self._store).inc()
        return await in_memory()

    async def increment(self, key: str, ttl_seconds: float, *, refresh: bool = False) -> int:
        return await self._either(
            lambda: self._primary.increment(key, ttl_seconds, refresh=refresh),
            lambda: self._fallback.increment(key, ttl_seconds, refresh=refresh))

    async def get(self, key: str) -> int:
        return await self._either(lambda: self._primary.get(key),
                                  lambda: self._fallback.get(key))

    async def seconds_left(self, key: str) -> float:
        return await self._either(lambda: self._primary.seconds_left(key),
                                  lambda: self._fallback.seconds_left(key))

    async def delete(self, *keys: str) -> None:
        # Memory too: a key counted there during an outage must not outlive a success either.
        await self._fallback.delete(*keys)
        await self._either(lambda: self._primary.delete(*keys), _nothing)


async def _nothing() -> None:
    return None


class RateLimiter(Protocol):
    async def hit(self, key: str, rule: RateLimit) -> Decision: ...


class WindowRateLimiter:
    """Fixed windows over expiring counters: one counter per key and window."""

    def __init__(self, counters: ExpiringCounters,
                 clock: Callable[[], float] = time.time) -> None:
        self._counters = counters
        self._clock = clock

    async def hit(self, key: str, rule: RateLimit) -> Decision:
        now = self._clock()
        window = int(now // rule.window_seconds)
        count = await self._counters.increment(f"{key}:{window}", rule.window_seconds)
        if count <= rule.limit:
            return Decision(True)
        retry_after = math.ceil((window + 1) * rule.window_seconds - now)
        return Decision(False, max(retry_after, 1))


class MemoryRateLimiter(WindowRateLimiter):
    """Counters in this process; fine for one replica and for tests."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        super().__init__(MemoryCounters(clock), clock)


class RedisRateLimiter(WindowRateLimiter):
    """Counters in Redis (``INCR`` + ``PEXPIRE NX``), shared by every replica."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        super().__init__(RedisCounters(redis, prefix))


def build_counters(redis_url: str | None, prefix: str, *,
                   timeout_seconds: float = DEFAULT_REDIS_TIMEOUT_SECONDS,
                   ) -> tuple[ExpiringCounters, Redis | None]:
    """Redis counters falling back to memory when a URL is set, else memory alone.

    The Redis client is returned so that its owner closes it. ``timeout_seconds`` bounds
    every Redis call, connecting included: past it the counters answer from memory.
    """
    if not redis_url:
        return MemoryCounters(), None
    redis = Redis.from_url(redis_url, socket_timeout=timeout_seconds,
                           socket_connect_timeout=timeout_seconds)
    return FallbackCounters(RedisCounters(redis, prefix), store=prefix), redis


def build_rate_limiter(redis_url: str | None, prefix: str, *,
                       timeout_seconds: float = DEFAULT_REDIS_TIMEOUT_SECONDS,
                       ) -> tuple[RateLimiter, Redis | None]:
    """A fixed-window limiter over :func:`build_counters` (Redis when set, memory while it fails)."""
    counters, redis = build_counters(redis_url, prefix, timeout_seconds=timeout_seconds)
    return WindowRateLimiter(counters), redis
