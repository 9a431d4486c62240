"""Login throttling that slows a guesser down without locking the account's owner out.

Rules, checked before any bcrypt work unless said otherwise:

1. **Per address**: at most ``per_address`` attempts, on any accounts, from one address.
2. **Per account and address**: failures are counted after the password check. The first
   ``free_failures`` cost nothing; each further one holds that pair back for a delay that
   doubles from ``first_delay_seconds`` up to ``max_delay_seconds`` (429 + ``Retry-After``). A
   success clears the pair; a pair quiet for twice the longest delay is forgotten.
3. **Per account**: past ``per_account`` failures from all addresses in its window, addresses
   that have themselves failed for the account wait for the window to end.
4. **Never** is a correct password refused from an address that has not been failing for the
   account: rules 2 and 3 only hold back pairs with failures, so a stranger guessing the
   admin's password slows down the stranger, not the admin (issue 9, finding 5).

Unknown emails are counted like real ones, so the answers tell nothing about which exist.
The counters sit behind :class:`~specimen_kit.ratelimit.ExpiringCounters` (memory, or Redis
falling back to memory).
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from specimen_kit.errors import TooManyRequests
from specimen_kit.ratelimit import ExpiringCounters, RateLimit, WindowRateLimiter
from specimen_users.domain.errors import InvalidCredentials
from specimen_users.domain.validation import login_email

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class LoginThrottleRules:
    """The limits of the module docstring's rules 1 to 3."""

    per_address: RateLimit
    per_account: RateLimit
    free_failures: int = 3
    first_delay_seconds: float = 2.0
    max_delay_seconds: float = 900.0

    def __post_init__(self) -> None:
        if self.free_failures < 0:
            raise ValueError(f"free_failures must be 0 or more, not {self.free_failures}")
        if not 0 < self.first_delay_seconds <= self.max_delay_seconds:
            raise ValueError(
                f"the first login delay ({self.first_delay_seconds:g} s) must be above 0 and "
                f"at most the longest one ({self.max_delay_seconds:g} s)")

    def delay_after(self, failures: int) -> float:
        """Seconds a pair waits after its ``failures``-th consecutive failure.

        >>> rules = LoginThrottleRules(RateLimit(30, 60), RateLimit(20, 3600), free_failures=3)
        >>> [rules.delay_after(n) for n in (3, 4, 5, 6)]
        [0.0, 2.0, 4.0, 8.0]
        """
        past_free = failures - self.free_failures
        if past_free <= 0:
            return 0.0
        # The exponent is capped so that a long run of failures cannot overflow the float.
        return min(self.first_delay_seconds * 2.0 ** min(past_free - 1, 64),
                   self.max_delay_seconds)

    @property
    def pair_memory_seconds(self) -> float:
        """How long a pair's failures are remembered after its last one."""
        return 2 * self.max_delay_seconds


class LoginThrottle:
    """Rules 1 to 3 around one login attempt (see the module docstring)."""

    def __init__(self, counters: ExpiringCounters, rules: LoginThrottleRules,
                 clock: Callable[[], float] = time.time) -> None:
        self._counters = counters
        self._rules = rules
        self._clock = clock
        self._addresses = WindowRateLimiter(counters, clock)

    async def guard(self, email: str, address: str, attempt: Callable[[], Awaitable[T]]) -> T:
        """Run ``attempt`` (the password check) if the rules admit it, and record its outcome.

        Raises
        ------
        TooManyRequests
            The address, or this account from this address, must wait; ``Retry-After`` says
            how long. Raised before ``attempt`` runs, so a refused guess costs no bcrypt.
        InvalidCredentials
            From ``attempt``, after the failure is counted.
        """
        account = login_email(email)
        await self._admit(account, address)
        try:
            result = await attempt()
        except InvalidCredentials:
            await self._failed(account, address)
            raise
        await self._counters.delete(*self._pair_keys(account, address))
        return result

    @staticmethod
    def _pair_keys(account: str, address: str) -> tuple[str, str]:
        return f"pair-failures:{account}:{address}", f"pair-hold:{account}:{address}"

    def _account_window(self) -> tuple[str, float]:
        """The key suffix of the current per-account window, and the seconds left in it."""
        now = self._clock()
        seconds = self._rules.per_account.window_seconds
        window = int(now // seconds)
        return str(window), (window + 1) * seconds - now

    async def _admit(self, account: str, address: str) -> None:
        by_address = await self._addresses.hit(f"address:{address}", self._rules.per_address)
        if not by_address.allowed:
            raise _too_many(by_address.retry_after)
        failures_key, hold_key = self._pair_keys(account, address)
        held = await self._counters.seconds_left(hold_key)
        if held > 0:
            raise _too_many(math.ceil(held))
        window, left = self._account_window()
        account_failures = await self._counters.get(f"account-failures:{account}:{window}")
        if (account_failures >= self._rules.per_account.limit
                and await self._counters.get(failures_key) > 0):
            raise _too_many(math.ceil(left))

    async def _failed(self, account: str, address: str) -> None:
        failures_key, hold_key = self._pair_keys(account, address)
        failures = await self._counters.increment(
            failures_key, self._rules.pair_memory_seconds, refresh=True)
        window, left = self._account_window()
        await self._counters.increment(f"account-failures:{account}:{window}", left)
        delay = self._rules.delay_after(failures)
        if delay > 0:
            await self._counters.increment(hold_key, delay, refresh=True)


def _too_many(retry_after: int) -> TooManyRequests:
    retry_after = max(retry_after, 1)
    return TooManyRequests(f"Too many login attempts; try again in {retry_after} seconds.",
                           retry_after=retry_after)
