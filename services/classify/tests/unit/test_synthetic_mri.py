"""Synthetic MRI slices: geometry, variety, determinism and argument checks."""

from __future__ import annotations

from collections import Counter

import cv2
import numpy as np
import pytest
from scipy import ndimage

from specimen_classify.domain.preprocessing import brain_crop
from specimen_classify.domain.synthetic_mri import ANATOMIES, CONTRASTS, LESIONS, LEVELS, MriSlice, mri_slice
from specimen_classify.domain.synthetic_mri.anatomy import (
    CSF,
    GRAY,
    LEVEL_EDGES,
    SMOOTH_SHARE,
    WHITE,
    Anatomy,
    draw_anatomy,
)
from specimen_classify.domain.synthetic_mri.contrast import draw_signals
from specimen_classify.domain.synthetic_mri.template import (
    PLANE_WEIGHTS,
    PLANES,
    TEMPLATE_FILE,
    TEMPLATE_SHARE,
    draw_template_anatomy,
    load_template,
    trilinear,
)


@pytest.fixture(scope="module")
def drawn() -> list[MriSlice]:
    """A spread of slices: 60 with a tumor, 60 without, at 128x128."""
    return [mri_slice((21, i), has_tumor=bool(i % 2), size=128) for i in range(120)]


class TestMriSlice:
    @pytest.mark.parametrize("lesion", LESIONS)
    def test_every_lesion_kind_lies_inside_the_brain_and_boxes_inside_the_image(self, lesion: str) -> None:
        for index in range(4):
            drawn = mri_slice((11, index), has_tumor=True, size=128, lesion=lesion)

            assert drawn.image.shape == (128, 128) and drawn.image.dtype == np.uint8
            assert drawn.has_tumor and drawn.tumor_mask.any() and drawn.lesion == lesion
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

    def test_multiple_lesions_have_several_foci(self) -> None:
        drawn = mri_slice(3, has_tumor=True, size=256, lesion="multiple")
        count, _ = cv2.connectedComponents(drawn.tumor_mask.astype(np.uint8))

        assert 2 <= drawn.lesion_count <= 4
        assert count - 1 >= 2  # components besides the background; foci may touch

    def test_healthy_slices_have_no_tumor(self, drawn: list[MriSlice]) -> None:
        for healthy in drawn[::2]:
            assert not healthy.has_tumor and not healthy.tumor_mask.any()
            assert healthy.tumor_centre is None and healthy.tumor_radius is None
            assert healthy.lesion is None and healthy.lesion_count == 0

    def test_every_contrast_level_and_lesion_appears_over_a_seed_range(self, drawn: list[MriSlice]) -> None:
        contrasts = Counter(d.contrast for d in drawn)
        levels = Counter(d.level for d in drawn)
        lesions = Counter(d.lesion for d in drawn if d.has_tumor)
        stripped = sum(d.skull_stripped for d in drawn)

        assert set(contrasts) == set(CONTRASTS) and min(contrasts.values()) >= 15
        assert set(levels) == set(LEVELS)
        assert set(lesions) == set(LESIONS)
        assert 15 <= stripped <= 60

    def test_background_is_dark_and_the_brain_bright(self, drawn: list[MriSlice]) -> None:
        for d in drawn:
            assert np.median(d.image[~d.head_mask]) < 25
            # a T2 brain without sulci (no bright CSF in it) under bright scalp fat is the dimmest
            assert np.percentile(d.image[d.brain_mask], 90) > 75

    def test_skull_stripped_slices_are_black_outside_the_brain(self, drawn: list[MriSlice]) -> None:
        stripped = [d for d in drawn if d.skull_stripped]

        assert stripped
        for d in stripped:
            assert (d.head_mask == d.brain_mask).all()

    def test_the_serving_crop_holds_the_brain_and_stays_in_the_head(self, drawn: list[MriSlice]) -> None:
        # The crop works on a 256 resize; 128-pixel slices are compared at a 2-pixel tolerance.
        inside = 0
        for d in drawn:
            r0, c0, r1, c1 = brain_crop(d.image).crop_box
            hr0, hc0, hr1, hc1 = d.head_box
            br0, bc0, br1, bc1 = d.brain_box
            holds_brain = r0 <= br0 + 3 and c0 <= bc0 + 3 and r1 >= br1 - 3 and c1 >= bc1 - 3
            in_head = r0 >= hr0 - 2 and c0 >= hc0 - 2 and r1 <= hr1 + 2 and c1 <= hc1 + 2
            inside += holds_brain and in_head
        assert inside >= 0.9 * len(drawn)

    def test_tumors_vary_in_size_and_contrast(self, drawn: list[MriSlice]) -> None:
        tumors = [d for d in drawn if d.has_tumor]
        radii = [d.tumor_radius for d in tumors if d.tumor_radius is not None]
        contrast = [float(d.image[d.tumor_mask].mean() - d.image[d.brain_mask & ~d.tumor_mask].mean())
                    for d in tumors]

        assert max(radii) > 4 * min(radii)
        assert sum(c < -10 for c in contrast) >= 5 and sum(c > 10 for c in contrast) >= 15

    def test_tumors_keep_at_least_a_few_pixels(self) -> None:
        for index in range(20):
            drawn = mri_slice((4, index), has_tumor=True, size=64, lesion="small")
            assert drawn.tumor_mask.sum() >= 4

    def test_same_seed_with_and_without_tumor_is_the_same_head(self) -> None:
        for index in range(6):
            healthy = mri_slice((8, index), has_tumor=False, size=96)
            tumor = mri_slice((8, index), has_tumor=True, size=96)

            assert (healthy.head_mask == tumor.head_mask).all()
            assert (healthy.brain_mask <= tumor.brain_mask).all()
            assert (healthy.contrast, healthy.level) == (tumor.contrast, tumor.level)

    def test_choices_pin_contrast_level_and_lesion(self) -> None:
        drawn = mri_slice(6, has_tumor=True, size=96, contrast="FLAIR", level="vertex", lesion="small")

        assert (drawn.contrast, drawn.level) == ("FLAIR", "vertex")
        assert (drawn.lesion, drawn.lesion_count) == ("small", 1)

    def test_same_seed_gives_identical_png_and_other_seed_differs(self) -> None:
        first = cv2.imencode(".png", mri_slice(42, True, 96).image)[1].tobytes()
        again = cv2.imencode(".png", mri_slice(42, True, 96).image)[1].tobytes()
        other = cv2.imencode(".png", mri_slice(43, True, 96).image)[1].tobytes()

        assert first == again
        assert first != other

    @pytest.mark.parametrize("size", [32, 33, 512])
    def test_small_and_large_sizes_draw(self, size: int) -> None:
        drawn = mri_slice((1, size), has_tumor=True, size=size)

        assert drawn.image.shape == (size, size) and drawn.tumor_mask.any()

    @pytest.mark.parametrize(("kwargs", "message"), [
        ({"seed": -1}, "seed=-1"),
        ({"seed": 1.5}, "seed=1.5"),
        ({"size": 16}, "size=16"),
        ({"size": 4096}, "size=4096"),
        ({"contrast": "T3"}, "contrast='T3' is unknown; use one of T1, T1c, T2, FLAIR"),
        ({"level": "neck"}, "level='neck'"),
        ({"lesion": "cyst"}, "lesion='cyst'"),
        ({"anatomy_source": "atlas"}, "anatomy_source='atlas' is unknown; use one of phantom, template"),
    ])
    def test_bad_arguments_are_named(self, kwargs: dict[str, object], message: str) -> None:
        arguments: dict[str, object] = {"seed": 1, "has_tumor": False, "size": 64, **kwargs}
        with pytest.raises(ValueError, match=message):
            mri_slice(**arguments)  # type: ignore[arg-type]


