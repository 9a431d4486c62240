"""The blob store both image services keep their files in, and a request's staged view of it."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from specimen_kit.blobs import BlobMissing, FilesystemBlobStore, StagedBlobs, orphaned_keys


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

    def test_put_file_copies_in_chunks_and_open_streams(self, tmp_path: Path) -> None:
        store = FilesystemBlobStore(tmp_path / "blobs")
        source = tmp_path / "archive.zip"
        source.write_bytes(b"z" * 2500)
        key = store.put_file(source, chunk_size=1000)
        assert source.read_bytes() == b"z" * 2500  # the source is left as it was
        with store.open(key) as blob:
            assert blob.read(10) == b"z" * 10
            assert len(blob.read()) == 2490
        assert [p.name for p in (tmp_path / "blobs" / key[:2]).iterdir()] == [key]
        store.delete(key)
        with pytest.raises(BlobMissing):
            store.open(key)

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


class TestOrphanedKeys:
    def test_keys_without_a_row_sorted(self) -> None:
        assert orphaned_keys(["c", "a", "b"], {"b"}) == ["a", "c"]

    def test_every_key_referenced_means_no_orphan(self) -> None:
        assert orphaned_keys(["a"], {"a", "z"}) == []
