"""Synthetic MRI slices: geometry, determinism and argument checks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from specimen_classify.domain.synthetic_mri import mri_slice


class TestMriSlice:
    @pytest.mark.parametrize("index", range(6))
    def test_tumor_lies_inside_the_brain_and_boxes_inside_the_image(self, index: int) -> None:
        drawn = mri_slice((11, index), has_tumor=True, size=128)

        assert drawn.image.shape == (128, 128) and drawn.image.dtype == np.uint8
        assert drawn.has_tumor and drawn.tumor_mask.any()
        assert not (drawn.tumor_mask & ~drawn.brain_mask).any()
        assert drawn.tumor_centre is not None and drawn.tumor_radius is not None
        row, col = drawn.tumor_centre
        assert drawn.brain_mask[round(row), round(col)]
        for box in (drawn.brain_box, drawn.head_box):
            r0, c0, r1, c1 = box
            assert 0 <= r0 < r1 <= 128 and 0 <= c0 < c1 <= 128
        hr0, hc0, hr1, hc1 = drawn.head_box
        br0, bc0, br1, bc1 = drawn.brain_box
        assert hr0 <= br0 and hc0 <= bc0 and br1 <= hr1 and bc1 <= hc1

    def test_healthy_slice_has_no_tumor(self) -> None:
        drawn = mri_slice(5, has_tumor=False, size=64)

        assert not drawn.has_tumor and not drawn.tumor_mask.any()
        assert drawn.tumor_centre is None and drawn.tumor_radius is None

    def test_background_is_dark_and_head_is_bright(self) -> None:
        drawn = mri_slice(3, has_tumor=False, size=128)

        assert drawn.image[~drawn.head_mask].mean() < 20
        assert drawn.image[drawn.brain_mask].mean() > 60

    def test_a_threshold_crop_finds_about_the_head_box(self) -> None:
        drawn = mri_slice(9, has_tumor=True, size=256)
        blurred = cv2.GaussianBlur(drawn.image, (5, 5), 0)
        found = cv2.boundingRect(cv2.findNonZero((blurred > 45).astype(np.uint8)))

        x, y, w, h = found
        assert np.allclose((y, x, y + h, x + w), drawn.head_box, atol=4)

    def test_tumors_vary_in_size_and_contrast(self) -> None:
        drawn = [mri_slice((2, i), has_tumor=True, size=128) for i in range(20)]
        radii = [d.tumor_radius for d in drawn if d.tumor_radius is not None]
        contrast = [float(d.image[d.tumor_mask].mean() - d.image[d.brain_mask & ~d.tumor_mask].mean())
                    for d in drawn]

        assert max(radii) > 2 * min(radii)
        assert min(contrast) < 0 < max(contrast)

    def test_tumors_are_large_enough_to_survive_the_32_pixel_input(self) -> None:
        # Core radius >= 5 % of the side before the pose's 0.85-1.05 scale: >= 2 px at 32x32.
        radii = [mri_slice((4, i), has_tumor=True, size=256).tumor_radius for i in range(30)]

        assert min(r for r in radii if r is not None) >= 0.05 * 0.85 * 256

    def test_same_seed_gives_identical_png_and_other_seed_differs(self) -> None:
        first = cv2.imencode(".png", mri_slice(42, True, 96).image)[1].tobytes()
        again = cv2.imencode(".png", mri_slice(42, True, 96).image)[1].tobytes()
        other = cv2.imencode(".png", mri_slice(43, True, 96).image)[1].tobytes()

        assert first == again
        assert first != other

    @pytest.mark.parametrize(("kwargs", "message"), [
        ({"seed": -1}, "seed=-1"),
        ({"seed": 1.5}, "seed=1.5"),
        ({"size": 16}, "size=16"),
        ({"size": 4096}, "size=4096"),
    ])
    def test_bad_arguments_are_named(self, kwargs: dict[str, object], message: str) -> None:
        arguments: dict[str, object] = {"seed": 1, "has_tumor": False, "size": 64, **kwargs}
        with pytest.raises(ValueError, match=message):
            mri_slice(**arguments)  # type: ignore[arg-type]