class TestContrastFamilies:
    @pytest.mark.parametrize("seed", range(20))
    def test_tissue_order_follows_the_family(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        t1, t1c, t2, flair = (draw_signals(rng, family) for family in CONTRASTS)

        for signals in (t1, t1c):
            assert signals.tissue[CSF] < signals.tissue[GRAY] < signals.tissue[WHITE]
        assert t1c.enhancing_rim > t1c.tissue[WHITE]
        assert t2.tissue[WHITE] < t2.tissue[GRAY] < t2.tissue[CSF]
        assert flair.tissue[CSF] < flair.tissue[WHITE] < flair.tissue[GRAY] < flair.edema


@pytest.fixture(scope="module")
def anatomies() -> list[Anatomy]:
    """Twelve posterior-fossa anatomies across the level's range, at 256x256."""
    low, high = LEVEL_EDGES[0], LEVEL_EDGES[1]
    return [draw_anatomy(np.random.default_rng(seed), 256, low + (high - low) * (seed + 0.5) / 12)
            for seed in range(12)]


class TestPosteriorFossa:
    """The lowest slices look as the posterior fossa does: a full fossa and cerebellar folia."""

    def test_no_pool_of_csf_away_from_the_brain(self, anatomies: list[Anatomy]) -> None:
        """Regression: the skull base around the cerebellum was all CSF (half of it more than 8 px
        from any brain), a bright pool on T2 that no real slice shows; bone and air fill it."""
        for anatomy in anatomies:
            rows = np.arange(256)[:, None] - 128.0
            behind_orbits = anatomy.intracranial & ~anatomy.brain & (rows > -0.3 * 128)
            csf = (anatomy.labels == CSF) & behind_orbits
            away = cv2.distanceTransform((~anatomy.brain).astype(np.uint8), cv2.DIST_L2, 3) > 8
            assert (csf & away).sum() <= 0.02 * max(int(csf.sum()), 1)

    def test_the_cerebellum_has_folia(self, anatomies: list[Anatomy]) -> None:
        """Gray leaves and thin fissures parallel to the surface, behind the fourth ventricle
        (in the folded ones: :data:`SMOOTH_SHARE` of brains are drawn smooth)."""
        assert sum(a.folded for a in anatomies) >= 8
        for anatomy in (a for a in anatomies if a.folded):
            rows = np.arange(256)[:, None] - 128.0
            cerebellum = anatomy.brain & (rows > 0.15 * 128)
            labels = anatomy.labels[cerebellum]
            assert (labels == GRAY).mean() >= 0.22
            fissures = (anatomy.labels == CSF) & cerebellum & (anatomy.depth > 2.0)
            assert fissures.sum() >= 20


class TestSmoothBrains:
    """Thick slices, low resolution, young brains and soft contrast show little of the folding.
    A network that only saw sulci everywhere called such healthy slices tumor (17 of 80 healthy
    basal-ganglia slices drawn without sulci, 27 of 80 posterior-fossa ones: BENCHMARKS.md,
    issue 11, session 12), so a share of brains is drawn without them."""

    @staticmethod
    def _sulcal_csf(anatomy: Anatomy) -> int:
        size = anatomy.labels.shape[0]
        columns = np.abs(np.arange(size)[None, :] - size / 2) > 0.1 * size  # off the midline fissure
        return int(((anatomy.labels == CSF) & anatomy.brain & (anatomy.depth < 0.06 * size) & columns).sum())

    def test_a_share_of_brains_has_no_sulci_and_keeps_its_cortical_ribbon(self) -> None:
        drawn = [draw_anatomy(np.random.default_rng(seed), 128, 0.7) for seed in range(200)]
        smooth = [a for a in drawn if not a.folded]

        assert 0.5 * SMOOTH_SHARE <= len(smooth) / len(drawn) <= 1.5 * SMOOTH_SHARE
        for anatomy in smooth:
            surface = anatomy.brain & (anatomy.depth <= 1.0)
            assert (anatomy.labels[surface] == GRAY).mean() > 0.6
            assert self._sulcal_csf(anatomy) <= 5  # the fissures only, no sulci
        assert np.median([self._sulcal_csf(a) for a in drawn if a.folded]) > 50


class TestTemplateAnatomy:
    """A share of slices is cut from the MNI ICBM152 template: real anatomy the phantom does not
    model, with the phantom's labels so that contrast, lesions and acquisition treat it alike."""

    def test_the_data_file_holds_tissue_maps_of_a_brain(self) -> None:
        gm, wm, brain = load_template()

        assert gm.shape == wm.shape == brain.shape == (77, 181, 145)
        for volume in (gm, wm, brain):
            assert volume.dtype == np.float32 and volume.min() >= 0.0 and volume.max() <= 1.0
        assert 0.3 < float(brain.mean()) < 0.7
        inside = brain > 0.5
        assert float((gm + wm)[inside].mean()) > 0.8  # mostly tissue, some CSF
        assert (TEMPLATE_FILE.parent / "MNI_ICBM152_NOTICE.txt").is_file()

    def test_trilinear_sampling_matches_scipy_and_is_zero_outside(self) -> None:
        rng = np.random.default_rng(3)
        volume = rng.uniform(0, 1, (7, 9, 11)).astype(np.float32)
        z, y, x = (rng.uniform(0, n - 1, 500).astype(np.float32) for n in volume.shape)

        sampled = trilinear(volume, z, y, x)

        reference = ndimage.map_coordinates(volume.astype(np.float64), [z, y, x], order=1)
        np.testing.assert_allclose(sampled, reference, atol=1e-5)
        outside = trilinear(volume, *(np.array([-0.5, 0.0, 6.5], np.float32) for _ in range(3)))
        assert outside[0] == 0.0 and outside[2] == 0.0 and outside[1] == volume[0, 0, 0]

    def test_a_share_of_slices_is_cut_from_the_template(self) -> None:
        sources = Counter(mri_slice((31, i), bool(i % 2), size=64).anatomy_source for i in range(200))

        assert set(sources) == set(ANATOMIES)
        assert 0.5 * TEMPLATE_SHARE <= sources["template"] / 200 <= 1.5 * TEMPLATE_SHARE

    @pytest.mark.parametrize("level", LEVELS)
    def test_every_level_has_gray_white_and_csf_with_the_lesion_inside_the_brain(self, level: str) -> None:
        for index in range(3):
            healthy, tumor = (mri_slice((32, index), has_tumor, 128, level=level, anatomy_source="template")
                              for has_tumor in (False, True))

            assert healthy.anatomy_source == "template" and healthy.level == level and healthy.folded
            assert tumor.tumor_mask.any() and not (tumor.tumor_mask & ~tumor.brain_mask).any()
            assert (healthy.brain_mask <= healthy.head_mask).all()

        rng = np.random.default_rng(5)
        low, high = LEVEL_EDGES[LEVELS.index(level)], LEVEL_EDGES[LEVELS.index(level) + 1]
        anatomy = draw_template_anatomy(rng, 256, (low + high) / 2)
        tissue = anatomy.labels[anatomy.brain]
        for label in (GRAY, WHITE, CSF):
            assert (tissue == label).mean() > 0.03, label
        assert anatomy.level == level

    def test_the_posterior_fossa_is_smaller_than_the_ventricular_level(self) -> None:
        """Cut axially at a fixed scale, the brain's area follows the level as in a real head."""
        def area(z: float) -> float:
            cuts = (draw_template_anatomy(np.random.default_rng(s), 128, z) for s in range(40))
            return float(np.mean([a.brain.sum() for a in cuts if a.plane == "axial"][:4]))

        assert area(0.05) < 0.8 * area(0.5)
        assert area(0.95) < 0.5 * area(0.5)

    def test_the_template_is_cut_in_all_three_planes(self) -> None:
        """Sets mix coronal and sagittal slices with the axial ones: a model that saw axial cuts
        only called 14 of 60 healthy coronal cuts and 19 of 60 sagittal ones tumor."""
        planes = Counter(draw_template_anatomy(np.random.default_rng(s), 64, 0.5).plane for s in range(300))

        assert set(planes) == set(PLANES)
        for plane, weight in zip(PLANES, PLANE_WEIGHTS, strict=True):
            assert 0.6 * weight <= planes[plane] / 300 <= 1.4 * weight, planes
        assert {mri_slice(1, False, 64, anatomy_source="phantom").plane} == {"axial"}

    def test_the_cut_is_deterministic_and_varies_with_the_seed(self) -> None:
        first = draw_template_anatomy(np.random.default_rng(9), 96, 0.5)
        again = draw_template_anatomy(np.random.default_rng(9), 96, 0.5)
        other = draw_template_anatomy(np.random.default_rng(10), 96, 0.5)

        assert (first.labels == again.labels).all()
        assert (first.labels != other.labels).mean() > 0.05

    def test_pinning_the_phantom_leaves_its_slices_as_they_were(self) -> None:
        """The template draws from a stream of its own: a phantom slice is the same pixels whether
        the source was drawn or pinned."""
        for index in range(12):
            drawn = mri_slice((33, index), has_tumor=True, size=64)
            if drawn.anatomy_source == "phantom":
                pinned = mri_slice((33, index), has_tumor=True, size=64, anatomy_source="phantom")
                assert (drawn.image == pinned.image).all()
