"""The loaded models of one process, following the store's active versions without a restart.

Each model name has a loader (artifact directory → runtime object). :meth:`LoadedModels.get`
answers the loaded runtime; at most every ``refresh_seconds`` it asks the store which version
is active, and when that changed it loads the new one before switching, so a version that fails
to load never replaces a working one. Activation on any replica therefore reaches all replicas
within ``refresh_seconds``, and the replica that activated switches at once (:meth:`refresh`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from specimen_classify.adapters.model_store import ModelStore
from specimen_classify.domain.errors import ModelUnavailable, UnloadableModel
from specimen_classify.domain.predictions import ModelVersion

logger = logging.getLogger(__name__)

Loader = Callable[[Path, ModelVersion], Any]


@dataclass
class _Slot:
    loaded: Any = None
    version: int | None = None
    checked_at: float = float("-inf")
    failed_version: int | None = None


class LoadedModels:
    """Runtime objects for the active version of each model, refreshed from the store."""

    def __init__(self, store: ModelStore, loaders: dict[str, Loader], *, refresh_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self._loaders = loaders
        self._refresh_seconds = refresh_seconds
        self._clock = clock
        self._slots = {name: _Slot() for name in loaders}
        self._lock = threading.Lock()

    def get(self, name: str) -> Any:
        """The runtime of ``name``'s active version; :class:`ModelUnavailable` when none loads."""
        slot = self._slots[name]
        if self._clock() - slot.checked_at >= self._refresh_seconds:
            self.refresh(name)
        if slot.loaded is None:
            raise ModelUnavailable(
                f"model {name!r} has no version that loads; train one (python -m specimen_classify "
                "bootstrap-models) or activate a working version")
        return slot.loaded

    def refresh(self, name: str) -> None:
        """Ask the store for the active version now and load it if it is new."""
        slot = self._slots[name]
        with self._lock:
            slot.checked_at = self._clock()
            version = self.store.active_version(name)
            if version is None or version == slot.version or version == slot.failed_version:
                return
            try:
                directory = self.store.version_dir(name, version)
                loaded = self._loaders[name](directory, ModelVersion(name, version))
            except Exception:
                # Keep serving the version that works; the failure is logged once per version.
                logger.exception("model %s version %s failed to load", name, version)
                slot.failed_version = version
                return
            slot.loaded, slot.version, slot.failed_version = loaded, version, None
            logger.info("model %s version %s loaded", name, version)

    def activate(self, name: str, version: int, *, by: str) -> dict[str, Any]:
        """Load ``version``, and only when it loads make it the active one and serve it here.

        Raises
        ------
        ModelNotFound
            No such model or version (404).
        UnloadableModel
            The version's artifact does not load here (409); nothing changes.
        """
        directory = self.store.version_dir(name, version)
        if name not in self._slots:
            raise UnloadableModel(f"this service serves {sorted(self._slots)}, not {name!r}")
        with self._lock:
            try:
                loaded = self._loaders[name](directory, ModelVersion(name, version))
            except Exception as error:
                raise UnloadableModel(f"version {version} of {name!r} does not load: {error}") from error
            record = self.store.activate(name, version, by=by)
            slot = self._slots[name]
            slot.loaded, slot.version, slot.failed_version = loaded, version, None
            slot.checked_at = self._clock()
        logger.info("model %s version %s activated by %s", name, version, by)
        return record

    def loaded_versions(self) -> dict[str, int | None]:
        """Model name → the version this process serves (None when none loaded)."""
        return {name: slot.version for name, slot in self._slots.items()}
