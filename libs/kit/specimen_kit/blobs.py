"""Image and result bytes as files, and the request's staged view of them.

Infrastructure that every service keeping blobs beside its rows uses (segment's image library,
classify's MRI scans); one definition, so both have the same atomicity and crash semantics.

:class:`FilesystemBlobStore` keeps each blob in its own file under one directory; a volume
shared by the replicas (NFS, a ReadWriteMany claim) lets all of them serve every blob. A write
goes to a temporary file in the destination's directory, is fsynced, then renamed into place
atomically, so a reader sees a whole blob or none, and a returned key is durable.

:class:`StagedBlobs` is what one request's use-cases see: it remembers the blobs written
during the request so they can be deleted when the transaction fails, and defers removals until
the transaction has committed. Crash windows (both leave a blob without a row, never a row
without a blob): the process dies after writing a blob and before the commit, or after the
commit and before the removal. Each service's ``sweep-orphans`` command removes them
(:func:`orphaned_keys`, :func:`modified_before`).
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from specimen_kit.errors import Problem

logger = logging.getLogger(__name__)

_KEY = re.compile(r"[0-9a-f]{32}")
_TEMPORARY_PREFIX = ".tmp-"


class BlobMissing(Problem, LookupError):
    """A record's stored file (image, crop, mask, archive) is gone from the blob store: lost
    outside the service, or deleted with its record by a request that committed after this one
    read the record; it cannot be served again.

    A 410 rather than a 500: nothing the client sends can fix it, and it is no server bug that
    retrying would cure. The detail names the key, never the store's path on disk.
    """

    status = 410
    title = "Stored file gone"
    slug = "blob-missing"

    def __init__(self, key: str) -> None:
        super().__init__(f"The stored file of this resource (blob {key}) is gone from the blob "
                         "store (deleted with the resource meanwhile, or lost); its content cannot "
                         "be served.", key=key)


class FilesystemBlobStore:
    """Blobs in ``root/<first two hex digits>/<uuid hex>`` files, written atomically."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        if not _KEY.fullmatch(key):
            raise ValueError(f"{key!r} is not a blob key (32 lower-case hex digits)")
        return self.root / key[:2] / key

    def put(self, data: bytes) -> str:
        """Store ``data`` durably under a new key and return the key."""
        key = uuid.uuid4().hex
        path = self._path(key)
        path.parent.mkdir(exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=_TEMPORARY_PREFIX)
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        _fsync_directory(path.parent)
        return key

    def put_file(self, source: Path, chunk_size: int = 1 << 20) -> str:
        """Store a file's content under a new key, copied in chunks (memory stays bounded:
        an export archive may be larger than RAM); ``source`` is left as it was."""
        key = uuid.uuid4().hex
        path = self._path(key)
        path.parent.mkdir(exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=_TEMPORARY_PREFIX)
        try:
            with os.fdopen(descriptor, "wb") as file, source.open("rb") as original:
                while chunk := original.read(chunk_size):
                    file.write(chunk)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        _fsync_directory(path.parent)
        return key

    def open(self, key: str) -> BinaryIO:
        """The blob as a binary file to read in chunks (a download streamed, never loaded whole)."""
        try:
            return self._path(key).open("rb")
        except FileNotFoundError as error:
            raise BlobMissing(key) from error

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as error:
            raise BlobMissing(key) from error

    def delete(self, key: str) -> None:
        """Remove a blob; one already gone is not an error."""
        self._path(key).unlink(missing_ok=True)

    def keys(self, modified_before: float | None = None) -> Iterator[str]:
        """Stored keys, only those last modified before ``modified_before`` (epoch seconds) if given."""
        for path in self.root.glob("??/*"):
            if not _KEY.fullmatch(path.name) or path.parent.name != path.name[:2]:
                continue
            if modified_before is None or path.stat().st_mtime < modified_before:
                yield path.name

    def remove_stale_temporaries(self, modified_before: float) -> int:
        """Delete temporary files that a crashed write left behind; returns how many."""
        removed = 0
        for path in self.root.glob(f"??/{_TEMPORARY_PREFIX}*"):
            if path.stat().st_mtime < modified_before:
                path.unlink(missing_ok=True)
                removed += 1
        return removed


def _fsync_directory(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk (POSIX).
    if os.name != "posix":
        return
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class StagedBlobs:
    """One request's view of the store: new blobs undone on failure, removals after commit.

    Implements the ``BlobStore`` port of the services' domains (put, get, remove); the
    request's unit of work calls :meth:`discard_written` or :meth:`apply_removals`.
    """

    def __init__(self, store: FilesystemBlobStore) -> None:
        self._store = store
        self._written: list[str] = []
        self._removals: list[str] = []

    def put(self, data: bytes) -> str:
        key = self._store.put(data)
        self._written.append(key)
        return key

    def put_file(self, source: Path) -> str:
        key = self._store.put_file(source)
        self._written.append(key)
        return key

    def get(self, key: str) -> bytes:
        return self._store.get(key)

    def remove(self, key: str) -> None:
        self._removals.append(key)

    def discard_written(self) -> None:
        """The transaction failed: delete what this request wrote, so nothing is orphaned."""
        self._delete_all(self._written, "failed request")
        self._written, self._removals = [], []

    def apply_removals(self) -> None:
        """The transaction committed: delete the blobs of the rows it deleted."""
        self._delete_all(self._removals, "deleted rows")
        self._written, self._removals = [], []

    def _delete_all(self, keys: list[str], reason: str) -> None:
        for key in keys:
            try:
                self._store.delete(key)
            except OSError:
                # Left for `sweep-orphans`; the request's outcome is already decided.
                logger.exception("could not delete a blob", extra={"key": key, "reason": reason})


def modified_before(grace_seconds: float) -> float:
    """The epoch time before which a blob without a row is certainly not a request in flight."""
    return time.time() - grace_seconds


def orphaned_keys(stored: Iterable[str], referenced: set[str]) -> list[str]:
    """Keys in the store that no row references (what ``sweep-orphans`` removes), sorted.

    Examples
    --------
    >>> orphaned_keys(["c", "a", "b"], {"b"})
    ['a', 'c']
    """
    return sorted(key for key in stored if key not in referenced)
