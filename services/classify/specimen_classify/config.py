"""Settings of the classify service (environment variables prefixed ``SPECIMEN_``)."""

from __future__ import annotations

from specimen_kit.settings import ServiceSettings


class ClassifySettings(ServiceSettings):
    """The shared settings; the classify features add theirs here."""
