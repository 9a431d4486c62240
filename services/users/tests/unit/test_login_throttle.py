"""The login throttle's rules on a fake clock (issue 9, finding 5: no lockout by strangers)."""

from __future__ import annotations

import pytest

from specimen_kit.errors import TooManyRequests
from specimen_kit.ratelimit import MemoryCounters, RateLimit
from specimen_users.domain.errors import InvalidCredentials
from specimen_users.domain.login_throttle import LoginThrottle, LoginThrottleRules

ADMIN = "admin@specimen.local"
STRANGER, OWNER = "203.0.113.66", "198.51.100.7"
RULES = LoginThrottleRules(per_address=RateLimit(1000, 60), per_account=RateLimit(20, 3600),
                           free_failures=3, first_delay_seconds=2, max_delay_seconds=900)


class Clock:
    def __init__(self, now: float = 7200.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def throttle(clock: Clock, rules: LoginThrottleRules = RULES) -> LoginThrottle:
    return LoginThrottle(MemoryCounters(clock), rules, clock)


async def wrong() -> str:
    raise InvalidCredentials()


async def right() -> str:
    return "tokens"


async def outcome(guard: LoginThrottle, address: str, attempt: object = wrong,
                  email: str = ADMIN) -> int | str:
    """401, 429 + Retry-After as ``"429:<seconds>"``, or what the attempt returned."""
    try:
        return await guard.guard(email, address, attempt)  # type: ignore[arg-type]
    except InvalidCredentials:
        return 401
    except TooManyRequests as refused:
        return f"429:{refused.headers['Retry-After']}"


class TestRules:
    def test_delays_start_after_the_free_failures_double_and_stop_at_the_cap(self) -> None:
        assert [RULES.delay_after(n) for n in range(1, 15)] == [
            0, 0, 0, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]

    def test_a_huge_failure_count_stays_at_the_cap(self) -> None:
        assert RULES.delay_after(10**6) == 900

    @pytest.mark.parametrize(("first", "longest"), [(0, 10), (20, 10)])
    def test_incoherent_delays_are_refused(self, first: float, longest: float) -> None:
        with pytest.raises(ValueError, match="first login delay"):
            LoginThrottleRules(RateLimit(1, 60), RateLimit(1, 60),
                               first_delay_seconds=first, max_delay_seconds=longest)


class TestPerAccountAndAddress:
    async def test_the_issue_reproduction_the_owner_logs_in_after_a_stranger_failed(
            self) -> None:
        clock = Clock()
        guard = throttle(clock)
        answers = [await outcome(guard, STRANGER) for _ in range(6)]
        assert answers == [401, 401, 401, 401, "429:2", "429:2"]  # the stranger waits
        assert await outcome(guard, STRANGER, right) == "429:2"
        assert await outcome(guard, OWNER, right) == "tokens"

    async def test_repeated_failures_from_one_address_get_growing_retry_after(self) -> None:
        clock = Clock()
        guard = throttle(clock)
        answers = [await outcome(guard, STRANGER) for _ in range(3)]
        waits = []
        for _ in range(6):
            assert await outcome(guard, STRANGER) == 401
            refused = await outcome(guard, STRANGER)
            assert isinstance(refused, str)
            waits.append(int(refused.split(":")[1]))
            clock.now += waits[-1]
        assert answers == [401, 401, 401]
        assert waits == [2, 4, 8, 16, 32, 64]

    async def test_the_hold_ends_with_its_delay(self) -> None:
        clock = Clock()
        guard = throttle(clock)
        for _ in range(4):
            await outcome(guard, STRANGER)
        clock.now += 1.5
        assert await outcome(guard, STRANGER, right) == "429:1"
        clock.now += 0.5
        assert await outcome(guard, STRANGER, right) == "tokens"

    async def test_a_success_clears_the_pair(self) -> None:
        clock = Clock()
        guard = throttle(clock)
        for _ in range(3):
            await outcome(guard, OWNER)
        assert await outcome(guard, OWNER, right) == "tokens"
        # Three free failures again, not a delay after the first.
        assert [await outcome(guard, OWNER) for _ in range(4)] == [401] * 4
        assert await outcome(guard, OWNER) == "429:2"

    async def test_a_quiet_pair_is_forgotten(self) -> None:
        clock = Clock()
        guard = throttle(clock)
        for _ in range(4):
            await outcome(guard, STRANGER)
        clock.now += RULES.pair_memory_seconds
        assert [await outcome(guard, STRANGER) for _ in range(4)] == [401] * 4

    async def test_emails_are_one_account_whatever_their_case(self) -> None:
        clock = Clock()
        guard = throttle(clock)
        for email in ("Admin@Specimen.local", " ADMIN@specimen.local", ADMIN, ADMIN.upper()):
            await outcome(guard, STRANGER, email=email)
        assert await outcome(guard, STRANGER, right) == "429:2"

    async def test_unknown_accounts_are_throttled_alike(self) -> None:
        clock = Clock()
        guard = throttle(clock)
        for _ in range(4):
            await outcome(guard, STRANGER, email="nobody@example.org")
        assert await outcome(guard, STRANGER, email="nobody@example.org") == "429:2"


class TestPerAccountCeiling:
    async def test_past_it_only_addresses_that_failed_for_the_account_wait(self) -> None:
        clock = Clock(now=3600.0 * 10 + 600)
        rules = LoginThrottleRules(per_address=RateLimit(1000, 60),
                                   per_account=RateLimit(5, 3600), free_failures=3)
        guard = throttle(clock, rules)
        # A botnet: five addresses, one guess each, none past its free failures.
        for bot in range(5):
            assert await outcome(guard, f"192.0.2.{bot}") == 401
        # Each may not guess again until the account's window ends (50 minutes left)...
        assert await outcome(guard, "192.0.2.0") == "429:3000"
        assert await outcome(guard, "192.0.2.4", right) == "429:3000"
        # ...but an address that has not failed reaches the password check.
        assert await outcome(guard, "192.0.2.99") == 401
        assert await outcome(guard, OWNER, right) == "tokens"
        # Other accounts are not affected.
        assert await outcome(guard, "192.0.2.0", email="ada@example.org") == 401
        clock.now += 3000
        assert await outcome(guard, "192.0.2.0", right) == "tokens"


class TestPerAddress:
    async def test_it_caps_attempts_on_every_account_before_the_password_check(self) -> None:
        clock = Clock(now=30.0)
        rules = LoginThrottleRules(per_address=RateLimit(2, 60), per_account=RateLimit(20, 3600))
        guard = throttle(clock, rules)
        assert await outcome(guard, STRANGER, email="a@example.org") == 401
        assert await outcome(guard, STRANGER, right, email="b@example.org") == "tokens"
        assert await outcome(guard, STRANGER, right, email="c@example.org") == "429:30"
        assert await outcome(guard, OWNER, right, email="c@example.org") == "tokens"
