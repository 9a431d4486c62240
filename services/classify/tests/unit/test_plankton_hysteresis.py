"""Plankton's default segmentation keeps an aggregate's faint strands (hysteresis, issue 12)."""

from specimen_classify.domain.plankton.runs import RunSettings, stored_run_settings
from specimen_classify.domain.plankton.segmentation import (
    CROP_SEGMENTATION,
    DEFAULT_HYSTERESIS_SIGMAS,
    PlanktonSegmentation,
)
from specimen_classify.domain.synthetic_plankton import CATEGORIES, plankton_frame


def _iou(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    rows = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    cols = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = rows * cols
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _found_and_extra(seed: tuple[int, int], options: PlanktonSegmentation) -> tuple[int, int, int]:
    frame = plankton_frame(seed, dict.fromkeys(CATEGORIES, 8))
    boxes = [tuple(b) for b in options.extract(frame.image)[1].bboxes.tolist()]
    truth = [o.bbox for o in frame.objects]
    found = sum(any(_iou(t, b) >= 0.5 for b in boxes) for t in truth)
    extra = sum(not any(_iou(t, b) >= 0.5 for t in truth) for b in boxes)
    return found, len(truth), extra


def test_generated_frames_lose_no_object_and_gain_no_fragment():
    # Frames of the frames-per-core bench (seed 12) where Otsu alone broke aggregates apart.
    otsu_alone = PlanktonSegmentation(hysteresis_sigmas=None)
    before = [_found_and_extra((12, i), otsu_alone) for i in (1, 3)]
    assert any(found < total for found, total, _ in before)
    assert any(extra > 0 for _, _, extra in before)
    for i in (1, 3):
        assert _found_and_extra((12, i), PlanktonSegmentation()) == (40, 40, 0)


def test_defaults_crops_and_runs_stored_before_it():
    assert PlanktonSegmentation().hysteresis_sigmas == DEFAULT_HYSTERESIS_SIGMAS == 5.0
    assert CROP_SEGMENTATION.hysteresis_sigmas is None  # the forests' training crops: unchanged
    assert RunSettings().hysteresis_sigmas == 5.0
    stored = RunSettings(closing_radius=4).model_dump(mode="json")
    assert stored_run_settings(stored).hysteresis_sigmas == 5.0
    del stored["hysteresis_sigmas"]  # a run stored before the field existed ran Otsu alone
    old = stored_run_settings(stored)
    assert old.hysteresis_sigmas is None and old.closing_radius == 4
