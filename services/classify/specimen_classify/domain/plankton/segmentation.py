"""How a plankton frame, or one training crop, is cut into objects.

Plankton frames are dark objects on a light background, so :class:`PlanktonSegmentation` has
the segment options' names, bounds and messages with plankton's defaults.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from specimen_imaging.flatfield import MAX_SIGMA
from specimen_imaging.options import MAX_AREA, MAX_HYSTERESIS_SIGMAS, ExtractionOptions
from specimen_imaging.thresholding import MAX_RADIUS

DEFAULT_MIN_AREA = 10
"""Smallest object of a frame classified by default, in pixels (smaller specks are noise)."""
DEFAULT_CLOSING_RADIUS = 3
"""Closing of the mask, pixels: joins the faint strands of an aggregate to its body."""
DEFAULT_FLAT_FIELD_SIGMA = 32.0
"""Vignetting correction of a frame before thresholding, pixels (larger than the objects)."""
DEFAULT_HYSTERESIS_SIGMAS = 5.0
"""Hysteresis thresholding of a frame: its objects reach out to 5 noise deviations from the
background (a faint strand stays attached to its aggregate) when they hold a pixel past Otsu's
threshold. Measured on generated frames (BENCHMARKS.md, issue 12's frames per core): Otsu alone
lost 7 of 320 objects (aggregates broken into fragments) and found 31 fragments matching no
object; with it, none lost, none extra, and more of them right (4, 5 or 6 deviations alike)."""


class PlanktonSegmentation(ExtractionOptions):
    """How a plankton frame is cut into objects: the segment ``/objects`` fields, plankton defaults.

    Dark objects on a light, vignetted background: the illumination is flattened first
    (``flat_field_sigma``; a global threshold of an uncorrected frame takes its dark corners for
    foreground and loses the objects there), then ``polarity=dark-on-light``, a closing that keeps
    an aggregate's faint strands attached, objects touching the frame's border dropped (they are
    cut off) and specks under :data:`DEFAULT_MIN_AREA` pixels ignored. Measured on generated
    frames (8 frames of 1024x1024, 320 objects, the default forest trained on crops): without the
    correction and the closing 29 objects were lost and 274 spurious ones found, 85 % of the
    others right; with them 1 lost, 20 extra fragments, 92.9 % right and 2.1 % unclear
    (phytoplankton aggregates, whose faint strands still break off, about 72 % right). Their
    strands are kept by hysteresis since (``hysteresis_sigmas``, :data:`DEFAULT_HYSTERESIS_SIGMAS`).
    """

    polarity: Literal["light-on-dark", "dark-on-light"] = Field(
        "dark-on-light", description="dark-on-light keeps pixels <= t (plankton on a light background)."
    )
    min_area: int = Field(DEFAULT_MIN_AREA, ge=0, le=MAX_AREA, description="Smallest object kept, in pixels.")
    keep_border: bool = Field(False, description="Keep objects touching the frame's border (cut off).")
    closing_radius: int = Field(
        DEFAULT_CLOSING_RADIUS, ge=0, le=MAX_RADIUS, description="Pixels; joins an aggregate's strands."
    )
    flat_field_sigma: float | None = Field(
        DEFAULT_FLAT_FIELD_SIGMA,
        gt=0,
        le=MAX_SIGMA,
        description="Vignetting correction first (Gaussian background blur, pixels); null turns it off.",
    )
    hysteresis_sigmas: float | None = Field(
        DEFAULT_HYSTERESIS_SIGMAS,
        gt=0,
        le=MAX_HYSTERESIS_SIGMAS,
        description="Objects reach out to this many noise deviations from the background when they hold "
        "a pixel past the threshold (hysteresis); null: the threshold alone.",
    )


CROP_SEGMENTATION = PlanktonSegmentation(
    min_area=0, keep_border=True, flat_field_sigma=None, fill_holes=True, hysteresis_sigmas=None)
"""How a crop (a vignette) is cut, after :func:`~specimen_classify.domain.plankton.crops.crop_features`
has turned it dark-on-light and levelled its background: plankton's threshold and closing,
nothing dropped (a tight crop's object may touch its border), no Gaussian vignetting correction
(a crop is too small for it: the background is levelled from its border instead), holes filled
(a translucent body is a dark rim around a light inside), no hysteresis (the trained forests'
crops were measured without it); ``crop_features`` then keeps the
organism (the largest object near the centre, never a scale bar)."""
