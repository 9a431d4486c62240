from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from specimen_segment.adapters.blobstore import BlobMissing, FilesystemBlobStore, StagedBlobs
from specimen_segment.domain.library import (
    InvalidImageName,
    Quota,
    QuotaExceeded,
    Usage,
    check_quota,
    download_filename,
    format_of_media_type,
    jsonable,
    normalize_name,
    orphaned_keys,
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

    def test_orphaned_keys(self) -> None:
        assert orphaned_keys(["c", "a", "b"], {"b"}) == ["a", "c"]


class TestFilesystemBlobStore:
    def test_put_get_delete(self, tmp_path: Path) -> None:
        store = FilesystemBlobStore(tmp_path / "blobs")
        key = store.put(b"\x00bytes")
        assert len(key) == 32
        assert (tmp_path / "blobs" / key[:2] / key).read_bytes() == b"\x00bytes"
        assert store.get(key) == b"\x00bytes"
        store.delete(key)
        store.delete(key)  # already gone: not an error
        with pytest.raises(BlobMissing):
            store.get(key)

    def test_keys_are_checked_so_no_path_escapes(self, tmp_path: Path) -> None:
        store = FilesystemBlobStore(tmp_path)
        with pytest.raises(ValueError, match="not a blob key"):
            store.get("../../etc/passwd")

    def test_failed_write_leaves_no_temporary_file(self, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
        store = FilesystemBlobStore(tmp_path)

        def no_space(descriptor: int) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "fsync", no_space)
        with pytest.raises(OSError, match="No space"):
            store.put(b"data")
        assert [path for path in tmp_path.rglob("*") if path.is_file()] == []

    def test_keys_filters_by_age_and_skips_temporaries(self, tmp_path: Path) -> None:
        store = FilesystemBlobStore(tmp_path)
        old, young = store.put(b"old"), store.put(b"young")
        (tmp_path / old[:2] / ".tmp-abc").write_bytes(b"partial")
        past = time.time() - 100
        os.utime(tmp_path / old[:2] / old, (past, past))
        assert sorted(store.keys()) == sorted([old, young])
        assert list(store.keys(modified_before=time.time() - 50)) == [old]

    def test_remove_stale_temporaries(self, tmp_path: Path) -> None:
        store = FilesystemBlobStore(tmp_path)
        key = store.put(b"x")
        stale, fresh = tmp_path / key[:2] / ".tmp-stale", tmp_path / key[:2] / ".tmp-fresh"
        stale.write_bytes(b"")
        fresh.write_bytes(b"")
        past = time.time() - 100
        os.utime(stale, (past, past))
        assert store.remove_stale_temporaries(time.time() - 50) == 1
        assert (stale.exists(), fresh.exists()) == (False, True)


class TestStagedBlobs:
    def test_discard_deletes_what_the_request_wrote(self, tmp_path: Path) -> None:
        store = FilesystemBlobStore(tmp_path)
        existing = store.put(b"kept")
        staged = StagedBlobs(store)
        new = staged.put(b"new")
        staged.remove(existing)
        staged.discard_written()
        assert list(store.keys()) == [existing]
        with pytest.raises(BlobMissing):
            store.get(new)

    def test_removals_wait_for_the_commit(self, tmp_path: Path) -> None:
        store = FilesystemBlobStore(tmp_path)
        key = store.put(b"doomed")
        staged = StagedBlobs(store)
        staged.remove(key)
        assert staged.get(key) == b"doomed"
        staged.apply_removals()
        assert list(store.keys()) == []

    def test_a_failed_removal_is_left_for_the_sweep(self, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
        store = FilesystemBlobStore(tmp_path)
        key = store.put(b"x")
        staged = StagedBlobs(store)
        staged.remove(key)

        def read_only(self: Path, missing_ok: bool = False) -> None:
            raise PermissionError("read-only file system")

        monkeypatch.setattr(Path, "unlink", read_only)
        staged.apply_removals()  # logged, not raised: the commit already happened
        monkeypatch.undo()
        assert list(store.keys()) == [key]
