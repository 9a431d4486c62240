"""Peak memory per pixel of every image operation that segment and classify serve (issue 9, finding 6).

Each operation runs in a fresh child process on a synthetic frame (dark background, a few
hundred bright objects, RGB PNG). Two figures per operation, both per input pixel:

- ``traced``: the peak of Python/NumPy allocations (``tracemalloc``; OpenCV's output arrays are
  NumPy arrays and are counted, its scratch buffers are not), from the PNG bytes to the answer;
- ``rss``: the growth of the child's peak resident set (``ru_maxrss``) over its size after
  imports and after building the PNG, which counts everything.

Run: ``python bench/memory_per_pixel.py [side]`` (default 3000, i.e. 9 MP). The figures for a
40 MP image are about the same per pixel: the work is linear in the pixels.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import resource
import sys
import tracemalloc
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
from PIL import Image


def frame_png(side: int) -> bytes:
    rng = np.random.default_rng(0)
    pixels = np.full((side, side, 3), 25, np.uint8)
    for _ in range(side * side // 40_000):
        y, x = rng.integers(20, side - 20, 2)
        cv2.circle(pixels, (int(x), int(y)), int(rng.integers(4, 15)), (210, 190, 170), -1)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def _operations() -> dict[str, Callable[[bytes], Any]]:
    from specimen_classify.domain.plankton import PlanktonSegmentation
    from specimen_classify.domain.preprocessing import brain_crop, gray_uint8
    from specimen_imaging.codecs import decode_image, encode_image
    from specimen_imaging.thresholding import overlay_contours
    from specimen_segment.api.schemas import (
        BackgroundOptions,
        ObjectOptions,
        SuperpixelRequest,
        ThresholdRequest,
        VignettingOptions,
    )
    from specimen_segment.domain.superpixels import select_superpixels, slic_labels
    from specimen_segment.operations import (
        background_result,
        object_crops,
        object_rows,
        objects_result,
        superpixels_result,
        threshold_result,
        vignetting_result,
    )

    def pixels(data: bytes) -> Any:
        return decode_image(data, max_pixels=10**9).pixels

    def objects(data: bytes) -> Any:
        image = pixels(data)
        found, measured = objects_result(image, ObjectOptions())
        object_rows(measured)
        return encode_image(overlay_contours(image, found.labels > 0), "png")

    def selection(data: bytes) -> Any:
        image = pixels(data)
        labels = slic_labels(image, SuperpixelRequest(n_segments=400).slic_params(None))
        return select_superpixels(image, labels, [0, 1])

    return {
        "decode": pixels,
        "threshold (mask png)": lambda d: encode_image(
            threshold_result(pixels(d), ThresholdRequest())[0], "png"),
        "threshold (overlay)": lambda d: encode_image(
            threshold_result(pixels(d), ThresholdRequest(result="overlay"))[0], "png"),
        "threshold (opening+closing 64)": lambda d: threshold_result(
            pixels(d), ThresholdRequest(opening_radius=64, closing_radius=64))[0],
        "superpixels": lambda d: encode_image(superpixels_result(pixels(d), SuperpixelRequest())[0], "png"),
        "selection": selection,
        "objects": objects,
        "objects (crops)": lambda d: object_crops(pixels(d), objects_result(pixels(d), ObjectOptions())[0]),
        "background": lambda d: encode_image(background_result(pixels(d), BackgroundOptions())[0], "png"),
        "vignetting": lambda d: encode_image(vignetting_result(pixels(d), VignettingOptions()), "png"),
        "convert (png→jpeg)": lambda d: encode_image(pixels(d), "jpeg"),
        "classify plankton (features)": lambda d: PlanktonSegmentation().extract(pixels(d)),
        "classify mri (preprocess)": lambda d: brain_crop(gray_uint8(pixels(d))),
    }


def _measure(name: str, side: int, queue: Any) -> None:
    data = frame_png(side)
    operation = _operations()[name]
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tracemalloc.start()
    try:
        operation(data)
        error = ""
    except Exception as err:
        error = f"{type(err).__name__}: {err}"[:80]
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base_rss
    queue.put((peak, rss, error))


def main() -> None:
    side = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    n = side * side
    context = multiprocessing.get_context("spawn")
    rows = []
    for name in _operations():
        queue = context.Queue()
        child = context.Process(target=_measure, args=(name, side, queue))
        child.start()
        peak, rss, error = queue.get()
        child.join()
        rows.append({"operation": name, "traced_bytes_per_pixel": round(peak / n, 1),
                     "rss_bytes_per_pixel": round(rss / n, 1), "error": error})
        print(f"| {name} | {peak / n:.1f} | {rss / n:.1f} | {error}", flush=True)
    print(json.dumps({"side": side, "rows": rows}))


if __name__ == "__main__":
    main()
