"""The stamped LRU the similarity searches keep their scopes in (segment's owners, classify's
projects and hospitals): kept while the stamp holds, read again when it moves, bounded."""

from __future__ import annotations

import threading

from specimen_kit.stamped_cache import StampedCache


def cache(max_rows: int) -> StampedCache[tuple[int, str], list[int]]:
    return StampedCache(max_rows, rows_of=len)


class TestStamps:
    def test_an_unchanged_stamp_hands_out_the_kept_value_without_reading(self) -> None:
        kept = cache(100)
        first = kept.get((1, "1"), (3, 7), lambda: [1, 2, 3])
        again = kept.get((1, "1"), (3, 7), lambda: [9])
        assert again is first and kept.loads == 1

    def test_a_moved_stamp_reads_again_and_keeps_the_new_value(self) -> None:
        kept = cache(100)
        kept.get((1, "1"), (3, 7), lambda: [1, 2, 3])
        assert kept.get((1, "1"), (3, 8), lambda: [1, 2, 8]) == [1, 2, 8]
        assert kept.get((1, "1"), (3, 8), lambda: [0]) == [1, 2, 8]
        assert kept.loads == 2 and len(kept) == 1

    def test_keys_are_apart(self) -> None:
        kept = cache(100)
        kept.get((1, "1"), (1, 1), lambda: [1])
        assert kept.get((1, "2"), (1, 1), lambda: [2]) == [2]
        assert kept.get((2, "1"), (1, 1), lambda: [3]) == [3]
        assert kept.loads == 3 and len(kept) == 3

    def test_a_stamp_of_bytes_compares_by_value(self) -> None:
        kept = cache(100)
        kept.get((1, "1"), (2, 5, b"\x01\x02"), lambda: [1])
        assert kept.get((1, "1"), (2, 5, bytes([1, 2])), lambda: [9]) == [1]


class TestBound:
    def test_least_recently_used_keys_go_first(self) -> None:
        kept = cache(8)
        for owner in (1, 2, 3):
            kept.get((owner, "1"), (4, owner), lambda: [0] * 4)
        assert len(kept) == 2
        kept.get((2, "1"), (4, 2), lambda: [0] * 4)  # kept: no read
        assert kept.loads == 3
        kept.get((1, "1"), (4, 1), lambda: [0] * 4)  # dropped: read again, 3 goes
        assert kept.loads == 4
        kept.get((2, "1"), (4, 2), lambda: [0] * 4)
        assert kept.loads == 4

    def test_a_use_makes_a_key_the_most_recent(self) -> None:
        kept = cache(8)
        kept.get((1, "1"), (4, 1), lambda: [0] * 4)
        kept.get((2, "1"), (4, 2), lambda: [0] * 4)
        kept.get((1, "1"), (4, 1), lambda: [0] * 4)
        kept.get((3, "1"), (4, 3), lambda: [0] * 4)  # 2 was the least recent
        kept.get((1, "1"), (4, 1), lambda: [0] * 4)
        assert kept.loads == 3

    def test_a_value_larger_than_the_bound_is_kept_alone(self) -> None:
        kept = cache(4)
        kept.get((1, "1"), (1, 1), lambda: [0])
        big = kept.get((2, "1"), (9, 9), lambda: [0] * 9)
        assert len(kept) == 1 and kept.get((2, "1"), (9, 9), lambda: []) is big

    def test_a_bound_of_zero_keeps_only_the_last_value(self) -> None:
        kept = cache(0)
        kept.get((1, "1"), (1, 1), lambda: [0])
        kept.get((2, "1"), (1, 1), lambda: [0])
        assert len(kept) == 1


class TestThreads:
    def test_concurrent_readers_all_get_the_value_of_their_stamp(self) -> None:
        kept = cache(1000)
        answers: list[tuple[int, list[int]]] = []
        barrier = threading.Barrier(8)

        def read(i: int) -> None:
            barrier.wait()
            for _ in range(50):
                stamp = i % 2
                answers.append((stamp, kept.get((1, "1"), stamp, lambda s=stamp: [s])))

        threads = [threading.Thread(target=read, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(answers) == 400 and all(value == [stamp] for stamp, value in answers)
        assert len(kept) == 1
