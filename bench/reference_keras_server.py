"""The reference design's MRI server, for the classify benchmarks: Keras ``model.predict`` per request.

A small FastAPI app, one uvicorn worker, no Specimen kit (no token, no middleware): it reads
the slice with the classify service's own reader (``read_mri``), crops it with the same
preprocessing (``brain_crop``) and calls ``model.predict`` on the Keras CNN for every request,
as the public brain-tumor notebooks' servers do. ``POST /classify/mri`` takes the raw image
bytes (``Content-Type: image/png``) and answers ``{label, probability, tumor_probability,
crop_box}``; ``/healthz`` and ``/readyz`` answer once the model is loaded and warmed up.

The trainer writes only the LiteRT flatbuffer, not the Keras model, so the Keras model with
the same weights is rebuilt once by ``export``: the reference architecture
(:func:`specimen_classify.training.mri.build_cnn`) gets the flatbuffer's constant tensors
(LiteRT stores convolution kernels OHWI and dense kernels out x in; Keras wants HWIO and
in x out), is checked to give LiteRT's probabilities within 1e-5 on 256 random inputs, and is
saved as a ``.keras`` file the server loads with ``keras.models.load_model``::

    .venv/bin/python bench/reference_keras_server.py export MODEL_VERSION_DIR OUT.keras
    SPECIMEN_BENCH_KERAS_MODEL=OUT.keras .venv/bin/python -m uvicorn \\
        reference_keras_server:create_app --factory --app-dir bench
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from specimen_classify.adapters.mri_images import read_mri
from specimen_classify.domain.preprocessing import INPUT_SIZE, brain_crop
from specimen_kit.errors import Problem

MODEL_ENV = "SPECIMEN_BENCH_KERAS_MODEL"
MAX_PIXELS = 40_000_000
DECISION_THRESHOLD = 0.5
MAX_EXPORT_DIFF = 1e-5
CROP_BOX_KEYS = ("min_row", "min_col", "max_row", "max_col")
"""The crop box as the classify service answers it."""


def _quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def create_app() -> FastAPI:
    """``uvicorn reference_keras_server:create_app --factory``; the model path from the environment."""
    path = Path(os.environ[MODEL_ENV])

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        _quiet_tensorflow()
        import keras  # type: ignore[import-untyped,unused-ignore]

        model = keras.models.load_model(path, compile=False)
        # Builds predict_function before the first request, as any server warms up.
        model.predict(np.zeros((1, INPUT_SIZE, INPUT_SIZE, 1), np.float32), verbose=0)
        app.state.model = model
        yield

    app = FastAPI(title="reference Keras MRI server", lifespan=lifespan)

    @app.get("/healthz")
    @app.get("/readyz")
    async def ready() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/classify/mri")
    async def classify_mri(request: Request) -> Any:
        body = await request.body()
        # In the threadpool, as a sync handler would run: model.predict blocks for milliseconds.
        return await run_in_threadpool(_classify, app.state.model, body)

    return app


def _classify(model: Any, body: bytes) -> Any:
    try:
        crop = brain_crop(read_mri(body, max_pixels=MAX_PIXELS))
    except Problem as error:
        return JSONResponse({"detail": str(error)}, status_code=422)
    p = float(model.predict(crop.input_32.reshape(1, INPUT_SIZE, INPUT_SIZE, 1), verbose=0)[0, 0])
    tumor = p >= DECISION_THRESHOLD
    return {"label": "tumor" if tumor else "healthy", "probability": p if tumor else 1.0 - p,
            "tumor_probability": p, "crop_box": dict(zip(CROP_BOX_KEYS, crop.crop_box, strict=True))}


def _litert_constants(flatbuffer: bytes) -> tuple[Any, dict[tuple[int, ...], npt.NDArray[np.float32]]]:
    """The LiteRT interpreter and its float32 constant tensors, keyed by shape."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=flatbuffer)
    interpreter.allocate_tensors()
    constants: dict[tuple[int, ...], list[npt.NDArray[np.float32]]] = {}
    inputs = {d["index"] for d in interpreter.get_input_details()}
    for detail in interpreter.get_tensor_details():
        if detail["dtype"] != np.float32 or detail["index"] in inputs:
            continue
        try:
            value = np.array(interpreter.get_tensor(detail["index"]), copy=True)
        except ValueError:  # an activation: no data until invoke
            continue
        constants.setdefault(tuple(int(s) for s in detail["shape"]), []).append(value)
    return interpreter, {shape: values[0] for shape, values in constants.items() if len(values) == 1}


def keras_from_litert(flatbuffer: bytes) -> tuple[Any, float]:
    """The reference Keras CNN with the flatbuffer's weights, and its largest difference to LiteRT.

    Raises
    ------
    ValueError
        A weight of the Keras model has no single tensor of its shape in the flatbuffer, or the
        rebuilt model's probabilities differ from LiteRT's by more than ``MAX_EXPORT_DIFF``.
    """
    from specimen_classify.training.mri import build_cnn

    interpreter, constants = _litert_constants(flatbuffer)
    model = build_cnn()
    weights = []
    for variable in model.weights:
        shape = tuple(int(s) for s in variable.shape)
        if len(shape) == 4:  # Conv2D kernel: Keras HWIO, LiteRT OHWI
            stored, to_keras = (shape[3], shape[0], shape[1], shape[2]), (1, 2, 3, 0)
        elif len(shape) == 2:  # Dense kernel: Keras in x out, LiteRT out x in
            stored, to_keras = (shape[1], shape[0]), (1, 0)
        else:
            stored, to_keras = shape, (0,)
        if stored not in constants:
            raise ValueError(f"no single LiteRT constant of shape {stored} for {variable.path}")
        weights.append(np.transpose(constants[stored], to_keras))
    model.set_weights(weights)

    inputs = np.random.default_rng(0).random((256, INPUT_SIZE, INPUT_SIZE, 1), dtype=np.float32)
    detail = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(detail["index"], list(inputs.shape))
    interpreter.allocate_tensors()
    interpreter.set_tensor(detail["index"], inputs)
    interpreter.invoke()
    litert = interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).reshape(-1)
    keras_p = model.predict(inputs, batch_size=256, verbose=0).reshape(-1)
    diff = float(np.max(np.abs(keras_p.astype(np.float64) - litert.astype(np.float64))))
    if not diff <= MAX_EXPORT_DIFF:
        raise ValueError(f"the rebuilt Keras model differs from LiteRT by {diff:.3g} (> {MAX_EXPORT_DIFF})")
    return model, diff


def export(version_dir: Path, out: Path) -> dict[str, Any]:
    """Write the Keras copy of a store version's ``model.tflite``; report its check and predict cost."""
    _quiet_tensorflow()
    model, diff = keras_from_litert((version_dir / "model.tflite").read_bytes())
    model.save(out)
    one = np.random.default_rng(1).random((1, INPUT_SIZE, INPUT_SIZE, 1), dtype=np.float32)
    calls = {"predict_one_ms_median": lambda: model.predict(one, verbose=0),
             "predict_on_batch_one_ms_median": lambda: model.predict_on_batch(one)}
    report = {"max_abs_diff_vs_litert": diff}
    for name, call in calls.items():
        for _ in range(5):
            call()
        times = []
        for _ in range(50):
            started = time.perf_counter()
            call()
            times.append(time.perf_counter() - started)
        report[name] = float(np.median(times) * 1000)
    return report

if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "export":
        raise SystemExit("usage: reference_keras_server.py export MODEL_VERSION_DIR OUT.keras")
    sys.stdout.write(json.dumps(export(Path(sys.argv[2]), Path(sys.argv[3]))) + "\n")
