"""What the gateway costs: the same requests sent straight to a service and through it.

Starts the suite as ``make run`` does (real users service on a temporary SQLite database,
gateway with its rate limit off) with the segment upstream replaced by
``bench/echo_upstream.py``, a Specimen service that does no work. Each scenario is loaded at
a fixed concurrency for a fixed time, direct and via the gateway (``wrk`` when installed, else
the aiohttp load generator in ``bench/loadgen.py``); the script prints requests/s, p50/p99
latency, the ratio via-gateway ÷ direct and the latency the gateway adds.

    .venv/bin/python bench/gateway_overhead.py [--seconds 10] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import httpx

from specimen_kit.launch import ServiceProcess, free_port

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent / "scripts"))

from local_suite import DEFAULT_PORTS, LocalSuite  # noqa: E402


@dataclass(frozen=True)
class Scenario:
    name: str
    service: str  # "users" (the real service) or "echo" (no work)
    method: str
    path: str
    body_bytes: int = 0
    authenticated: bool = False


@dataclass(frozen=True)
class Result:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value.strip()).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(url: str, scenario: Scenario, headers: dict[str, str], concurrency: int,
            seconds: float, workdir: Path) -> Result:
    script = workdir / (re.sub(r"[^A-Za-z0-9]+", "_", scenario.name) + ".lua")
    lines = [f'wrk.method = "{scenario.method}"']
    lines += [f'wrk.headers["{key}"] = "{value}"' for key, value in headers.items()]
    if scenario.body_bytes:
        lines.append(f'wrk.body = string.rep("x", {scenario.body_bytes})')
        lines.append('wrk.headers["Content-Type"] = "application/octet-stream"')
    script.write_text("\n".join(lines) + "\n")
    return wrk_result(url, script, concurrency, seconds)


def wrk_result(url: str, script: Path, concurrency: int, seconds: float,
               *extra_args: str) -> Result:
    """Run wrk with a lua ``script`` and read throughput, p50/p99 and errors from its report."""
    output = subprocess.run(
        ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds:g}s", *extra_args, "--latency",
         "-s", str(script), url],
        check=True, capture_output=True, text=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    failed = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       output)
    errors = (int(bad.group(1)) if bad else 0) + (
        sum(int(n) for n in failed.groups()) if failed else 0)
    return Result(rps, p50, p99, errors)


def run_loadgen(url: str, scenario: Scenario, headers: dict[str, str], concurrency: int,
                seconds: float, workdir: Path) -> Result:
    command = [sys.executable, str(BENCH_DIR / "loadgen.py"), url, "--method", scenario.method,
               "--body-bytes", str(scenario.body_bytes), "--concurrency", str(concurrency),
               "--seconds", str(seconds)]
    for key, value in headers.items():
        command += ["--header", f"{key}: {value}"]
    data = json.loads(subprocess.run(command, check=True, capture_output=True,
                                     text=True).stdout)
    return Result(data["requests"] / data["seconds"], data["p50"] * 1000, data["p99"] * 1000,
                  data["errors"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per measurement")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--body-kb", type=int, default=500)
    parser.add_argument("--tool", choices=("auto", "wrk", "aiohttp"), default="auto")
    parser.add_argument("--log-level", default="INFO", help="gateway log level (access log: INFO)")
    args = parser.parse_args()
    tool = ("wrk" if shutil.which("wrk") else "aiohttp") if args.tool == "auto" else args.tool
    load = run_wrk if tool == "wrk" else run_loadgen

    scenarios = [
        Scenario("no-op service: small JSON GET, token", "echo", "GET", "/api/v1/segment/small",
                 authenticated=True),
        Scenario(f"no-op service: {args.body_kb} KB POST, token", "echo", "POST",
                 "/api/v1/segment/echo", body_bytes=args.body_kb * 1000, authenticated=True),
        Scenario("users: GET /.well-known/jwks.json, public", "users", "GET",
                 "/.well-known/jwks.json"),
        Scenario("users: GET /api/v1/auth/me, token + database", "users", "GET",
                 "/api/v1/auth/me", authenticated=True),
    ]
    with tempfile.TemporaryDirectory(prefix="specimen-bench-") as tmp:
        workdir = Path(tmp)
        echo = ServiceProcess("echo", "echo_upstream:create_app", free_port(),
                              log_path=workdir / "echo.log", env={"PYTHONPATH": str(BENCH_DIR)})
        password = "bench-" + os.urandom(8).hex()
        suite = LocalSuite(workdir / "data", ports={name: free_port() for name in DEFAULT_PORTS},
                           env={"SPECIMEN_SEGMENT_URL": echo.url, "SPECIMEN_ADMIN_PASSWORD": password,
                                "SPECIMEN_GATEWAY_RATE_LIMIT": "off",
                                "SPECIMEN_LOG_LEVEL": args.log_level})
        rows = []
        try:
            echo.start()
            echo.wait_ready()
            suite.start()
            login = httpx.post(suite.url("users") + "/api/v1/auth/login",
                               json={"email": "admin@specimen.local", "password": password})
            login.raise_for_status()
            headers_with_token = {"Authorization": f"Bearer {login.json()['access_token']}"}
            for scenario in scenarios:
                headers = headers_with_token if scenario.authenticated else {}
                direct_base = echo.url if scenario.service == "echo" else suite.url("users")
                measured = []
                for base in (direct_base, suite.url("gateway")):
                    load(base + scenario.path, scenario, headers, args.concurrency,
                         min(2.0, args.seconds), workdir)  # warm-up: pools, JWKS, caches
                    measured.append(load(base + scenario.path, scenario, headers,
                                         args.concurrency, args.seconds, workdir))
                rows.append((scenario, *measured))
        finally:
            suite.stop()
            echo.stop()

    print(f"tool: {tool}, concurrency {args.concurrency}, {args.seconds:g} s per run, "
          f"{os.cpu_count()} CPUs, gateway log level {args.log_level}")
    header = ("| scenario | req/s direct | req/s via gateway | ratio | p50 direct | p50 via | "
              "p99 direct | p99 via | added p50 | added p99 | errors |")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for scenario, direct, via in rows:
        print(f"| {scenario.name} | {direct.requests_per_second:,.0f} | "
              f"{via.requests_per_second:,.0f} | "
              f"{via.requests_per_second / direct.requests_per_second:.2f} | "
              f"{direct.p50_ms:.2f} ms | {via.p50_ms:.2f} ms | {direct.p99_ms:.2f} ms | "
              f"{via.p99_ms:.2f} ms | {via.p50_ms - direct.p50_ms:+.2f} ms | "
              f"{via.p99_ms - direct.p99_ms:+.2f} ms | {direct.errors + via.errors} |")


if __name__ == "__main__":
    main()
