"""Served MRI classification through the gateway against the reference design's Keras server, one run.

The subject: ``POST /api/v1/classify/mri`` of the suite as ``make run`` starts it (real users,
segment, classify and gateway, rate limit off, a real admin token), answered by the LiteRT
runtime. The reference: ``bench/reference_keras_server.py``, a one-worker FastAPI server doing
the same decoding and preprocessing (``read_mri``, ``brain_crop``) and then Keras
``model.predict`` per request, as the reference design's server does, on a Keras copy of the
*same weights* (rebuilt from the served ``model.tflite`` and checked equal within 1e-5).

Both get the same eight 256x256 synthetic PNG slices (four with a tumor), raw
``Content-Type: image/png`` bodies, in turn, at each concurrency (``wrk -t1`` with a Lua
script, else the aiohttp load generator with one slice); the reference, the classify service
direct and via the gateway are loaded back to back at each level. Before the load every slice
is sent to both and their answers compared (label, crop box, tumor probability).

The model: by default a small one trained in this run on generated slices (``bootstrap_models``
with a few slices and epochs: its accuracy is irrelevant here, the architecture and runtime are
what is measured); ``--model-dir`` serves an existing store instead (e.g. ``.data/models``).

    .venv/bin/python bench/classify_mri_served.py [--seconds 8] [--concurrency 1 4 16]
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
from gateway_overhead import BENCH_DIR, DEFAULT_PORTS, LocalSuite, Result, wrk_result
from segment_served import aiohttp_load, busy_cores

from specimen_classify.adapters.model_store import ModelStore
from specimen_classify.adapters.mri_images import read_mri
from specimen_classify.adapters.mri_runtime import LiteRtMriModel
from specimen_classify.domain.predictions import MRI_MODEL, ModelVersion
from specimen_classify.domain.preprocessing import brain_crop
from specimen_classify.domain.synthetic_mri import mri_slice
from specimen_kit.launch import ServiceProcess, free_port

PATH = "/api/v1/classify/mri"
REFERENCE_PATH = "/classify/mri"
MAX_ANSWER_DIFF = 1e-5
SLICE_SEED = 7
"""Seed of the benchmark's slices; the bootstrap trains on seed 0's."""

BOOTSTRAP = """
import sys
from pathlib import Path
from specimen_classify.adapters.model_store import ModelStore
from specimen_classify.training.defaults import DefaultTraining, bootstrap_models
bootstrap_models(ModelStore(Path(sys.argv[1])), DefaultTraining(
    mri_slices_per_class=int(sys.argv[2]), mri_epochs=int(sys.argv[3]),
    plankton_frames=int(sys.argv[4])), progress=False)
