"""Served Otsu masks against the same pipeline in-process on one core, ratios measured in one run.

The pipeline is what ``POST /api/v1/segment/threshold`` runs: decode the PNG, Otsu threshold
with opening(2) + closing(2), encode the mask as PNG. In this process it runs in a loop pinned
to one CPU core with OpenCV at one thread (the reference); then the suite is started as
``make run`` does (real users, segment and gateway, rate limit off) and the same PNG is POSTed
as the raw body (``Content-Type: image/png``) with a real token, via the gateway and direct
to the segment service, at several concurrencies (``wrk`` when installed, else the aiohttp
load generator of ``bench/loadgen.py``). Two images: ``skimage.data.coins()`` resized to
512x512 (8-bit gray, ~145 KB) and the astronaut with fixed-seed noise (512x512 RGB, ~550 KB,
the 500 KB-class body of the gateway benchmark, but against real image work).

Prints a markdown table: images/s or requests/s, p50/p99, served ÷ in-process (issue 3's goal:
≥ 1.0 on two cores) and via-gateway ÷ direct; non-2xx answers are counted as errors and shown.

    .venv/bin/python bench/segment_served.py [--seconds 10] [--concurrency 1 4 16]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import httpx
import numpy as np
from gateway_overhead import BENCH_DIR, DEFAULT_PORTS, LocalSuite, Result, wrk_result
from skimage import data as skdata

from specimen_imaging.codecs import decode_image, encode_image
from specimen_kit.launch import free_port
from specimen_segment.operations import run_operation

PATH = "/api/v1/segment/threshold"
PARAMS = {"method": "otsu", "opening_radius": 2, "closing_radius": 2}
QUERY = "?" + "&".join(f"{key}={value}" for key, value in PARAMS.items())


@dataclass(frozen=True)
class TestImage:
    name: str
    png: bytes


def test_images() -> list[TestImage]:
    coins = cv2.resize(skdata.coins(), (512, 512), interpolation=cv2.INTER_CUBIC)
    astronaut = skdata.astronaut().astype(np.float64)
    noisy = astronaut + np.random.default_rng(0).normal(0.0, 6.0, astronaut.shape)
    rgb = np.clip(noisy, 0, 255).astype(np.uint8)
    images = []
    for label, pixels in (("coins 512x512 gray", coins), ("noisy astronaut 512x512 RGB", rgb)):
        png = encode_image(pixels, "png")
        images.append(TestImage(f"{label} PNG, {len(png) / 1000:.0f} KB", png))
    return images


def busy_cores(seconds: float = 1.0) -> float:
    """How many cores the whole machine kept busy over ``seconds`` (``/proc/stat``)."""

    def busy() -> float:
        with open("/proc/stat") as stat:
            ticks = [int(n) for n in stat.readline().split()[1:]]
        return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # less idle, iowait

    start = busy()
    time.sleep(seconds)
    return (busy() - start) / seconds


def pipeline(png: bytes) -> bytes:
    """What the route does with the raw body: decode → Otsu + opening + closing → PNG mask."""
    pixels = decode_image(png).pixels
    return encode_image(run_operation("threshold", pixels, PARAMS).image, "png")


def in_process(png: bytes, seconds: float) -> tuple[Result, str]:
    """Images/s and per-image latency of :func:`pipeline` in a loop, and its stages' medians."""
    for _ in range(5):  # warm-up: imports, OpenCV kernels, allocator
        pipeline(png)
    stages = []
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    while time.perf_counter() < deadline:  # pipeline(), with a clock between the stages
        t0 = time.perf_counter()
        pixels = decode_image(png).pixels
        t1 = time.perf_counter()
        mask = run_operation("threshold", pixels, PARAMS).image
        t2 = time.perf_counter()
        encode_image(mask, "png")
        stages.append((t1 - t0, t2 - t1, time.perf_counter() - t2))
    elapsed = time.perf_counter() - started
    times = np.array(stages) * 1000
    p50, p99 = np.percentile(times.sum(axis=1), [50, 99])
    decode, threshold, encode = np.median(times, axis=0)
    split = f"decode {decode:.2f} + threshold {threshold:.2f} + encode {encode:.2f} ms"
    return Result(len(stages) / elapsed, float(p50), float(p99), 0), split


def wrk(url: str, body: Path, headers: dict[str, str], concurrency: int, seconds: float,
        workdir: Path) -> Result:
    script = workdir / f"post_{body.stem}.lua"
    lines = ['wrk.method = "POST"', f'local f = assert(io.open("{body}", "rb"))',
             "wrk.body = f:read(\"*a\")", "f:close()"]
    lines += [f'wrk.headers["{key}"] = "{value}"' for key, value in headers.items()]
    script.write_text("\n".join(lines) + "\n")
    return wrk_result(url, script, concurrency, seconds, "--timeout", "30s")


LOADGEN = """
import asyncio, json, sys
sys.path.insert(0, sys.argv[1])
from loadgen import _run
url, body, headers, concurrency, seconds = sys.argv[2], sys.argv[3], json.loads(sys.argv[4]), \
    int(sys.argv[5]), float(sys.argv[6])
with open(body, "rb") as f:
    payload = f.read()
print(json.dumps(asyncio.run(_run(url, "POST", payload, headers, concurrency, seconds))))
"""


def aiohttp_load(url: str, body: Path, headers: dict[str, str], concurrency: int,
                 seconds: float, workdir: Path) -> Result:
    """``bench/loadgen.py``'s generator in its own process, posting the file's bytes."""
    out = subprocess.run(
        [sys.executable, "-c", LOADGEN, str(BENCH_DIR), url, str(body), json.dumps(headers),
         str(concurrency), str(seconds)],
        check=True, capture_output=True, text=True,
    ).stdout
    data = json.loads(out)
    return Result(data["requests"] / data["seconds"], data["p50"] * 1000, data["p99"] * 1000,
                  data["errors"])


