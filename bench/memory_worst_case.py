"""Peak memory per pixel of the object pipeline on hostile frames (issue 9, finding 6).

A tiny PNG can be all foreground, a fine checkerboard or dense noise; these are the frames on
which segment's ``/objects`` and classify's ``/classify/plankton`` hold the most per pixel.
Each (frame, route) runs in a fresh child process that receives the PNG bytes, so its peak is
not hidden by memory freed while the frame was drawn. Per input pixel: ``traced`` = peak of
NumPy/Python allocations (tracemalloc), ``rss`` = growth of the peak resident set (VmHWM, reset
after the imports) over the child's size then; ``s`` = wall seconds of the work alone.

Run: ``python bench/memory_worst_case.py [side ...]`` (default 3000).
"""

from __future__ import annotations

import io
import multiprocessing
import sys
import time
import tracemalloc
from typing import Any

import numpy as np
from PIL import Image


def frame(kind: str, side: int) -> bytes:
    """A gray PNG: ``white`` (all foreground but a corner), ``checker`` (3-pixel squares),
    ``noise`` (half the pixels on, at random), ``stripes`` (1-pixel columns, 1 apart) or
    ``sparse`` (bench/memory_per_pixel.py's kind of frame: ~200 bright discs per 9 MP), or
    ``rgb`` (that frame itself, RGB: almost all foreground for plankton's dark-on-light)."""
    if kind == "white":
        img = np.full((side, side), 255, np.uint8)
        img[: side // 50, : side // 50] = 0
    elif kind == "checker":
        y, x = np.indices((side, side))
        img = (((y // 3 + x // 3) % 2) * 255).astype(np.uint8)
    elif kind == "noise":
        img = (np.random.default_rng(0).random((side, side)) > 0.5).astype(np.uint8) * 255
    elif kind == "stripes":
        img = np.zeros((side, side), np.uint8)
        img[:, ::2] = 255
    elif kind == "rgb":
        from memory_per_pixel import frame_png  # its RGB frame: ~all foreground for plankton

        return frame_png(side)
    else:
        import cv2

        rng = np.random.default_rng(0)
        img = np.full((side, side), 25, np.uint8)
        for _ in range(side * side // 40_000):
            y, x = rng.integers(20, side - 20, 2)
            cv2.circle(img, (int(x), int(y)), int(rng.integers(4, 15)), 200, -1)
    out = io.BytesIO()
    Image.fromarray(img).save(out, format="PNG")
    return out.getvalue()


def _run(route: str, data: bytes) -> int:
    from specimen_classify.domain.plankton import PlanktonSegmentation
    from specimen_imaging.codecs import decode_image, encode_image
    from specimen_imaging.thresholding import overlay_contours
    from specimen_segment.api.schemas import ObjectOptions
    from specimen_segment.operations import object_rows, objects_result

    pixels = decode_image(data, max_pixels=10**9).pixels
    if route == "segment /objects":
        found, measured = objects_result(pixels, ObjectOptions())
        object_rows(measured)
        encode_image(overlay_contours(pixels, found.labels > 0), "png")
    else:
        found, measured = PlanktonSegmentation(keep_border=True, min_area=0).extract(pixels)
    return int(measured.labels.shape[0])


def _status_bytes(field: str) -> int:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith(field + ":"))
    return int(line.split()[1]) * 1024


def _child(route: str, data: bytes, queue: Any) -> None:
    import specimen_classify.domain.plankton  # noqa: F401  (imports before the baseline)
    import specimen_segment.operations  # noqa: F401

    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # resets the peak (VmHWM) to the current size: imports peaked higher
    base = _status_bytes("VmRSS")
    tracemalloc.start()
    start = time.perf_counter()
    try:
        count = _run(route, data)
    except Exception as err:  # a flat frame for one route: say so, don't hang the parent
        count = -1
        print(f"{route}: {type(err).__name__}: {err}", file=sys.stderr)
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    queue.put((count, peak, _status_bytes("VmHWM") - base, seconds))


def main() -> None:
    sides = [int(a) for a in sys.argv[1:]] or [3000]
    kinds = ["white", "checker", "noise", "stripes", "sparse", "rgb"]
    context = multiprocessing.get_context("spawn")
    print("| frame | route | objects | traced B/px | rss B/px | s |")
    for side in sides:
        for kind in kinds:
            data = frame(kind, side)
            for route in ("segment /objects", "classify /plankton (features)"):
                queue = context.Queue()
                child = context.Process(target=_child, args=(route, data, queue))
                child.start()
                count, peak, rss, seconds = queue.get()
                child.join()
                n = side * side
                row = (
                    f"| {kind} {side}² | {route} | {count} | {peak / n:.1f} | {rss / n:.1f} | {seconds:.2f} |"
                )
                print(row, flush=True)


if __name__ == "__main__":
    main()
