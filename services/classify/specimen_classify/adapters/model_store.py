"""The model store: versioned artifacts with their cards, and which version serves.

Layout under the store's root (a shared volume when there are replicas)::

    <name>/<version>/card.json            the model card (metrics, split, libraries, ...)
    <name>/<version>/model.tflite|.onnx   the artifact, loaded only from here
    <name>/<version>/*.png                the card's plots
    <name>/active.json                    {"version", "activated_at", "activated_by"}
    .staging/<random>/                    a version being written by the trainer

A version directory appears whole or not at all: the trainer writes into a staging directory
on the same file system and :meth:`ModelStore.register` renames it to the next free number.
``active.json`` is replaced atomically. Without it the newest version serves, so a fresh store
needs no activation step.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from specimen_classify.domain.errors import ModelNotFound
from specimen_kit.timestamps import rfc3339, utc_now

CARD_FILE = "card.json"
ACTIVE_FILE = "active.json"
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_PLOT = re.compile(r"[a-z0-9_]+\.png")
_STAGING = ".staging"


def write_json_atomically(path: Path, document: dict[str, Any],
                          default: Callable[[Any], Any] | None = None) -> None:
    """Write ``document`` as indented JSON with sorted keys: a reader sees the old or the new file.

    The file is readable by all (0644): the trainer and the serving pods may run as different
    users. NaN and infinity are refused (not JSON); ``default`` converts other types.
    """
    text = json.dumps(document, indent=2, sort_keys=True, allow_nan=False, default=default) + "\n"
    fd, temporary = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class ModelStore:
    """Model versions as directories of one root; see the module docstring for the layout."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _model_dir(self, name: str) -> Path:
        if not _NAME.fullmatch(name):
            raise ModelNotFound(f"there is no model named {name!r}")
        return self.root / name

    def names(self) -> list[str]:
        """Models with at least one version, sorted."""
        if not self.root.is_dir():
            return []
        named = (p.name for p in self.root.iterdir() if _NAME.fullmatch(p.name))
        return sorted(name for name in named if self.versions(name))

    def versions(self, name: str) -> list[int]:
        """Version numbers of ``name``, ascending; empty when there are none."""
        model_dir = self._model_dir(name)
        if not model_dir.is_dir():
            return []
        complete = (p for p in model_dir.iterdir() if p.name.isdigit() and (p / CARD_FILE).is_file())
        return sorted(int(p.name) for p in complete)

    def require_versions(self, name: str) -> list[int]:
        """Like :meth:`versions`, but :class:`ModelNotFound` when the model has none."""
        versions = self.versions(name)
        if not versions:
            raise ModelNotFound(f"there is no model named {name!r}")
        return versions

    def version_dir(self, name: str, version: int) -> Path:
        """The directory of one version; :class:`ModelNotFound` when it does not exist."""
        path = self._model_dir(name) / str(version)
        if not (path / CARD_FILE).is_file():
            known = self.versions(name)
            if not known:
                raise ModelNotFound(f"there is no model named {name!r}")
            raise ModelNotFound(f"model {name!r} has no version {version}; it has {known}")
        return path

    def card(self, name: str, version: int) -> dict[str, Any]:
        card: dict[str, Any] = json.loads((self.version_dir(name, version) / CARD_FILE).read_text("utf-8"))
        return card

    def plot(self, name: str, version: int, file_name: str) -> Path:
        """A PNG plot of a version's card (``confusion_matrix.png``, ``roc.png``)."""
        path = self.version_dir(name, version) / file_name
        if not _PLOT.fullmatch(file_name) or not path.is_file():
            raise ModelNotFound(f"model {name!r} version {version} has no plot {file_name!r}")
        return path

    def activation(self, name: str) -> dict[str, Any] | None:
        """What ``active.json`` says, or None when no version was activated explicitly."""
        try:
            record: dict[str, Any] = json.loads((self._model_dir(name) / ACTIVE_FILE).read_text("utf-8"))
        except FileNotFoundError:
            return None
        return record

    def active_version(self, name: str) -> int | None:
        """The version that serves: the activated one, else the newest; None when there is none."""
        record = self.activation(name)
        if record is not None and (self._model_dir(name) / str(record["version"]) / CARD_FILE).is_file():
            return int(record["version"])
        versions = self.versions(name)
        return versions[-1] if versions else None

    def activate(self, name: str, version: int, *, by: str) -> dict[str, Any]:
        """Make ``version`` the serving one; every replica picks it up on its next refresh."""
        self.version_dir(name, version)
        record = {"version": version, "activated_at": rfc3339(utc_now()), "activated_by": by}
        write_json_atomically(self._model_dir(name) / ACTIVE_FILE, record)
        return record

    def staging_dir(self) -> Path:
        """A new empty directory for the trainer to write one version into."""
        staging = self.root / _STAGING
        staging.mkdir(parents=True, exist_ok=True)
        staged = Path(tempfile.mkdtemp(dir=staging))
        # Readable by all, as the version it becomes: the serving pods may run as another user.
        staged.chmod(0o755)
        return staged

    def register(self, name: str, staged: Path, *, activate: bool, by: str) -> int:
        """Move a staged version into place under the next free number and return that number.

        The staged directory must hold a ``card.json``; its ``name`` and ``version`` are set here.
        Two trainers registering at once get different numbers (``rename`` onto an existing
        directory fails and the next number is tried).
        """
        card_path = staged / CARD_FILE
        card: dict[str, Any] = json.loads(card_path.read_text("utf-8"))
        model_dir = self._model_dir(name)
        model_dir.mkdir(parents=True, exist_ok=True)
        version = (self.versions(name) or [0])[-1] + 1
        while True:
            card.update(name=name, version=version)
            write_json_atomically(card_path, card)
            try:
                os.rename(staged, model_dir / str(version))
                break
            except OSError:
                if not (model_dir / str(version)).exists():
                    raise
                version += 1
        if activate:
            self.activate(name, version, by=by)
        return version
