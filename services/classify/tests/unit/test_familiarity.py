"""The cheap image checks that run before the network (:func:`unfamiliar_image`)."""

from __future__ import annotations

import cv2
import numpy as np

from specimen_classify.domain.familiarity import MIN_SOLIDITY, unfamiliar_image
from specimen_classify.domain.preprocessing import brain_crop
from specimen_classify.domain.synthetic_mri import mri_slice


class TestSolidity:
    def test_skull_stripped_low_slices_are_heads(self) -> None:
        """Regression: at a floor of 0.85 more than half of the skull-stripped posterior-fossa
        slices (cerebellum, pons and temporal poles, notched between them: 0.78-0.85) were
        refused as "not one rounded head", so a research set's low slices got no answer."""
        drawn = [mri_slice((31, i), i % 2 == 1, level="posterior_fossa") for i in range(60)]
        stripped = [s.image for s in drawn if s.skull_stripped]

        refused = [why for image in stripped if (why := unfamiliar_image(image, brain_crop(image)))]

        assert len(stripped) >= 15 and refused == []

    def test_a_star_is_not_a_head(self) -> None:
        star = np.zeros((256, 256), np.uint8)
        corners = [(128 + r * np.cos(k * np.pi / 5), 128 + r * np.sin(k * np.pi / 5))
                   for k, r in zip(range(10), [100, 40] * 5, strict=True)]
        cv2.fillPoly(star, [np.array(corners, np.int32)], 180)
        # Texture, so that the gray-level check passes and solidity is what refuses it (<= 239).
        star += np.random.default_rng(0).integers(0, 60, star.shape, dtype=np.uint8) * (star > 0)

        why = unfamiliar_image(star, brain_crop(star))

        assert why is not None and why.startswith("the bright region is not one rounded head")
        assert f"at least {MIN_SOLIDITY}" in why
