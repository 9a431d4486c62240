"""MorphoCut 0.1.2's frame pipeline, run by ``plankton_frames_vs_morphocut.py`` in its own venv.

Not importable from Specimen's venv (MorphoCut pins scikit-image 0.20 and numpy < 2): the
driver runs ``.venv-morphocut/bin/python bench/morphocut_frames.py FRAMES_DIR OUT.zip THRESHOLD
MIN_AREA PIPELINE`` and reads one JSON line back: the seconds of the pipeline's second run over
the frames (imports and the first run's one-off set-up excluded) and every object's bbox, for the
recall against the generator's truth.

``PIPELINE`` is one of:

- ``constant``: MorphoCut's documented pipeline for a flat frame with a constant threshold: read
  the frame (``ImageReader``), ``ThresholdConst`` (``THRESHOLD``), ``FindRegions`` (``min_area``),
  ``ExtractROI`` (faded background), ``CalculateZooProcessFeatures``, ``EcotaxaWriter`` (ZIP of PNG
  crops + TSV). It corrects no vignetting: less work than Specimen's default run does.
- ``flat-otsu``: the sHIP seed's pipeline (``shared/seeds/001_*``: ``VignetteCorrector``,
  ``ThresholdOtsu``, ``ExtractRegions``, export), the same steps as Specimen's default run: the
  frame corrected by MorphoCut's ``VignettingCorrector``, objects darker than Otsu's threshold of
  the corrected frame (``THRESHOLD`` unused), then as ``constant`` (crops and features read the
  frame as it was read).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from morphocut import Call, Pipeline
from morphocut.contrib.ecotaxa import EcotaxaWriter
from morphocut.contrib.zooprocess import CalculateZooProcessFeatures
from morphocut.file import Find
from morphocut.image import ExtractROI, FindRegions, ImageReader, ThresholdConst
from morphocut.str import Format
from morphocut.vignetting import VignettingCorrector
from skimage import img_as_ubyte
from skimage.filters import threshold_otsu

PIPELINES = ("constant", "flat-otsu")


def darker_than_otsu(image: np.ndarray) -> np.ndarray:
    return image < threshold_otsu(image)


def main() -> None:
    frames_dir, out, threshold, min_area = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    pipeline_name = sys.argv[5] if len(sys.argv) > 5 else "constant"
    if pipeline_name not in PIPELINES:
        raise SystemExit(f"pipeline {pipeline_name!r}: one of {', '.join(PIPELINES)}")
    boxes: list[tuple[str, int, int, int, int]] = []

    def record(path: str, props: object) -> None:
        # The tight box (``bbox`` includes FindRegions' padding).
        coords = props.coords  # type: ignore[attr-defined]
        (r0, c0), (r1, c1) = coords.min(axis=0), coords.max(axis=0) + 1
        boxes.append((Path(path).name, int(r0), int(c0), int(r1), int(c1)))

    def object_meta(path: str, props: object, features: dict) -> dict:
        return {**features, "object_id": f"{Path(path).stem}_{props.label}"}  # type: ignore[attr-defined]

    with Pipeline() as pipeline:
        path = Find(frames_dir, [".png"])
        image = ImageReader(path)
        if pipeline_name == "constant":
            mask = ThresholdConst(image, threshold)
        else:
            mask = Call(darker_than_otsu, VignettingCorrector(image))
        regionprops = FindRegions(mask, image, min_area=min_area, padding=10)
        Call(record, path, regionprops)
        roi = ExtractROI(image, mask, regionprops, bg_color=1.0)
        crop = Call(img_as_ubyte, roi)
        features = CalculateZooProcessFeatures(regionprops, prefix="object_")
        meta = Call(object_meta, path, regionprops, features)
        name = Format("{}_{}.png", Call(lambda p: Path(p).stem, path), Call(lambda r: r.label, regionprops))
        EcotaxaWriter(out, (name, crop), meta)

    pipeline.run()  # untimed, as Specimen's first pass: the libraries' one-off set-up
    boxes.clear()
    started, cpu_started = time.perf_counter(), time.process_time()
    pipeline.run()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "boxes": boxes, "numpy": np.__version__}))


if __name__ == "__main__":
    main()
