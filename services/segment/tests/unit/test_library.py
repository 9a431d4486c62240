from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from specimen_kit.errors import InvalidParameter
from specimen_segment.domain.library import (
    IMAGE_SORTS,
    ImageQuery,
    InvalidImageName,
    Quota,
    QuotaExceeded,
    Usage,
    check_quota,
    choose_format,
    download_filename,
    format_of_media_type,
    jsonable,
    normalize_name,
    pixel_layout,
)


class TestNormalizeName:
    def test_trims_and_composes(self) -> None:
        assert normalize_name("  e\u0301te\u0301 ") == "\u00e9t\u00e9"

    @pytest.mark.parametrize(("name", "needle"), [
        ("", "empty"), ("   ", "empty"), ("x" * 201, "201 characters"), ("a\tb", "control"),
    ])
    def test_refuses_with_a_reason(self, name: str, needle: str) -> None:
        with pytest.raises(InvalidImageName, match=needle):
            normalize_name(name)

    def test_two_hundred_characters_are_allowed(self) -> None:
        assert normalize_name("x" * 200) == "x" * 200


class TestDownloadFilename:
    @pytest.mark.parametrize(("name", "format", "suffix", "expected"), [
        ("scan.png", "jpeg", "", "scan.jpg"),
        ("scan.JPEG", "png", "", "scan.png"),
        ("scan.tif", "tiff", "-threshold", "scan-threshold.tiff"),
        ("no extension", "webp", "", "no extension.webp"),
        ("archive.tar", "png", "", "archive.tar.png"),
        (".png", "png", "", "image.png"),
    ])
    def test_replaces_an_image_extension(self, name: str, format: str, suffix: str,
                                         expected: str) -> None:
        assert download_filename(name, format, suffix) == expected


class TestQuota:
    def test_at_the_limit_is_allowed(self) -> None:
        check_quota(Quota(images=2, bytes=100), Usage(images=1, bytes=60), 1, 40)

    def test_one_image_too_many(self) -> None:
        with pytest.raises(QuotaExceeded) as raised:
            check_quota(Quota(images=2, bytes=100), Usage(images=2, bytes=0), 1, 1)
        assert raised.value.extensions == {"quota": "images", "used": 2, "requested": 1,
                                           "limit": 2}
        assert raised.value.status == 409

    def test_one_byte_too_many(self) -> None:
        with pytest.raises(QuotaExceeded) as raised:
            check_quota(Quota(images=9, bytes=100), Usage(images=1, bytes=60), 0, 41)
        assert raised.value.extensions["quota"] == "bytes"
        assert "60 bytes of the 100 allowed" in raised.value.detail

    def test_results_do_not_count_as_images(self) -> None:
        check_quota(Quota(images=1, bytes=100), Usage(images=1, bytes=0), 0, 10)


class TestRules:
    @pytest.mark.parametrize(("shape", "dtype", "expected"), [
        ((4, 6), np.uint8, (6, 4, 1, 8)),
        ((4, 6, 3), np.uint8, (6, 4, 3, 8)),
        ((4, 6, 4), np.uint16, (6, 4, 4, 16)),
    ])
    def test_pixel_layout(self, shape: tuple[int, ...], dtype: type,
                          expected: tuple[int, int, int, int]) -> None:
        assert pixel_layout(np.zeros(shape, dtype)) == expected

    def test_format_of_media_type(self) -> None:
        assert format_of_media_type("image/jpeg") == "jpeg"
        with pytest.raises(ValueError, match="application/zip"):
            format_of_media_type("application/zip")

    def test_jsonable_converts_numpy(self) -> None:
        summary = {"t": np.float64(0.5), "n": np.int64(3), "a": np.array([1, 2]),
                   "nested": [{"b": np.bool_(True)}]}
        assert jsonable(summary) == {"t": 0.5, "n": 3, "a": [1, 2], "nested": [{"b": True}]}

    def test_jsonable_refuses_other_objects(self) -> None:
        with pytest.raises(TypeError, match="datetime"):
            jsonable({"when": datetime.now(UTC)})


class TestChooseFormat:
    def test_an_offered_format_is_kept(self) -> None:
        assert choose_format("tiff", ("png", "tiff"), "labels") == "tiff"

    def test_another_is_a_422_naming_the_choices(self) -> None:
        with pytest.raises(InvalidParameter, match="output='jpeg' cannot hold labels; use one of "
                                                   "png, tiff") as raised:
            choose_format("jpeg", ("png", "tiff"), "labels")
        assert raised.value.status == 422


class TestImageQuery:
    @pytest.mark.parametrize(("sort", "field", "descending"), [
        ("-created_at", "created_at", True), ("name", "name", False), ("-bytes", "bytes", True)])
    def test_sort_splits_into_field_and_direction(self, sort: str, field: str,
                                                  descending: bool) -> None:
        query = ImageQuery(sort=sort)
        assert (query.sort_field, query.descending) == (field, descending)
        assert field in IMAGE_SORTS
