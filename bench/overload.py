"""Overload and faults (issue 9): what the suite does when a crowd arrives or a part dies.

Starts the whole suite itself (``scripts/local_suite.py`` on free ports, a temporary data dir),
on a PostgreSQL cluster and a Redis of its own on free ports (initdb in the temporary dir, so
that restarting or stopping them harms nobody; SQLite when no PostgreSQL binaries are found),
then, through the gateway on loopback only, with an asyncio driver (httpx):

1. ``GET /auth/me``, ``POST /segment/threshold`` and ``POST /classify/mri`` at concurrency
   8 / 32 / 128 for a few seconds each: throughput, p50/p99 and every non-2xx by status;
2. peak RSS of each service (``VmHWM``) while ``--rss-requests`` large images are thresholded
   at once (40 MP each by default, scaled down when the machine has too little free memory);
3. segment killed under load: how long until the gateway answers 503 naming it, and how long
   until it answers 200 again once segment is restarted;
4. PostgreSQL restarted under ``/auth/me`` load: what the clients saw while it was down, how
   long until the first 200, and whether any 500 came after it was back;
5. Redis stopped: does login still answer, and what.

Everything is bounded in requests and time, and the script stops what it started.

    .venv/bin/python bench/overload.py [--seconds 3] [--rss-megapixels 40]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from specimen_kit.launch import ServiceProcess, free_port

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent / "scripts"))

from local_suite import DEFAULT_PORTS, FACTORIES, SMALL_MODELS, LocalSuite  # noqa: E402

ADMIN_EMAIL = "bench@overload.test"
ADMIN_PASSWORD = "overload-" + os.urandom(6).hex()
CONCURRENCIES = (8, 32, 128)
BYTES_PER_PIXEL_GUESS = 40
"""A pessimistic peak per pixel in flight, used only to keep the RSS cell within free memory."""


@dataclass
class Cell:
    """One load run: latencies of 2xx answers and every status seen."""

    route: str
    concurrency: int
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int | str] = field(default_factory=Counter)
    measured_ms: dict[float, float] = field(default_factory=dict)
    """Percentiles measured by wrk (of every answer), when it drove the cell."""

    @property
    def throughput(self) -> float:
        return sum(self.statuses.values()) / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float) -> float:
        if fraction in self.measured_ms:
            return self.measured_ms[fraction]
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] * 1000 if ordered else 0

    @property
    def not_ok(self) -> str:
        return ", ".join(f"{n} x {status}" for status, n in sorted(
            self.statuses.items(), key=str) if not str(status).startswith("2")) or "—"


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def _discs(size: int) -> np.ndarray:
    yy, xx = np.ogrid[:size, :size]
    pixels = np.full((size, size), 30, np.uint8)
    pixels[(yy - size // 3) ** 2 + (xx - size // 3) ** 2 < (size // 8) ** 2] = 220
    pixels[(yy - 2 * size // 3) ** 2 + (xx - 2 * size // 3) ** 2 < (size // 6) ** 2] = 200
    return pixels


def _mri_slice() -> bytes:
    from specimen_classify.domain.synthetic_mri import mri_slice

    return _png(mri_slice(7, has_tumor=True).image)


Request = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


async def _load(client: httpx.AsyncClient, send: Request, cell: Cell, seconds: float,
                max_requests: int) -> Cell:
    """``cell.concurrency`` workers sending until ``seconds`` pass or ``max_requests`` are sent."""
    deadline = time.perf_counter() + seconds
    budget = [max_requests]

    async def worker() -> None:
        while time.perf_counter() < deadline and budget[0] > 0:
            budget[0] -= 1
            started = time.perf_counter()
            try:
                response = await send(client)
                cell.statuses[response.status_code] += 1
                if response.is_success:
                    cell.latencies.append(time.perf_counter() - started)
            except httpx.HTTPError as error:
                cell.statuses[type(error).__name__] += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(cell.concurrency)))
    cell.seconds = time.perf_counter() - started
    return cell


WRK_COUNTING = """
statuses = {}
local threads = {}
setup = function(thread) threads[#threads + 1] = thread end
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
done = function(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do total[status] = (total[status] or 0) + n end
  end
  local parts = {}
  for status, n in pairs(total) do parts[#parts + 1] = status .. "=" .. n end
  io.write("STATUSES " .. table.concat(parts, ",") .. "\\n")
  io.write(string.format("PERCENTILES %f %f\\n", latency:percentile(50) / 1000,
                         latency:percentile(99) / 1000))
  io.write(string.format("ERRORS connect=%d read=%d write=%d timeout=%d\\n", summary.errors.connect,
                         summary.errors.read, summary.errors.write, summary.errors.timeout))
end
"""


def _wrk_cell(url: str, cell: Cell, seconds: float, headers: dict[str, str], workdir: Path,
              body: bytes | None = None) -> Cell:
    """Drive one cell with ``wrk`` (one thread, ``cell.concurrency`` connections): a load
    generator in C, so that at 128 connections the client is not what saturates these 2 cores
    (httpx's pool was: the "before" table's collapse at 128 was partly the client's)."""
    script = workdir / "cell.lua"
    lines = [f'wrk.method = "{"POST" if body is not None else "GET"}"']
    lines += [f'wrk.headers["{key}"] = "{value}"' for key, value in headers.items()]
    if body is not None:
        (workdir / "body.bin").write_bytes(body)
        lines.append(f'do local f = assert(io.open("{workdir / "body.bin"}", "rb")); '
                     'wrk.body = f:read("*a"); f:close() end')
    script.write_text("\n".join(lines) + WRK_COUNTING)
    output = subprocess.run(
        ["wrk", "-t1", f"-c{cell.concurrency}", f"-d{seconds:g}s", "--timeout", "30s",
         "-s", str(script), url], check=True, capture_output=True, text=True).stdout
    for line in output.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "STATUSES" and rest:
            cell.statuses.update({int(k): int(v) for k, v in (p.split("=") for p in rest.split(","))})
        elif kind == "PERCENTILES":
            p50, p99 = (float(v) for v in rest.split())
            cell.measured_ms = {0.5: p50, 0.99: p99}
        elif kind == "ERRORS":
            cell.statuses.update({f"socket {k}": int(v) for k, v in (p.split("=") for p in rest.split())
                                  if int(v)})
    cell.seconds = seconds
    return cell


class Bench:
    def __init__(self, suite: LocalSuite, token: str, seconds: float) -> None:
        self.suite = suite
        self.gateway = suite.url("gateway")
        self.headers = {"Authorization": f"Bearer {token}"}
        self.seconds = seconds
        small = _png(_discs(256))
        mri = _mri_slice()
        self.routes: dict[str, Request] = {
            "GET /auth/me": lambda c: c.get("/api/v1/auth/me", headers=self.headers),
            "POST /segment/threshold": lambda c: c.post(
                "/api/v1/segment/threshold", headers=self.headers, params={"output": "json"},
                files={"image": ("d.png", small, "image/png")}),
            "POST /classify/mri": lambda c: c.post(
                "/api/v1/classify/mri", headers=self.headers,
                files={"image": ("s.png", mri, "image/png")}),
        }
        # The same requests for wrk: path (query included) and a raw image/png body.
        self.raw_routes: dict[str, tuple[str, bytes | None]] = {
            "GET /auth/me": ("/api/v1/auth/me", None),
            "POST /segment/threshold": ("/api/v1/segment/threshold?output=json", small),
            "POST /classify/mri": ("/api/v1/classify/mri", mri),
        }

    def client(self, concurrency: int, timeout: float = 30.0) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        return httpx.AsyncClient(base_url=self.gateway, limits=limits, timeout=timeout)

    async def concurrency_table(self, workdir: Path) -> list[Cell]:
        """Every route at every concurrency: with ``wrk`` (raw ``image/png`` bodies) when it is
        installed, else with the httpx driver (whose own cost caps the 128 column)."""
        cells = []
        for route, send in self.routes.items():
            for concurrency in CONCURRENCIES:
                if shutil.which("wrk"):
                    path, body = self.raw_routes[route]
                    headers = {**self.headers, **({"Content-Type": "image/png"} if body else {})}
                    cell = await asyncio.to_thread(_wrk_cell, self.gateway + path,
                                                   Cell(route, concurrency), self.seconds,
                                                   headers, workdir, body)
                else:
                    async with self.client(concurrency) as client:
                        cell = await _load(client, send, Cell(route, concurrency), self.seconds,
                                           max_requests=20_000)
                cells.append(cell)
                print(f"  {route} c={concurrency}: {cell.throughput:.0f}/s {cell.not_ok}",
                      file=sys.stderr)
                await asyncio.sleep(1.0)  # let a saturated service drain before the next cell
        return cells

    async def peak_rss(self, megapixels: float, requests: int) -> tuple[dict[str, float], str]:
        side = int((megapixels * 1e6) ** 0.5)
        big = _png(_discs(side))
        headers = {**self.headers, "content-type": "image/png"}

        def send(client: httpx.AsyncClient) -> Awaitable[httpx.Response]:
            return client.post("/api/v1/segment/threshold", headers=headers,
                               params={"output": "json"}, content=big)

        async with self.client(requests, timeout=120.0) as client:
            cell = await _load(client, send, Cell("threshold big", requests), seconds=120.0,
                               max_requests=requests)
        peaks = {name: _high_water_mb(process) for name, process in self.suite.processes.items()}
        note = (f"{side} x {side} px ({side * side / 1e6:.1f} MP, {len(big) / 1e3:.0f} kB PNG); "
                f"answers: {dict(cell.statuses)}")
        return peaks, note

    async def kill_under_load(self) -> tuple[float | None, float | None, Counter[int | str]]:
        """Kill segment while threshold requests run; seconds to a 503 naming it, then to 200."""
        send = self.routes["POST /segment/threshold"]
        statuses: Counter[int | str] = Counter()
        async with self.client(8, timeout=10.0) as client:
            background = asyncio.create_task(_load(client, send, Cell("kill", 8), 6.0, 10_000))
            await asyncio.sleep(1.0)
            killed_at = time.perf_counter()
            _process_of(self.suite.processes["segment"]).send_signal(signal.SIGKILL)
            to_503 = await _until(client, send, lambda r: r.status_code == 503
                                  and "segment" in r.text, statuses, 10.0)
            to_503 = None if to_503 is None else to_503 - killed_at
            restart = ServiceProcess("segment", FACTORIES["segment"], self.suite.ports["segment"],
                                     env=self.suite.environment(),
                                     log_path=self.suite.log_dir / "segment.log")
            restart.start()
            self.suite.processes["segment"] = restart
            restarted_at = time.perf_counter()
            back = await _until(client, send, lambda r: r.is_success, statuses, 60.0)
            back = None if back is None else back - restarted_at
            cell = await background
            statuses.update(cell.statuses)
        return to_503, back, statuses

    async def restart_database(self, postgres: PrivatePostgres) -> tuple[
            Counter[int | str], Counter[int | str], float | None]:
        """``/auth/me`` at concurrency 8 while PostgreSQL restarts: the statuses during the
        restart, those after it was back, and the seconds from its return to the first 200."""
        send = self.routes["GET /auth/me"]
        during: Counter[int | str] = Counter()
        after: Counter[int | str] = Counter()
        async with self.client(8, timeout=10.0) as client:
            background = asyncio.create_task(_load(client, send, Cell("restart", 8), 3.0, 10_000))
            await asyncio.sleep(1.0)
            await asyncio.to_thread(postgres.restart)
            back_at = time.perf_counter()
            during.update((await background).statuses)
            first_ok = await _until(client, send, lambda r: r.is_success, after, 30.0)
            cell = await _load(client, send, Cell("after restart", 8), 3.0, 10_000)
            after.update(cell.statuses)
        return during, after, None if first_ok is None else first_ok - back_at

    def login(self) -> str:
        try:
            response = httpx.post(self.gateway + "/api/v1/auth/login", timeout=15.0,
                                  json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
            return f"{response.status_code}" + (
                "" if response.is_success else f" {response.json().get('title', '')}")
        except httpx.HTTPError as error:
            return type(error).__name__


async def _until(client: httpx.AsyncClient, send: Request,
                 done: Callable[[httpx.Response], bool], statuses: Counter[int | str],
                 within: float) -> float | None:
    deadline = time.perf_counter() + within
    while time.perf_counter() < deadline:
        try:
            response = await send(client)
            statuses[response.status_code] += 1
            if done(response):
                return time.perf_counter()
        except httpx.HTTPError as error:
            statuses[type(error).__name__] += 1
        await asyncio.sleep(0.02)
    return None


def _process_of(process: ServiceProcess) -> subprocess.Popen[bytes]:
    popen = process._process  # the launcher keeps its Popen private; the bench needs the pid
    assert popen is not None
    return popen


def _high_water_mb(process: ServiceProcess) -> float:
    """The process's peak resident memory (``VmHWM``), in MB."""
    status = Path(f"/proc/{_process_of(process).pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def _available_bytes() -> int:
    meminfo = Path("/proc/meminfo").read_text()
    line = next(line for line in meminfo.splitlines() if line.startswith("MemAvailable:"))
    return int(line.split()[1]) * 1024


def _start_redis(data_dir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    redis = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", "--port", str(port), "--save", "",
         "--appendonly", "no", "--bind", "127.0.0.1", "--dir", str(data_dir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return redis, port


class PrivatePostgres:
    """A throwaway PostgreSQL cluster in ``directory`` on a free port (run as the ``postgres``
    user when this process is root, as initdb requires)."""

    DATABASES = ("users", "segment", "classify")

    def __init__(self, directory: Path) -> None:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not found:
            raise FileNotFoundError("no PostgreSQL server binaries under /usr/lib/postgresql")
        self.bin = found[-1].parent
        self.directory = directory
        self.port = free_port()

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *command], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)

    def _ctl(self, action: str) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.directory / "data"), "-w", "-m", "fast",
                  "-l", str(self.directory / "postgres.log"),
                  "-o", f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1",
                  action)

    def start(self) -> None:
        self.directory.mkdir(parents=True)
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres")
            self.directory.parent.chmod(0o711)  # a private temporary dir: let postgres through
        self._run(str(self.bin / "initdb"), "-D", str(self.directory / "data"), "-U", "postgres",
                  "--auth=trust")
        self._ctl("start")
        for name in self.DATABASES:
            self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                      "-U", "postgres", f"specimen_{name}")

    def restart(self) -> None:
        self._ctl("restart")

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._ctl("stop")

    def urls(self) -> dict[str, str]:
        return {f"SPECIMEN_{name.upper()}_DATABASE_URL":
                f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/specimen_{name}"
                for name in self.DATABASES}


def _table(cells: list[Cell]) -> str:
    best = {route: max(c.throughput for c in cells if c.route == route)
            for route in {c.route for c in cells}}
    lines = ["| route | concurrency | req/s | p50 ms (2xx) | p99 ms (2xx) | ÷ best | non-2xx |",
             "| --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for c in cells:
        share = c.throughput / best[c.route] if best[c.route] else 0.0
        lines.append(f"| `{c.route}` | {c.concurrency} | {c.throughput:.0f} | "
                     f"{c.percentile(0.5):.0f} | {c.percentile(0.99):.0f} | {share:.2f} | "
                     f"{c.not_ok} |")
    return "\n".join(lines)


async def _measure(bench: Bench, redis: subprocess.Popen[bytes], postgres: PrivatePostgres | None,
                   args: argparse.Namespace) -> None:
    print("concurrency…", file=sys.stderr)
    cells = await bench.concurrency_table(args.workdir)

    budget = _available_bytes() // 2
    megapixels = min(args.rss_megapixels,
                     budget / (args.rss_requests * BYTES_PER_PIXEL_GUESS * 1e6))
    print(f"peak RSS at {megapixels:.1f} MP…", file=sys.stderr)
    peaks, rss_note = await bench.peak_rss(megapixels, args.rss_requests)

    print("kill under load…", file=sys.stderr)
    to_503, back, kill_statuses = await bench.kill_under_load()

    restart = None
    if postgres is not None:
        print("postgres restart under load…", file=sys.stderr)
        restart = await bench.restart_database(postgres)

    print("redis down…", file=sys.stderr)
    before = await asyncio.to_thread(bench.login)
    redis.terminate()
    redis.wait(10)
    after = [await asyncio.to_thread(bench.login) for _ in range(3)]

    print(f"\n### Overload and faults ({time.strftime('%Y-%m-%d')}, {platform.node()}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{args.seconds:g} s per cell, {'wrk' if shutil.which('wrk') else 'httpx'} load, "
          f"{'own PostgreSQL' if postgres else 'SQLite'}, own Redis)\n")
    print(_table(cells))
    print(f"\nPeak RSS (VmHWM) with {args.rss_requests} concurrent thresholds of {rss_note}:\n")
    print("| service | peak RSS MB |\n| --- | ---: |")
    for name, mb in peaks.items():
        print(f"| {name} | {mb:.0f} |")
    print("\n| fault | measured |\n| --- | --- |")
    print(f"| segment SIGKILLed under load → gateway 503 naming it | "
          f"{'never' if to_503 is None else f'{to_503 * 1000:.0f} ms'} |")
    print(f"| segment restarted → first 200 through the gateway | "
          f"{'never' if back is None else f'{back:.1f} s'} (statuses: {dict(kill_statuses)}) |")
    print(f"| Redis stopped → login | before: {before}; after: {', '.join(after)} |")
    if restart is None:
        print("| PostgreSQL restarted under load | not measured: no PostgreSQL binaries |")
    else:
        during, after_back, first_ok = restart
        print(f"| PostgreSQL restarted under `/auth/me` load → answers meanwhile | {dict(during)} |")
        print(f"| PostgreSQL back → first 200 | "
              f"{'never' if first_ok is None else f'{first_ok * 1000:.0f} ms'}; "
              f"then 3 s of load: {dict(after_back)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per concurrency cell")
    parser.add_argument("--rss-megapixels", type=float, default=40.0)
    parser.add_argument("--rss-requests", type=int, default=20)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="specimen-overload-") as scratch:
        data_dir = Path(scratch)
        redis, redis_port = _start_redis(data_dir)
        postgres: PrivatePostgres | None = None
        try:
            postgres = PrivatePostgres(data_dir / "postgres")
            postgres.start()
        except (FileNotFoundError, subprocess.CalledProcessError) as error:
            print(f"no private PostgreSQL ({error}); the services run on SQLite", file=sys.stderr)
            postgres = None
        suite = LocalSuite(data_dir / "suite", ports={n: free_port() for n in DEFAULT_PORTS}, env={
            **(postgres.urls() if postgres else {}),
            "SPECIMEN_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "SPECIMEN_ADMIN_EMAIL": ADMIN_EMAIL, "SPECIMEN_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "SPECIMEN_BCRYPT_ROUNDS": "4",
            "SPECIMEN_GATEWAY_RATE_LIMIT": "10000000/minute",
            "SPECIMEN_LOGIN_RATE_LIMIT_PER_ADDRESS": "10000/minute",
            "SPECIMEN_LOG_LEVEL": "warning",
        }, bootstrap_args=SMALL_MODELS)
        try:
            suite.start()
            token = httpx.post(suite.url("gateway") + "/api/v1/auth/login", timeout=15.0, json={
                "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}).json()["access_token"]
            args.workdir = data_dir
            asyncio.run(_measure(Bench(suite, token, args.seconds), redis, postgres, args))
        finally:
            suite.stop()
            if postgres is not None:
                postgres.stop()
            if redis.poll() is None:
                redis.terminate()
                redis.wait(10)


if __name__ == "__main__":
    main()
