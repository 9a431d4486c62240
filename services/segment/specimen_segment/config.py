"""Settings of the segment service (environment variables prefixed ``SPECIMEN_``)."""

from __future__ import annotations

from specimen_kit.settings import ServiceSettings


class SegmentSettings(ServiceSettings):
    """The shared settings; the segment features add theirs here."""
