"""A small aiohttp load generator, used when ``wrk`` is not installed.

Runs in its own process (``python loadgen.py URL ...``) so it does not share a CPU core's
event loop with what it measures; prints one JSON object: requests, seconds, latencies.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import aiohttp


async def _run(url: str, method: str, body: bytes | None, headers: dict[str, str],
               concurrency: int, seconds: float) -> dict[str, object]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                async with session.request(method, url, data=body, headers=headers) as response:
                    await response.read()
                    if response.status >= 400:
                        errors += 1
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {"requests": len(latencies), "seconds": elapsed, "errors": errors,
            "p50": latencies[len(latencies) // 2],
            "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--method", default="GET")
    parser.add_argument("--body-bytes", type=int, default=0)
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    headers = dict(h.split(": ", 1) for h in args.header)
    body = b"x" * args.body_bytes if args.body_bytes else None
    result = asyncio.run(_run(args.url, args.method, body, headers, args.concurrency,
                              args.seconds))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
