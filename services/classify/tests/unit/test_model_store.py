from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from specimen_classify.adapters.model_registry import LoadedModels
from specimen_classify.adapters.model_store import ModelStore
from specimen_classify.domain.errors import ModelNotFound, ModelUnavailable, UnloadableModel
from specimen_classify.domain.predictions import ModelVersion


def _stage(store: ModelStore, **card: Any) -> Path:
    staged = store.staging_dir()
    (staged / "card.json").write_text(json.dumps({"task": "test", **card}))
    (staged / "weights.txt").write_text(str(card.get("weight", 0)))
    return staged


def _read_weight(directory: Path, version: ModelVersion) -> tuple[ModelVersion, str]:
    text = (directory / "weights.txt").read_text()
    if text == "broken":
        raise ValueError("the artifact is corrupt")
    return version, text


class TestModelStore:
    def test_registered_versions_are_numbered_from_one_and_the_newest_serves(self, tmp_path: Path) -> None:
        store = ModelStore(tmp_path)

        first = store.register("mri-tumor", _stage(store, weight=1), activate=False, by="test")
        second = store.register("mri-tumor", _stage(store, weight=2), activate=False, by="test")

        assert (first, second) == (1, 2)
        assert store.versions("mri-tumor") == [1, 2]
        assert store.active_version("mri-tumor") == 2
        assert store.card("mri-tumor", 1) == {"task": "test", "weight": 1, "name": "mri-tumor", "version": 1}
        assert not any((tmp_path / ".staging").iterdir())

    def test_a_registered_version_and_its_card_are_readable_by_other_users(self, tmp_path: Path) -> None:
        store = ModelStore(tmp_path)
        version = store.register("plankton", _stage(store), activate=True, by="test")

        version_dir = store.version_dir("plankton", version)
        assert version_dir.stat().st_mode & 0o777 == 0o755
        assert (tmp_path / "plankton" / "active.json").stat().st_mode & 0o777 == 0o644

    def test_an_activated_version_serves_over_a_newer_one(self, tmp_path: Path) -> None:
        store = ModelStore(tmp_path)
        store.register("plankton", _stage(store), activate=True, by="bootstrap")
        store.register("plankton", _stage(store), activate=False, by="test")

        record = store.activation("plankton")

        assert store.active_version("plankton") == 1
        assert record is not None and (record["version"], record["activated_by"]) == (1, "bootstrap")

    def test_unknown_model_version_and_plot_are_model_not_found(self, tmp_path: Path) -> None:
        store = ModelStore(tmp_path)
        store.register("plankton", _stage(store), activate=False, by="test")

        with pytest.raises(ModelNotFound, match="no model named 'nothing'"):
            store.require_versions("nothing")
        with pytest.raises(ModelNotFound, match=r"has no version 7; it has \[1\]"):
            store.card("plankton", 7)
        with pytest.raises(ModelNotFound, match="no plot"):
            store.plot("plankton", 1, "../card.json")
        with pytest.raises(ModelNotFound):
            store.versions("../etc")

    def test_a_half_written_version_without_its_card_is_not_listed(self, tmp_path: Path) -> None:
        store = ModelStore(tmp_path)
        (tmp_path / "plankton" / "1").mkdir(parents=True)

        assert store.versions("plankton") == []
        assert store.names() == []
        assert store.active_version("plankton") is None


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class TestLoadedModels:
    def test_serves_the_active_version_and_follows_a_new_activation_after_the_refresh_interval(
        self, tmp_path: Path
    ) -> None:
        store, clock = ModelStore(tmp_path), Clock()
        store.register("plankton", _stage(store, weight=1), activate=True, by="test")
        store.register("plankton", _stage(store, weight=2), activate=False, by="test")
        models = LoadedModels(store, {"plankton": _read_weight}, refresh_seconds=2.0, clock=clock)
        assert models.get("plankton") == (ModelVersion("plankton", 1), "1")

        ModelStore(tmp_path).activate("plankton", 2, by="another replica")
        clock.now = 1.0
        before_refresh = models.get("plankton")
        clock.now = 2.5
        after_refresh = models.get("plankton")

        assert before_refresh == (ModelVersion("plankton", 1), "1")
        assert after_refresh == (ModelVersion("plankton", 2), "2")

    def test_activating_here_switches_at_once(self, tmp_path: Path) -> None:
        store = ModelStore(tmp_path)
        store.register("plankton", _stage(store, weight=1), activate=True, by="test")
        store.register("plankton", _stage(store, weight=2), activate=False, by="test")
        models = LoadedModels(store, {"plankton": _read_weight}, refresh_seconds=3600, clock=Clock())
        models.get("plankton")

        record = models.activate("plankton", 2, by="5")

        assert (record["version"], record["activated_by"]) == (2, "5")
        assert models.get("plankton")[1] == "2"
        assert models.loaded_versions() == {"plankton": 2}

    def test_a_version_that_does_not_load_is_refused_and_the_serving_one_stays(self, tmp_path: Path) -> None:
        store = ModelStore(tmp_path)
        store.register("plankton", _stage(store, weight=1), activate=True, by="test")
        store.register("plankton", _stage(store, weight="broken"), activate=False, by="test")
        models = LoadedModels(store, {"plankton": _read_weight}, refresh_seconds=0, clock=Clock())
        models.get("plankton")

        with pytest.raises(UnloadableModel, match="version 2 of 'plankton' does not load: the artifact is"):
            models.activate("plankton", 2, by="5")

        assert store.active_version("plankton") == 1
        assert models.get("plankton")[1] == "1"

    def test_an_activated_version_that_another_replica_cannot_load_leaves_the_old_one_serving(
        self, tmp_path: Path
    ) -> None:
        store = ModelStore(tmp_path)
        store.register("plankton", _stage(store, weight=1), activate=True, by="test")
        store.register("plankton", _stage(store, weight="broken"), activate=False, by="test")
        models = LoadedModels(store, {"plankton": _read_weight}, refresh_seconds=0, clock=Clock())
        models.get("plankton")

        store.activate("plankton", 2, by="a replica with another runtime")

        assert models.get("plankton")[1] == "1"
        assert models.loaded_versions() == {"plankton": 1}

    def test_an_empty_store_is_model_unavailable_until_a_version_appears(self, tmp_path: Path) -> None:
        store = ModelStore(tmp_path)
        models = LoadedModels(store, {"plankton": _read_weight}, refresh_seconds=0, clock=Clock())

        with pytest.raises(ModelUnavailable, match="bootstrap-models"):
            models.get("plankton")
        store.register("plankton", _stage(store, weight=1), activate=False, by="test")

        assert models.get("plankton")[1] == "1"