"""


@dataclass(frozen=True)
class Slice:
    name: str
    png: bytes


def bench_slices(count: int = 8, seed: int = SLICE_SEED) -> list[Slice]:
    """``count`` 256x256 synthetic slices as PNG, half with a tumor."""
    slices = []
    for index in range(count):
        has_tumor = index % 2 == 0
        image = mri_slice((seed, int(has_tumor), index), has_tumor, 256).image
        ok, png = cv2.imencode(".png", image)
        if not ok:
            raise RuntimeError("OpenCV could not encode a slice as PNG")
        slices.append(Slice(f"{'tumor' if has_tumor else 'healthy'}{index}", png.tobytes()))
    return slices


def prepare_store(root: Path, *, mri_slices: int = 60, mri_epochs: int = 3,
                  plankton_frames: int = 2) -> None:
    """Train and register whatever default model ``root`` lacks, small, in a child process.

    The child imports TensorFlow and scikit-learn; this process (the load's driver) never does.
    """
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "SPECIMEN_LOG_LEVEL": "WARNING"}
    subprocess.run([sys.executable, "-c", BOOTSTRAP, str(root), str(mri_slices), str(mri_epochs),
                    str(plankton_frames)], check=True, env=env, capture_output=True)


def active_mri_dir(store: ModelStore) -> Path:
    version = store.active_version(MRI_MODEL)
    if version is None:
        raise SystemExit(f"{store.root} holds no {MRI_MODEL} model")
    return store.version_dir(MRI_MODEL, version)


def export_keras(version_dir: Path, out: Path) -> dict[str, Any]:
    """The Keras copy of the served weights for the reference server (checked equal to LiteRT)."""
    done = subprocess.run(
        [sys.executable, str(BENCH_DIR / "reference_keras_server.py"), "export", str(version_dir), str(out)],
        check=True, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def reference_server(model: Path, workdir: Path) -> ServiceProcess:
    return ServiceProcess("reference", "reference_keras_server:create_app", free_port(),
                          log_path=workdir / "reference.log",
                          env={"PYTHONPATH": str(BENCH_DIR), "SPECIMEN_BENCH_KERAS_MODEL": str(model),
                               "TF_CPP_MIN_LOG_LEVEL": "3"})


def admin_suite(workdir: Path, model_dir: Path, log_level: str) -> tuple[LocalSuite, str]:
    """The suite as ``make run`` starts it on free ports, serving ``model_dir``; and the admin's password."""
    password = "bench-" + os.urandom(8).hex()
    suite = LocalSuite(workdir / "data", ports={name: free_port() for name in DEFAULT_PORTS},
                       env={"SPECIMEN_ADMIN_PASSWORD": password, "SPECIMEN_GATEWAY_RATE_LIMIT": "off",
                            "SPECIMEN_CLASSIFY_MODEL_DIR": str(model_dir),
                            "SPECIMEN_LOG_LEVEL": log_level})
    return suite, password


def admin_token(suite: LocalSuite, password: str) -> dict[str, str]:
    login = httpx.post(suite.url("users") + "/api/v1/auth/login",
                       json={"email": "admin@specimen.local", "password": password})
    login.raise_for_status()
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def in_process_stages(slices: list[Slice], version_dir: Path, repeats: int = 30) -> dict[str, float]:
    """Median ms of decoding, cropping and one LiteRT call per slice, in this process."""
    model = LiteRtMriModel.load(version_dir, ModelVersion(MRI_MODEL, 0))
    times: list[tuple[float, float, float]] = []
    for _ in range(repeats):
        for item in slices:
            t0 = time.perf_counter()
            gray = read_mri(item.png, max_pixels=40_000_000)
            t1 = time.perf_counter()
            crop = brain_crop(gray)
            t2 = time.perf_counter()
            model.tumor_probabilities(crop.input_32[np.newaxis])
            times.append((t1 - t0, t2 - t1, time.perf_counter() - t2))
    decode, crop_ms, infer = np.median(np.array(times) * 1000, axis=0)
    return {"decode": float(decode), "crop": float(crop_ms), "litert": float(infer)}


def compare_answers(slices: list[Slice], subject: str, reference: str,
                    headers: dict[str, str]) -> float:
    """Send every slice to both; the labels and crop boxes must agree. Largest probability difference."""
    worst = 0.0
    for item in slices:
        answers = []
        for url, extra in ((subject, headers), (reference, {})):
            response = httpx.post(url, content=item.png, timeout=60.0,
                                  headers={**extra, "Content-Type": "image/png"})
            if response.status_code != 200:
                raise SystemExit(f"{url}: {response.status_code} {response.text[:500]}")
            answers.append(response.json())
        served, ref = answers
        if served["label"] != ref["label"] or served["crop_box"] != ref["crop_box"]:
            raise SystemExit(f"{item.name}: served {served} but the reference answered {ref}")
        worst = max(worst, abs(served["tumor_probability"] - ref["tumor_probability"]))
    if worst > MAX_ANSWER_DIFF:
        raise SystemExit(f"served and reference tumor probabilities differ by {worst:.3g}")
    return worst


def rotating_wrk(workdir: Path, bodies: list[Path]) -> Callable[..., Result]:
    """A ``wrk`` load that POSTs the bodies in turn, as raw image/png."""

    def load(url: str, headers: dict[str, str], concurrency: int, seconds: float) -> Result:
        script = workdir / f"rotate_{'token' if headers else 'open'}.lua"
        lines = ['wrk.method = "POST"', 'wrk.headers["Content-Type"] = "image/png"']
        lines += [f'wrk.headers["{key}"] = "{value}"' for key, value in headers.items()]
        lines += ["local bodies = {}"]
        for body in bodies:
            lines += [f'do local f = assert(io.open("{body}", "rb")); '
                      'bodies[#bodies + 1] = f:read("*a"); f:close() end']
        lines += ["local n = 0", "request = function()", "  n = n % #bodies + 1",
                  "  return wrk.format(nil, nil, nil, bodies[n])", "end"]
        script.write_text("\n".join(lines) + "\n")
        return wrk_result(url, script, concurrency, seconds, "--timeout", "30s")

    return load


def first_body_aiohttp(workdir: Path, bodies: list[Path]) -> Callable[..., Result]:
    def load(url: str, headers: dict[str, str], concurrency: int, seconds: float) -> Result:
        return aiohttp_load(url, bodies[0], {**headers, "Content-Type": "image/png"}, concurrency,
                            seconds, workdir)

    return load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="per measurement")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--model-dir", type=Path, default=None,
                        help="serve this model store (default: train a small one in this run)")
    parser.add_argument("--tool", choices=("auto", "wrk", "aiohttp"), default="auto")
    parser.add_argument("--log-level", default="INFO", help="services' log level (access log: INFO)")
    args = parser.parse_args()
    tool = ("wrk" if shutil.which("wrk") else "aiohttp") if args.tool == "auto" else args.tool
    slices = bench_slices()

    rows: list[tuple[int, Result, Result, Result]] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="specimen-bench-") as tmp:
        workdir = Path(tmp)
        model_dir = args.model_dir or workdir / "models"
        if args.model_dir is None:
            prepare_store(model_dir)
        version_dir = active_mri_dir(ModelStore(model_dir))
        exported = export_keras(version_dir, workdir / "reference.keras")
        stages = in_process_stages(slices, version_dir)
        bodies = []
        for index, item in enumerate(slices):
            bodies.append(workdir / f"slice{index}.png")
            bodies[-1].write_bytes(item.png)
        load = (rotating_wrk if tool == "wrk" else first_body_aiohttp)(workdir, bodies)
        busy_before = busy_cores()

        suite, password = admin_suite(workdir, model_dir, args.log_level)
        reference = reference_server(workdir / "reference.keras", workdir)
        try:
            reference.start()
            suite.start()
            reference.wait_ready(180.0)
            token = admin_token(suite, password)
            targets = {"reference": (reference.url + REFERENCE_PATH, {}),
                       "direct": (suite.url("classify") + PATH, token),
                       "gateway": (suite.url("gateway") + PATH, token)}
            answer_diff = compare_answers(slices, targets["gateway"][0], targets["reference"][0], token)
            for concurrency in args.concurrency:
                measured = {}
                for name, (url, headers) in targets.items():
                    load(url, headers, concurrency, min(2.0, args.seconds))  # warm-up
                    measured[name] = load(url, headers, concurrency, args.seconds)
                rows.append((concurrency, measured["reference"], measured["direct"], measured["gateway"]))
            if suite.exited() or reference.poll() is not None:
                notes.append(f"exited during the run: {suite.exited()} reference={reference.poll()}")
        finally:
            reference.stop()
            suite.stop()
        busy_after = busy_cores()

    print(f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), Python "
          f"{platform.python_version()}; one uvicorn process per service and for the reference; "
          f"load: {tool} (1 thread), {args.seconds:g} s per run after a 2 s warm-up, "
          f"{len(slices) if tool == 'wrk' else 1} 256x256 PNG slices in turn "
          f"(~{np.mean([len(s.png) for s in slices]) / 1000:.0f} KB), raw image/png; model "
          f"{version_dir.parent.name} v{version_dir.name} "
          f"({'trained small in this run' if args.model_dir is None else args.model_dir}); other work "
          f"on the machine just before: {busy_before:.2f} cores busy, just after: {busy_after:.2f} "
          f"(figures from a machine with other load are lower, the ratios move less)\n")
    header = ("| concurrency | reference (Keras predict) req/s | p50 / p99 reference | "
              "classify direct req/s | p50 / p99 direct | via gateway req/s | p50 / p99 via gateway | "
              "**via gateway ÷ reference** | errors |")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for concurrency, ref, direct, via in rows:
        print(f"| {concurrency} | {ref.requests_per_second:,.1f} | {ref.p50_ms:.1f} / {ref.p99_ms:.1f} ms | "
              f"{direct.requests_per_second:,.0f} | {direct.p50_ms:.1f} / {direct.p99_ms:.1f} ms | "
              f"{via.requests_per_second:,.0f} | {via.p50_ms:.1f} / {via.p99_ms:.1f} ms | "
              f"**{via.requests_per_second / ref.requests_per_second:.1f}x** | "
              f"{ref.errors + direct.errors + via.errors} |")
    print(f"\n- served answers equal the reference's: same labels and crop boxes, tumor probabilities "
          f"within {answer_diff:.1e}; Keras copy vs LiteRT on 256 random inputs: "
          f"{exported['max_abs_diff_vs_litert']:.1e}")
    print(f"- one slice in this process (medians): decode {stages['decode']:.2f} ms + brain_crop "
          f"{stages['crop']:.2f} ms + LiteRT {stages['litert']:.3f} ms; Keras model.predict of one "
          f"input: {exported['predict_one_ms_median']:.1f} ms "
          f"({exported['predict_one_ms_median'] / stages['litert']:,.0f}x LiteRT); Keras "
          f"predict_on_batch of one input (not what the reference design calls): "
          f"{exported['predict_on_batch_one_ms_median']:.1f} ms")
    for note in notes:
        print(f"- {note}")


if __name__ == "__main__":
    main()
