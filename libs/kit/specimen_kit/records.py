"""Shapes the services' use-cases answer with and the blob port they write through.

Pure data and protocols (no framework), so domain packages may import them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing: its items, how many there are in all, and where it starts."""

    items: list[T]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True)
class Content:
    """Bytes to send, with their media type and a download file name."""

    data: bytes
    media_type: str
    filename: str


class BlobStore(Protocol):
    """Content by key, as the request's unit of work sees it (:class:`specimen_kit.blobs.StagedBlobs`).

    ``put`` is durable when it returns, and undone if the request's transaction fails;
    ``remove`` takes effect only after that transaction has committed.
    """

    def put(self, data: bytes) -> str: ...

    def get(self, key: str) -> bytes: ...

    def remove(self, key: str) -> None: ...
