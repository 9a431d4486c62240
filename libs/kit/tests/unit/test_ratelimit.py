from __future__ import annotations

import uuid

import pytest
from redis.asyncio import Redis

from specimen_kit.ratelimit import Decision, MemoryRateLimiter, RateLimit, RedisRateLimiter
from specimen_kit.testing import REDIS_URL, service_unavailable


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
