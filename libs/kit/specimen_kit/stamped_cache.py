"""Values read from the database, kept in process while their stamp there is unchanged.

A similarity search reads every descriptor row of its scope (an owner's, a project's, a
hospital's) into one matrix. :class:`StampedCache` keeps recently used scopes between requests
and hands one out again only while a cheap query, the scope's *stamp*, answers as it did when
the value was read, so every replica sees every other replica's writes on its next read
without being told of them.

For rows that are only ever inserted and deleted (never updated in place) with ids that are
never reused (SQLite ``AUTOINCREMENT``, a PostgreSQL sequence), ``(row count, largest id)`` of
the scope is such a stamp: a row that entered the scope since has a larger id than every row
there before, and without one the count drops exactly when a row left.

Memory is bounded by ``max_rows`` in all (``rows_of`` each value), the least recently used
scope going first; the value just read is kept even when alone it is larger (a request holds it
anyway), so the bound is ``max(max_rows, the largest scope)``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class StampedCache(Generic[K, V]):
    """An LRU of values by key, each used only while its stamp is unchanged. Thread-safe.

    Examples
    --------
    >>> cache = StampedCache[str, list[int]](max_rows=3, rows_of=len)
    >>> cache.get("a", (1, 1), lambda: [1])
    [1]
    >>> cache.get("a", (1, 1), lambda: [9])  # same stamp: the kept value
    [1]
    >>> cache.get("a", (2, 5), lambda: [1, 5])  # the stamp moved: read again
    [1, 5]
    >>> cache.loads
    2
    """

    def __init__(self, max_rows: int, rows_of: Callable[[V], int]) -> None:
        self._max_rows = max_rows
        self._rows_of = rows_of
        self._entries: OrderedDict[K, tuple[object, V]] = OrderedDict()
        self._lock = threading.Lock()
        self.loads = 0
        """How many times a value was read (``load`` called): tests watch it."""

    def get(self, key: K, stamp: object, load: Callable[[], V]) -> V:
        """The value kept for ``key`` if it was read at ``stamp``, else ``load()`` (kept).

        ``stamp`` is read by the caller *before* ``load`` runs, so a write landing between the
        two leaves a value newer than its stamp: read again next time, never served stale.
        """
        with self._lock:
            cached = self._entries.get(key)
            if cached is not None and cached[0] == stamp:
                self._entries.move_to_end(key)
                return cached[1]
        value = load()  # outside the lock: other keys are served meanwhile
        with self._lock:
            self.loads += 1
            self._entries[key] = (stamp, value)
            self._entries.move_to_end(key)
            total = sum(self._rows_of(entry[1]) for entry in self._entries.values())
            while total > self._max_rows and len(self._entries) > 1:
                _, (_, dropped) = self._entries.popitem(last=False)
                total -= self._rows_of(dropped)
        return value

    def __len__(self) -> int:
        return len(self._entries)
