"""A burst far above capacity, then: does the service answer again, and how soon?

An asyncio + aiohttp driver on loopback, bounded in time and concurrency. It keeps
``concurrency`` requests in flight for ``seconds``, counts every status (and every transport
error), then sends one normal request after another until one is answered and reports how long
that took: the recovery time (issue 9, finding 8: users answered nothing for three minutes).

    python bench/burst.py http://127.0.0.1:8001/api/v1/auth/me \\
        --header "Authorization: Bearer $TOKEN" --concurrency 128 --seconds 30

The regression test in ``tests/suite`` imports :func:`burst` and :func:`recovery`; figures go to
BENCHMARKS.md, never into assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import aiohttp

TRANSPORT_ERROR = "transport-error"
CLIENT_TIMEOUT = "client-timeout"


@dataclass
class BurstResult:
    """What a burst got back: counts by status (or failure kind) and latency quantiles."""

    seconds: float
    statuses: Counter[str] = field(default_factory=Counter)
    retry_after_missing: int = 0
    latencies: list[float] = field(default_factory=list, repr=False)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")

    def summary(self) -> dict[str, object]:
        return {"requests": self.requests, "seconds": round(self.seconds, 2),
                "per_second": round(self.requests / self.seconds, 1),
                "p50_ms": round(self.quantile(0.5) * 1000, 1),
                "p99_ms": round(self.quantile(0.99) * 1000, 1),
                "statuses": dict(sorted(self.statuses.items())),
                "503_without_retry_after": self.retry_after_missing}


async def burst(url: str, *, concurrency: int, seconds: float, method: str = "GET",
                headers: Mapping[str, str] | None = None, body: bytes | None = None,
                request_timeout: float = 30.0) -> BurstResult:
    """Keep ``concurrency`` requests in flight for ``seconds``; count what comes back."""
    result = BurstResult(seconds=seconds)
    deadline = time.perf_counter() + seconds
    timeout = aiohttp.ClientTimeout(total=request_timeout)
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def worker() -> None:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    async with session.request(method, url, headers=headers, data=body) as response:
                        await response.read()
                        result.statuses[str(response.status)] += 1
                        if response.status == 503 and "Retry-After" not in response.headers:
                            result.retry_after_missing += 1
                except TimeoutError:
                    result.statuses[CLIENT_TIMEOUT] += 1
                except aiohttp.ClientError:
                    result.statuses[TRANSPORT_ERROR] += 1
                result.latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        result.seconds = time.perf_counter() - started
    return result


async def recovery(url: str, *, headers: Mapping[str, str] | None = None,
                   within: float = 60.0, method: str = "GET",
                   body: bytes | None = None) -> tuple[int, float]:
    """Ask once at a time until a non-503 answer (or ``within`` passes).

    Returns the last status (0 when nothing answered) and the seconds it took.
    """
    started = time.perf_counter()
    status = 0
    async with aiohttp.ClientSession() as session:
        while time.perf_counter() - started < within:
            remaining = within - (time.perf_counter() - started)
            try:
                async with session.request(method, url, headers=headers, data=body,
                                           timeout=aiohttp.ClientTimeout(total=remaining)) as response:
                    await response.read()
                    status = response.status
            except (TimeoutError, aiohttp.ClientError):
                status = 0
            if status not in (0, 503):
                break
            await asyncio.sleep(0.05)
    return status, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("--method", default="GET")
    parser.add_argument("--header", action="append", default=[], help="'Name: value'")
    parser.add_argument("--concurrency", type=int, default=128)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--request-timeout", type=float, default=30.0)
    args = parser.parse_args()
    headers = dict(h.split(": ", 1) for h in args.header)

    async def run() -> dict[str, object]:
        result = await burst(args.url, concurrency=args.concurrency, seconds=args.seconds,
                             method=args.method, headers=headers,
                             request_timeout=args.request_timeout)
        status, seconds = await recovery(args.url, headers=headers)
        return {**result.summary(), "concurrency": args.concurrency,
                "recovery": {"status": status, "seconds": round(seconds, 3)}}

    print(json.dumps(asyncio.run(run())))


if __name__ == "__main__":
    main()
