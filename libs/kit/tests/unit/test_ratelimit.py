from __future__ import annotations

import uuid

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from specimen_kit.launch import free_port
from specimen_kit.ratelimit import (
    REDIS_DEGRADED,
    REDIS_RETRY_INTERVAL_SECONDS,
    Decision,
    FallbackCounters,
    MemoryCounters,
    MemoryRateLimiter,
    RateLimit,
    RedisCounters,
    RedisRateLimiter,
    build_rate_limiter,
)
from specimen_kit.testing import REDIS_URL, service_unavailable


async def _live_redis() -> Redis:
    redis = Redis.from_url(REDIS_URL)
    try:
        await redis.ping()
    except Exception as error:
        await redis.aclose()
        service_unavailable("Redis", error)
    return redis


class TestRateLimitParse:
    @pytest.mark.parametrize(("text", "expected"), [
        ("10/minute", RateLimit(10, 60)), ("1/second", RateLimit(1, 1)),
        ("600/minutes", RateLimit(600, 60)), ("5/hour", RateLimit(5, 3600)),
    ])
    def test_valid_forms(self, text: str, expected: RateLimit) -> None:
        assert RateLimit.parse(text) == expected

    @pytest.mark.parametrize("text", ["", "10", "ten/minute", "0/minute", "5/fortnight"])
    def test_invalid_forms_name_the_expected_shape(self, text: str) -> None:
        with pytest.raises(ValueError, match="10/minute"):
            RateLimit.parse(text)


class TestMemoryRateLimiter:
    async def test_allows_up_to_the_limit_then_says_when_to_retry(self) -> None:
        now = [120.0]
        limiter = MemoryRateLimiter(clock=lambda: now[0])
        rule = RateLimit(2, 60)
        assert [await limiter.hit("a", rule) for _ in range(3)] == [
            Decision(True), Decision(True), Decision(False, 60)]
        now[0] = 150.0
        assert await limiter.hit("a", rule) == Decision(False, 30)
        assert await limiter.hit("b", rule) == Decision(True)

    async def test_a_new_window_starts_afresh(self) -> None:
        now = [0.0]
        limiter = MemoryRateLimiter(clock=lambda: now[0])
        rule = RateLimit(1, 10)
        assert (await limiter.hit("a", rule)).allowed
        assert not (await limiter.hit("a", rule)).allowed
        now[0] = 10.0
        assert (await limiter.hit("a", rule)).allowed


@pytest.mark.redis
class TestRedisRateLimiter:
    async def test_counts_are_shared_through_redis(self) -> None:
        redis = Redis.from_url(REDIS_URL)
        try:
            await redis.ping()
        except Exception as error:
            await redis.aclose()
            service_unavailable("Redis", error)
        prefix = f"test-{uuid.uuid4().hex}"
        first, second = RedisRateLimiter(redis, prefix), RedisRateLimiter(redis, prefix)
        rule = RateLimit(3, 60)
        results = [await limiter.hit("client", rule) for limiter in (first, second, first, second)]
        await redis.aclose()
        assert [r.allowed for r in results] == [True, True, True, False]
        assert 1 <= results[-1].retry_after <= 60


class TestMemoryCounters:
    async def test_values_expire_with_their_time_to_live(self) -> None:
        now = [0.0]
        counters = MemoryCounters(clock=lambda: now[0])
        assert [await counters.increment("k", 10) for _ in range(2)] == [1, 2]
        now[0] = 6.0
        assert (await counters.get("k"), await counters.seconds_left("k")) == (2, 4.0)
        now[0] = 10.0
        assert (await counters.get("k"), await counters.seconds_left("k")) == (0, 0.0)

    async def test_refresh_restarts_the_time_to_live(self) -> None:
        now = [0.0]
        counters = MemoryCounters(clock=lambda: now[0])
        await counters.increment("k", 10)
        now[0] = 8.0
        await counters.increment("k", 10)
        assert await counters.seconds_left("k") == 2.0
        await counters.increment("k", 10, refresh=True)
        assert await counters.seconds_left("k") == 10.0
        await counters.delete("k", "absent")
        assert await counters.get("k") == 0