def check_answer(url: str, image: TestImage, headers: dict[str, str], expected: bytes) -> None:
    """One request before the load: 200, a PNG, and the same mask as in-process."""
    response = httpx.post(url, content=image.png, headers=headers, timeout=30.0)
    if response.status_code != 200:
        raise SystemExit(f"{url}: {response.status_code} {response.text[:500]}")
    served = decode_image(response.content).pixels
    if not np.array_equal(served, decode_image(expected).pixels):
        raise SystemExit(f"{url}: the served mask differs from the in-process one")


def show_errors(url: str, image: TestImage, headers: dict[str, str]) -> str:
    """What a few requests answer now, for rows whose load saw errors."""
    seen: dict[str, int] = {}
    for _ in range(5):
        try:
            response = httpx.post(url, content=image.png, headers=headers, timeout=30.0)
            key = f"{response.status_code} {response.text[:120]!r}" if response.status_code >= 300 \
                else str(response.status_code)
        except httpx.HTTPError as error:
            key = type(error).__name__
        seen[key] = seen.get(key, 0) + 1
    return "; ".join(f"{n}x {key}" for key, n in seen.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per measurement")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--tool", choices=("auto", "wrk", "aiohttp"), default="auto")
    parser.add_argument("--log-level", default="INFO", help="gateway log level (access log: INFO)")
    args = parser.parse_args()
    tool = ("wrk" if shutil.which("wrk") else "aiohttp") if args.tool == "auto" else args.tool
    load = wrk if tool == "wrk" else aiohttp_load
    images = test_images()
    busy_before = busy_cores()

    # The reference: this process alone, pinned to one core, OpenCV at one thread.
    default_threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    cores = os.sched_getaffinity(0)
    reference: dict[str, tuple[Result, bytes]] = {}
    splits: list[str] = []
    os.sched_setaffinity(0, {min(cores)})
    try:
        for image in images:
            result, split = in_process(image.png, args.seconds)
            reference[image.name] = (result, pipeline(image.png))
            splits.append(f"in-process stages (medians), {image.name}: {split}")
    finally:
        os.sched_setaffinity(0, cores)  # the services started below inherit this

    rows: list[tuple[TestImage, int, Result, Result]] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="specimen-bench-") as tmp:
        workdir = Path(tmp)
        password = "bench-" + os.urandom(8).hex()
        suite = LocalSuite(workdir / "data", ports={name: free_port() for name in DEFAULT_PORTS},
                           env={"SPECIMEN_ADMIN_PASSWORD": password,
                                "SPECIMEN_GATEWAY_RATE_LIMIT": "off",
                                "SPECIMEN_LOG_LEVEL": args.log_level})
        try:
            suite.start()
            login = httpx.post(suite.url("users") + "/api/v1/auth/login",
                               json={"email": "admin@specimen.local", "password": password})
            login.raise_for_status()
            token = {"Authorization": f"Bearer {login.json()['access_token']}"}
            headers = {**token, "Content-Type": "image/png"}
            for index, image in enumerate(images):
                body = workdir / f"image{index}.png"
                body.write_bytes(image.png)
                for concurrency in args.concurrency:
                    measured = []
                    for base in (suite.url("segment"), suite.url("gateway")):
                        url = base + PATH + QUERY
                        check_answer(url, image, headers, reference[image.name][1])
                        load(url, body, headers, concurrency, min(2.0, args.seconds), workdir)
                        result = load(url, body, headers, concurrency, args.seconds, workdir)
                        if result.errors:
                            notes.append(f"{image.name}, c={concurrency}, {url}: "
                                         f"{result.errors} errors; now: "
                                         + show_errors(url, image, headers))
                        measured.append(result)
                    rows.append((image, concurrency, *measured))
            if suite.exited():
                notes.append(f"exited during the run: {', '.join(suite.exited())}")
        finally:
            suite.stop()

    print(f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
          f"Python {platform.python_version()}, OpenCV {cv2.__version__}; in-process: one core "
          f"(sched_setaffinity), cv2.setNumThreads(1); services: one uvicorn process each, "
          f"OpenCV at its default {default_threads} threads, "
          f"gateway log level {args.log_level}; load: {tool} (1 thread), {args.seconds:g} s per "
          f"run after a 2 s warm-up; route {PATH}{QUERY}, raw image/png body, real token; "
          f"other work on the machine just before: {busy_before:.2f} cores busy, just after: "
          f"{busy_cores():.2f} (above ~0.1 means the figures shared the cores)\n")
    header = ("| image | concurrency | in-process img/s (1 core) | p50 / p99 in-process | "
              "req/s direct | req/s via gateway | **served ÷ in-process** (via gateway) | "
              "via ÷ direct | p50 direct / via | p99 direct / via | errors |")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for image, concurrency, direct, via in rows:
        ref = reference[image.name][0]
        print(f"| {image.name} | {concurrency} | {ref.requests_per_second:,.0f} | "
              f"{ref.p50_ms:.2f} / {ref.p99_ms:.2f} ms | {direct.requests_per_second:,.0f} | "
              f"{via.requests_per_second:,.0f} | "
              f"**{via.requests_per_second / ref.requests_per_second:.2f}** | "
              f"{via.requests_per_second / direct.requests_per_second:.2f} | "
              f"{direct.p50_ms:.1f} / {via.p50_ms:.1f} ms | "
              f"{direct.p99_ms:.1f} / {via.p99_ms:.1f} ms | {direct.errors + via.errors} |")
    for note in splits + notes:
        print(f"\n- {note}")


if __name__ == "__main__":
    main()
