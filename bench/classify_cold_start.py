"""Classify's cold start to ``/readyz`` and resident memory, against the same with TensorFlow imported.

Three servers are started the way ``make run`` starts a service (``python -m uvicorn FACTORY
--factory``, one process), on the same model store, and each is timed from ``Popen`` to the
first 200 of ``/readyz`` (polled every 10 ms); its resident memory (``VmRSS``) is read when
ready and again after ``--requests`` classifications of 256x256 PNG slices, one at a time:

* **classify (LiteRT)**: the service as it ships, TensorFlow nowhere in the process;
* **classify + import tensorflow**: the *same* app in the same uvicorn, with ``import
  tensorflow`` run first (``python -c "import tensorflow, uvicorn; uvicorn.main()" ...``): the
  fairest measure of what TensorFlow in the serving process costs, all else equal;
* **reference (Keras predict)**: ``bench/reference_keras_server.py``, the reference design's
  server (TensorFlow, Keras, the model loaded with ``keras.models.load_model`` and one warm-up
  ``predict``), for what the design the issue replaces costs.

Two bare interpreters bound the figures: ``import ai_edge_litert.interpreter`` against ``import
tensorflow`` (wall time and the child's peak RSS). The suite (users for the token,
and its own classify) runs meanwhile. The page cache is warm for all of them (the Keras export
imports TensorFlow and the suite imports classify before the first measured start), then
``--repeats`` rounds start every variant in turn; medians are shown.

    .venv/bin/python bench/classify_cold_start.py [--repeats 3] [--requests 100]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from classify_mri_served import (
    PATH,
    REFERENCE_PATH,
    active_mri_dir,
    admin_suite,
    admin_token,
    bench_slices,
    export_keras,
    prepare_store,
)
from gateway_overhead import BENCH_DIR
from segment_served import busy_cores

from specimen_classify.adapters.model_store import ModelStore
from specimen_kit.launch import free_port

WITH_TENSORFLOW = "import tensorflow, uvicorn; uvicorn.main()"
"""``uvicorn.main`` is its click command: it reads the arguments after ``-c`` as uvicorn's own."""
POLL_SECONDS = 0.01