class _FlakyRedis:
    """Counters that fail, while ``down``, as a Redis that went away does."""

    def __init__(self) -> None:
        self.down = True
        self.calls = 0
        self._values = MemoryCounters()

    def _call(self) -> None:
        self.calls += 1
        if self.down:
            raise RedisConnectionError("Connection refused")

    async def increment(self, key: str, ttl_seconds: float, *, refresh: bool = False) -> int:
        self._call()
        return await self._values.increment(key, ttl_seconds, refresh=refresh)

    async def get(self, key: str) -> int:
        self._call()
        return await self._values.get(key)

    async def seconds_left(self, key: str) -> float:
        self._call()
        return await self._values.seconds_left(key)

    async def delete(self, *keys: str) -> None:
        self._call()
        await self._values.delete(*keys)


class TestFallbackCounters:
    async def test_a_failing_redis_is_replaced_by_memory_and_asked_again_later(
            self, caplog: pytest.LogCaptureFixture) -> None:
        now = [0.0]
        broken = _FlakyRedis()
        counters = FallbackCounters(broken, store="test-fallback", clock=lambda: now[0])
        assert [await counters.increment("k", 60) for _ in range(3)] == [1, 2, 3]
        assert await counters.get("k") == 3
        # One failed call, then memory alone until the retry interval has passed.
        assert broken.calls == 1
        assert counters.degraded
        assert REDIS_DEGRADED.labels("test-fallback")._value.get() == 1
        assert [r.message for r in caplog.records].count(
            "Redis failed; counting in process memory until it answers again") == 1
        now[0] = REDIS_RETRY_INTERVAL_SECONDS
        assert await counters.increment("k", 60) == 4
        assert broken.calls == 2

    async def test_it_returns_to_redis_when_redis_answers(self) -> None:
        now = [0.0]
        redis = _FlakyRedis()
        counters = FallbackCounters(redis, store="test-recovery", clock=lambda: now[0])
        await counters.increment("k", 60)
        redis.down = False
        now[0] = REDIS_RETRY_INTERVAL_SECONDS
        assert await counters.increment("k", 60) == 1
        assert not counters.degraded
        assert REDIS_DEGRADED.labels("test-recovery")._value.get() == 0

    async def test_rate_limit_with_redis_on_a_closed_port_still_limits(self) -> None:
        limiter, redis = build_rate_limiter(f"redis://127.0.0.1:{free_port()}/0", "closed")
        assert redis is not None
        try:
            rule = RateLimit(2, 60)
            decisions = [await limiter.hit("client", rule) for _ in range(3)]
        finally:
            await redis.aclose()
        assert [d.allowed for d in decisions] == [True, True, False]
        assert decisions[-1].retry_after >= 1


@pytest.mark.redis
class TestRedisCounters:
    async def test_increment_refresh_get_and_delete(self) -> None:
        redis = await _live_redis()
        counters = RedisCounters(redis, f"test-{uuid.uuid4().hex}")
        try:
            assert [await counters.increment("k", 30) for _ in range(2)] == [1, 2]
            assert 29 < await counters.seconds_left("k") <= 30
            await counters.increment("k", 100, refresh=True)
            assert 99 < await counters.seconds_left("k") <= 100
            assert await counters.get("k") == 3
            await counters.delete("k")
            assert (await counters.get("k"), await counters.seconds_left("k")) == (0, 0.0)
        finally:
            await redis.aclose()

    async def test_fallback_counts_in_redis_while_it_answers(self) -> None:
        redis = await _live_redis()
        prefix = f"test-{uuid.uuid4().hex}"
        counters = FallbackCounters(RedisCounters(redis, prefix), store=prefix)
        try:
            await counters.increment("k", 30)
            assert await redis.get(f"{prefix}:k") == b"1"
            assert not counters.degraded
        finally:
            await redis.delete(f"{prefix}:k")
            await redis.aclose()
