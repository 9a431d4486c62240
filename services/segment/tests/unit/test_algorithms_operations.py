"""The operation registry the algorithm routes and the image library share, and GrabCut."""

from __future__ import annotations

import numpy as np
import pytest

from specimen_imaging.errors import FlatImage
from specimen_imaging.measurements import FEATURE_NAMES
from specimen_kit.errors import InvalidParameter
from specimen_segment.domain.background import grabcut_foreground
from specimen_segment.operations import (
    IMAGE_FORMATS,
    OPERATIONS,
    Algorithms,
    OperationOutput,
    run_operation,
)


def blobs() -> np.ndarray:
    img = np.full((32, 40), 10, np.uint8)
    img[4:10, 4:10] = 200
    img[15:25, 20:30] = 220
    return img


class TestRunOperation:
    def test_threshold_answers_a_0_255_mask_and_its_facts(self) -> None:
        out = run_operation("threshold", blobs(), {"min_area": 40})
        assert isinstance(out, OperationOutput) and out.media_type == "image/png"
        assert out.image.dtype == np.uint8 and set(np.unique(out.image)) == {0, 255}
        assert out.summary == {"threshold": 10.0, "foreground_fraction": 100 / 1280, "object_count": 1}

    def test_superpixels_answers_uint16_labels_and_centroids(self) -> None:
        out = run_operation("superpixels", np.dstack([blobs()] * 3), {"n_segments": 4})
        assert out.image.dtype == np.uint16
        assert out.summary["segment_count"] == int(out.image.max()) + 1 == len(out.summary["centroids"])

    def test_objects_answers_an_overlay_and_the_feature_table(self) -> None:
        out = run_operation("objects", blobs(), {})
        assert out.image.shape == (32, 40, 3)
        assert out.summary["count"] == 2 and out.summary["feature_names"] == list(FEATURE_NAMES)
        assert [o["features"]["area"] for o in out.summary["objects"]] == [36.0, 100.0]

    def test_objects_after_a_flat_field_correction(self) -> None:
        ramp = np.tile(np.linspace(90, 250, 64), (48, 1)).round().astype(np.uint8)
        ramp[20:26, 6:12] = 30
        ramp[20:26, 50:56] = 150
        params = {"polarity": "dark-on-light", "keep_border": False}
        plain = run_operation("objects", ramp, params).summary["objects"]
        corrected = run_operation("objects", ramp, params | {"flat_field_sigma": 8}).summary["objects"]
        assert [o["bbox"]["min_col"] for o in plain] == [50]
        assert [o["bbox"]["min_col"] for o in corrected] == [6, 50]

    def test_background_and_vignetting(self) -> None:
        rgba = run_operation("background", np.dstack([blobs()] * 3), {}).image
        assert rgba.shape == (32, 40, 4) and int((rgba[..., 3] > 0).sum()) == 136
        assert run_operation("vignetting", blobs(), {"sigma": 5}).image.shape == (32, 40)

    def test_every_name_is_registered(self) -> None:
        assert set(OPERATIONS) == {"threshold", "superpixels", "selection", "objects",
                                   "background", "vignetting", "convert"}

    def test_selection_and_convert_as_the_library_runs_them(self) -> None:
        img = np.dstack([blobs()] * 3)
        chosen = run_operation("selection", img, {"n_segments": 4, "ids": [0],
                                                  "background": "transparent"})
        assert chosen.summary == {"ids": [0], "pixel_count": int((chosen.image[..., 3] > 0).sum())}
        converted = run_operation("convert", img, {"quality": 40})
        assert converted.quality == 40 and np.array_equal(converted.image, img)

    @pytest.mark.parametrize(("name", "params", "formats"), [
        ("superpixels", {}, ("png", "tiff")),
        ("superpixels", {"result": "labels"}, ("png", "tiff")),
        ("superpixels", {"result": "overlay"}, IMAGE_FORMATS),
        ("threshold", {}, IMAGE_FORMATS),
    ])
    def test_labels_are_kept_only_in_16_bit_formats(self, name: str, params: dict,
                                                    formats: tuple[str, ...]) -> None:
        assert Algorithms().formats(name, params) == formats

    def test_formats_of_an_unknown_operation_is_invalid(self) -> None:
        with pytest.raises(InvalidParameter, match="operation='nope'"):
            Algorithms().formats("nope", {})

    @pytest.mark.parametrize(
        ("name", "params", "words"),
        [
            ("nope", {}, "operation='nope' is unknown"),
            ("superpixels", {"n_segments": 0}, "n_segments=0"),
            ("threshold", {"output": "png"}, "output is not a parameter"),
            ("objects", {"padding": -1}, "padding=-1"),
        ],
    )
    def test_bad_names_and_params_are_invalid_parameter(self, name: str, params: dict, words: str) -> None:
        with pytest.raises(InvalidParameter, match=words):
            run_operation(name, blobs(), params)

    def test_a_flat_image_is_flat_image(self) -> None:
        with pytest.raises(FlatImage):
            run_operation("threshold", np.zeros((4, 4), np.uint8), {})


class TestGrabcutForeground:
    def test_refines_a_shrunken_seed_to_the_coloured_square(self) -> None:
        img = np.zeros((50, 50, 3), np.uint8)
        img[...] = (20, 120, 20)
        img[10:40, 10:40] = (230, 30, 30)
        seed = np.zeros((50, 50), bool)
        seed[14:36, 14:36] = True
        fg = grabcut_foreground(img, seed)
        assert fg[10:40, 10:40].all() and fg.sum() == 900

    def test_same_input_same_mask(self) -> None:
        rng = np.random.default_rng(0)
        img = rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)
        seed = np.zeros((40, 40), bool)
        seed[10:30, 10:30] = True
        np.testing.assert_array_equal(grabcut_foreground(img, seed), grabcut_foreground(img, seed))

    @pytest.mark.parametrize("fill", [False, True])
    def test_empty_or_full_seed_is_refused(self, fill: bool) -> None:
        with pytest.raises(InvalidParameter, match="seed mask"):
            grabcut_foreground(np.zeros((8, 8), np.uint8), np.full((8, 8), fill))