@dataclass(frozen=True)
class Variant:
    name: str
    prefix: tuple[str, ...]  # the interpreter's arguments before uvicorn's
    factory: str
    path: str
    authenticated: bool
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Start:
    ready_s: float
    rss_ready_mb: float
    first_request_ms: float
    rss_after_mb: float


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def start_once(variant: Variant, env: dict[str, str], slices: Sequence[bytes], headers: dict[str, str],
               requests: int, log: Path) -> Start:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, *variant.prefix, variant.factory, "--factory", "--host", "127.0.0.1",
               "--port", str(port), "--no-access-log"]
    with log.open("ab") as out:
        started = time.perf_counter()
        process = subprocess.Popen(command, env={**env, **variant.env}, stdout=out, stderr=out)
    try:
        with httpx.Client(timeout=5.0) as client:
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"{variant.name} exited with {process.returncode}; see {log}")
                try:
                    if client.get(base + "/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(POLL_SECONDS)
            ready = time.perf_counter() - started
            rss_ready = rss_mb(process.pid)
            auth = headers if variant.authenticated else {}
            first = 0.0
            for index in range(requests):
                sent = time.perf_counter()
                response = client.post(base + variant.path, content=slices[index % len(slices)],
                                       headers={**auth, "Content-Type": "image/png"}, timeout=60.0)
                if index == 0:
                    first = (time.perf_counter() - sent) * 1000
                if response.status_code != 200:
                    raise RuntimeError(f"{variant.name}: {response.status_code} {response.text[:300]}")
            return Start(ready, rss_ready, first, rss_mb(process.pid))
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def import_once(module: str, env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB, ``VmHWM``) of a bare interpreter importing ``module``.

    The child reads its own peak: ``wait4``'s ``ru_maxrss`` would count this (larger) process's
    pages from before the child's ``exec``.
    """
    code = (f"import {module}\n"
            "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')))")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    return elapsed, int(done.stdout.split()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--requests", type=int, default=100, help="classifications before the second RSS")
    parser.add_argument("--model-dir", type=Path, default=None,
                        help="serve this model store (default: train a small one in this run)")
    args = parser.parse_args()
    slices = [item.png for item in bench_slices()]

    with tempfile.TemporaryDirectory(prefix="specimen-bench-") as tmp:
        workdir = Path(tmp)
        model_dir = args.model_dir or workdir / "models"
        if args.model_dir is None:
            prepare_store(model_dir)
        keras_model = workdir / "reference.keras"
        export_keras(active_mri_dir(ModelStore(model_dir)), keras_model)
        classify = "specimen_classify.app:create_app"
        variants = [
            Variant("classify (LiteRT)", ("-m", "uvicorn"), classify, PATH, True),
            Variant("classify + import tensorflow", ("-c", WITH_TENSORFLOW), classify, PATH, True),
            Variant("reference (Keras predict)", ("-m", "uvicorn"), "reference_keras_server:create_app",
                    REFERENCE_PATH, False,
                    {"PYTHONPATH": str(BENCH_DIR), "SPECIMEN_BENCH_KERAS_MODEL": str(keras_model)}),
        ]
        imports = {"import ai_edge_litert.interpreter": "ai_edge_litert.interpreter",
                   "import tensorflow": "tensorflow"}
        busy_before = busy_cores()
        suite, password = admin_suite(workdir, model_dir, "WARNING")
        starts: dict[str, list[Start]] = {v.name: [] for v in variants}
        imported: dict[str, list[tuple[float, float]]] = {name: [] for name in imports}
        try:
            suite.start()
            token = admin_token(suite, password)
            env = {**os.environ, **suite.environment(), "TF_CPP_MIN_LOG_LEVEL": "3"}
            for _ in range(args.repeats):
                for variant in variants:
                    starts[variant.name].append(
                        start_once(variant, env, slices, token, args.requests, workdir / "starts.log"))
                for name, module in imports.items():
                    imported[name].append(import_once(module, env))
        finally:
            suite.stop()
        busy_after = busy_cores()

    print(f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), Python "
          f"{platform.python_version()}; medians of {args.repeats} starts each (min-max in brackets), "
          f"page cache warm; RSS after {args.requests} classifications of 256x256 PNG slices, one at a "
          f"time; other work on the machine just before: {busy_before:.2f} cores busy, just after: "
          f"{busy_after:.2f}\n")

    def cell(values: list[float], fmt: str) -> str:
        return (f"{format(statistics.median(values), fmt)} "
                f"[{format(min(values), fmt)}-{format(max(values), fmt)}]")

    header = ("| process | start to /readyz, s | RSS when ready, MB | first request, ms | "
              f"RSS after {args.requests} requests, MB | ready time ÷ LiteRT | RSS ÷ LiteRT |")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    base = starts[variants[0].name]
    base_ready = statistics.median(s.ready_s for s in base)
    base_rss = statistics.median(s.rss_after_mb for s in base)
    for variant in variants:
        runs = starts[variant.name]
        ready = statistics.median(s.ready_s for s in runs)
        rss_after = statistics.median(s.rss_after_mb for s in runs)
        print(f"| {variant.name} | {cell([s.ready_s for s in runs], '.2f')} | "
              f"{cell([s.rss_ready_mb for s in runs], '.0f')} | "
              f"{cell([s.first_request_ms for s in runs], '.1f')} | "
              f"{cell([s.rss_after_mb for s in runs], '.0f')} | {ready / base_ready:.1f}x | "
              f"{rss_after / base_rss:.1f}x |")
    for name, results in imported.items():
        print(f"| bare `python -c \"{name}\"` | {cell([r[0] for r in results], '.2f')} | "
              f"{cell([r[1] for r in results], '.0f')} (peak) | | | | |")


if __name__ == "__main__":
    main()
