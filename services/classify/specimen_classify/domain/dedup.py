"""Near-duplicate images grouped by perceptual hash, and train/validation/test splits by group.

Public image sets hold the same picture more than once (re-saved, resized, re-encoded). When
copies land on both sides of a split, the test score measures memory, not skill. So images are
grouped first and every group goes to exactly one split.

Method: OpenCV's ``img_hash.pHash`` (64 bits: signs of the 8x8 lowest DCT frequencies of a
32x32 thumbnail) of each 8-bit gray image; two images are near-duplicates when their hashes
differ in at most :data:`MAX_DISTANCE` bits, and groups are the connected components of that
relation (union-find), so a chain of near-duplicates is one group.

Choice of :data:`MAX_DISTANCE`, measured on generated 256x256 slices (the unit tests keep a
small version of it). A copy resized to 180-512 px, re-encoded as JPEG (quality 85) and noised
(sigma 3 gray levels) lay within 2 bits of its original in 96 % of 300 cases, within 3 in
98.7 % and within 4 in all. But every axial brain slice has the same coarse shape, so distinct
slices collide too, and union-find chains the collisions: in 2,400 distinct slices, 4 bits put
40 % of them in shared groups with a largest group of 254 (the chain is starting to span the
set; at 6 bits it spans two thirds of it), while 3 bits give 21 % and 52, and 2 bits 9 % and
24. Grouping distinct images only coarsens a split, missing a copy leaks it; 3 bits catch the
usual public-set duplicates (exact, rescaled, re-saved copies: 0-2 bits) and keep the groups
small enough for a stratified split of a few thousand images.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from specimen_classify.domain.preprocessing import gray_uint8

HASH_METHOD = "pHash"
"""Name of the perceptual hash, as recorded in model cards."""
HASH_BYTES = 8
"""A pHash is 64 bits, stored as 8 bytes."""
MAX_DISTANCE = 3
"""Largest Hamming distance (of 64 bits) between near-duplicates; see the module docstring."""
_CHUNK = 1024


def perceptual_hash(image: npt.NDArray[Any]) -> npt.NDArray[np.uint8]:
    """The 64-bit pHash of one image.

    Parameters
    ----------
    image : ndarray
        Gray ``(h, w)``, RGB ``(h, w, 3)`` or RGBA ``(h, w, 4)``, ``uint8`` or ``uint16``
        (converted as :func:`~specimen_classify.domain.preprocessing.gray_uint8` does).

    Returns
    -------
    ndarray of uint8, shape (8,)

    Raises
    ------
    InvalidImage
        Shape or dtype not accepted.

    Examples
    --------
    >>> gradient = np.tile(np.arange(64, dtype=np.uint8) * 4, (64, 1))
    >>> perceptual_hash(gradient).shape
    (8,)
    """
    gray = gray_uint8(image)
    return np.asarray(cv2.img_hash.pHash(gray), dtype=np.uint8).reshape(HASH_BYTES)


def hamming_distances(
    hashes_a: npt.NDArray[np.uint8], hashes_b: npt.NDArray[np.uint8]
) -> npt.NDArray[np.int64]:
    """Bits that differ between every hash of ``hashes_a`` and every hash of ``hashes_b``.

    Parameters
    ----------
    hashes_a : ndarray of uint8, shape (n, k)
    hashes_b : ndarray of uint8, shape (m, k)

    Returns
    -------
    ndarray of int64, shape (n, m)

    Examples
    --------
    >>> hamming_distances(np.array([[0b1011]], np.uint8), np.array([[0], [0b1000]], np.uint8)).tolist()
    [[3, 2]]
    """
    a, b = _check_hashes(hashes_a), _check_hashes(hashes_b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"hashes differ in length: {a.shape[1]} and {b.shape[1]} bytes")
    bits_a = np.unpackbits(a, axis=1).astype(np.float32)
    bits_b = np.unpackbits(b, axis=1).astype(np.float32)
    # Differing bits = a·(1-b) + (1-a)·b, exact in float32 for up to 2**24 bits.
    differing = bits_a @ (1.0 - bits_b).T + (1.0 - bits_a) @ bits_b.T
    return np.rint(differing).astype(np.int64)


def _check_hashes(hashes: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    array = np.asarray(hashes)
    if array.ndim != 2 or array.dtype != np.uint8:
        raise ValueError(f"hashes must be a uint8 array of shape (n, bytes), got {array.dtype} {array.shape}")
    return array


def near_duplicate_groups(
    hashes: npt.NDArray[np.uint8], max_distance: int = MAX_DISTANCE
) -> npt.NDArray[np.int64]:
    """Group ids such that images within ``max_distance`` bits of each other share one.

    Parameters
    ----------
    hashes : ndarray of uint8, shape (n, k)
        One perceptual hash per image (:func:`perceptual_hash`).
    max_distance : int
        Largest Hamming distance of near-duplicates, >= 0.

    Returns
    -------
    ndarray of int64, shape (n,)
        Group of each image, numbered 0, 1, … in the order of each group's first image.

    Raises
    ------
    ValueError
        ``hashes`` of another shape or dtype, or a negative ``max_distance``.

    Examples
    --------
    >>> near_duplicate_groups(np.array([[0], [1], [255], [3]], np.uint8), max_distance=1).tolist()
    [0, 0, 1, 0]
    """
    array = _check_hashes(hashes)
    if isinstance(max_distance, bool) or not isinstance(max_distance, int | np.integer) or max_distance < 0:
        raise ValueError(f"max_distance={max_distance!r} is invalid; use an integer >= 0")
    n = array.shape[0]
    parent = np.arange(n)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = int(parent[i])
        return i

    for start in range(0, n, _CHUNK):
        close = hamming_distances(array[start : start + _CHUNK], array) <= max_distance
        rows, cols = np.nonzero(close)
        for i, j in zip((rows + start).tolist(), cols.tolist(), strict=True):
            if j > i:
                a, b = root(i), root(j)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    roots = np.array([root(i) for i in range(n)], np.int64)
    _, first, inverse = np.unique(roots, return_index=True, return_inverse=True)
    # Renumber by first appearance so ids read in file order.
    order = np.argsort(np.argsort(first))
    return order[inverse].astype(np.int64)


def group_summary(group_ids: npt.NDArray[np.int64]) -> dict[str, int]:
    """How many groups, and how many images share a group with another (for the model card).

    Examples
    --------
    >>> group_summary(np.array([0, 0, 1, 2, 2, 2]))
    {'groups': 3, 'images_in_multi_image_groups': 5, 'largest_group': 3}
    """
    ids = np.asarray(group_ids)
    if ids.size == 0:
        return {"groups": 0, "images_in_multi_image_groups": 0, "largest_group": 0}
    _, sizes = np.unique(ids, return_counts=True)
    return {
        "groups": int(sizes.size),
        "images_in_multi_image_groups": int(sizes[sizes > 1].sum()),
        "largest_group": int(sizes.max()),
    }


def split_groups(
    group_ids: Sequence[int] | npt.NDArray[np.integer[Any]],
    labels: Sequence[Any] | npt.NDArray[Any],
    fractions: Sequence[float] = (0.7, 0.15, 0.15),
    seed: int = 0,
) -> tuple[npt.NDArray[np.int64], ...]:
    """Split images into parts of the given sizes so that no group straddles two parts.

    Every part aims at its fraction of each class's images. The groups are shuffled by
    ``seed`` and taken largest first; each goes to the part whose remaining need, weighted by
    the group's own class counts, is largest (for a single image: the part furthest below its
    share of that image's class). With single-image groups the split is stratified exactly up
    to rounding; groups, and groups that mix classes, make it as close as whole groups allow.

    Parameters
    ----------
    group_ids : sequence or 1-D ndarray of int
        Group of each image (:func:`near_duplicate_groups`).
    labels : sequence or 1-D ndarray
        Class of each image, same length.
    fractions : sequence of float
        Share of each part, e.g. ``(train, validation, test)``; non-negative, summing to 1.
        A part with share 0 stays empty.
    seed : int
        Seed of the shuffle; the same inputs and seed give the same split.

    Returns
    -------
    tuple of ndarray of int64
        Sorted image indices of each part, one array per fraction.

    Raises
    ------
    ValueError
        Lengths differ, or ``fractions`` are negative or do not sum to 1.

    Examples
    --------
    >>> train, test = split_groups([0, 0, 1, 2, 3, 4], ["a", "a", "a", "b", "b", "b"], (0.5, 0.5), seed=1)
    >>> sorted(train.tolist() + test.tolist())
    [0, 1, 2, 3, 4, 5]
    >>> {0, 1} <= set(train.tolist()) or {0, 1} <= set(test.tolist())
    True
    """
    ids = np.asarray(group_ids)
    classes = np.asarray(labels)
    if ids.ndim != 1 or classes.ndim != 1 or ids.shape != classes.shape:
        raise ValueError(
            f"group_ids and labels must be 1-D of one length, got shapes {ids.shape} and {classes.shape}"
        )
    shares = np.asarray(fractions, dtype=np.float64)
    if shares.ndim != 1 or shares.size == 0 or (shares < 0).any() or abs(shares.sum() - 1.0) > 1e-9:
        raise ValueError(f"fractions={tuple(fractions)!r} are invalid; use non-negative shares summing to 1")
    rng = np.random.default_rng(seed)
    _, group_index = np.unique(ids, return_inverse=True)
    _, class_index = np.unique(classes, return_inverse=True)
    n_groups, n_classes = int(group_index.max(initial=-1)) + 1, int(class_index.max(initial=-1)) + 1
    composition = np.zeros((n_groups, n_classes), np.float64)
    np.add.at(composition, (group_index, class_index), 1.0)
    targets = shares[:, np.newaxis] * composition.sum(axis=0)[np.newaxis, :]
    filled = np.zeros_like(targets)
    order = rng.permutation(n_groups)
    order = order[np.argsort(-composition[order].sum(axis=1), kind="stable")]
    part_of_group = np.empty(n_groups, np.int64)
    for group in order.tolist():
        need = (targets - filled) @ composition[group]
        part = int(np.argmax(np.where(shares > 0, need, -np.inf)))
        part_of_group[group] = part
        filled[part] += composition[group]
    part_of_image = part_of_group[group_index]
    return tuple(np.flatnonzero(part_of_image == k).astype(np.int64) for k in range(shares.size))
