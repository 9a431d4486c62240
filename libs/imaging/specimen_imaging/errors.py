"""The typed error of the imaging pipeline that the kit does not already define.

A bad argument is the kit's :class:`~specimen_kit.errors.InvalidParameter` (422), raised with a
message that names the value and the fix; :class:`FlatImage` is the one failure of the
algorithms themselves. Both are kit :class:`~specimen_kit.errors.Problem` s, which every service
renders as ``application/problem+json``.
"""

from __future__ import annotations

from specimen_kit.errors import Problem


class FlatImage(Problem):
    """All pixels have the same value, so there is no threshold between two classes (422)."""

    status = 422
    title = "Flat image"
    slug = "flat-image"

    def __init__(self, value: float) -> None:
        shown = int(value) if float(value).is_integer() else value
        super().__init__(f"the image cannot be thresholded: all pixels are {shown}")
        self.value = value
