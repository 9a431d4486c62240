"""The default models of a fresh suite: trained on generated data when the store has none.

``python -m specimen_classify bootstrap-models`` runs this before the services start (``make
run``, the image build, a Kubernetes Job). It trains only what is missing, so it is cheap once
the store holds both models, and it holds a file lock on the store so that two bootstraps (two
replicas' init containers, say) never train the same model twice.
"""

from __future__ import annotations

import fcntl
import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from specimen_classify.adapters.datasets import generate_calibration, generate_mri, generate_plankton
from specimen_classify.adapters.model_store import ModelStore
from specimen_classify.domain import synthetic_mri
from specimen_classify.domain.predictions import MRI_MODEL, PLANKTON_MODEL

logger = logging.getLogger(__name__)

BOOTSTRAPPED_BY = "bootstrap"


@dataclass(frozen=True)
class DefaultTraining:
    """How much generated data the default models see, and for how long they train.

    MRI: 1500 slices per class and 70 epochs keep the whole bootstrap near 4 minutes on 2 idle
    cores (497 CPU seconds, both models); the network was still improving at its last epoch
    (own test split 0.90, the held-out generator family 0.77: BENCHMARKS.md, issue 11). The
    tests use a much smaller setting to stay fast.
    """

    mri_slices_per_class: int = 1500
    mri_epochs: int = 70
    plankton_frames: int = 20
    seed: int = 0


def generated_mri_provenance(training: DefaultTraining) -> dict[str, object]:
    """What the default MRI model's card says about its data: which generator, version and seed."""
    return {"kind": "generated", "generator": synthetic_mri.__name__,
            "generator_version": f"specimen-classify {_package_version()}",
            "seed": training.seed, "slices_per_class": training.mri_slices_per_class,
            "size": synthetic_mri.DEFAULT_SIZE, "writer": "specimen_classify.adapters.datasets.generate_mri"}


def _package_version() -> str:
    try:
        return metadata.version("specimen-classify")
    except metadata.PackageNotFoundError:
        return "unknown"


@contextmanager
def _store_lock(store: ModelStore) -> Iterator[None]:
    store.root.mkdir(parents=True, exist_ok=True)
    with (store.root / ".bootstrap.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _train_into(store: ModelStore, name: str, train: Callable[[Path], object]) -> None:
    staged = store.staging_dir()
    try:
        train(staged)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    store.register(name, staged, activate=True, by=BOOTSTRAPPED_BY)


def bootstrap_models(store: ModelStore, training: DefaultTraining = DefaultTraining(), *,
                     progress: bool = True) -> dict[str, int]:
    """Train and activate each default model the store lacks; name → version now serving."""
    # Imported here: TensorFlow loads only when a model trains (the CLI imports this module).
    from specimen_classify.training.mri import train_mri
    from specimen_classify.training.plankton import train_plankton

    with _store_lock(store), tempfile.TemporaryDirectory(prefix="specimen-bootstrap-") as scratch:
        work = Path(scratch)
        if not store.versions(MRI_MODEL):
            logger.info("training the default %s model on generated slices", MRI_MODEL)
            generate_mri(work / "mri", training.mri_slices_per_class, training.seed)
            _train_into(store, MRI_MODEL, lambda out: train_mri(
                work / "mri", out, seed=training.seed, epochs=training.mri_epochs,
                provenance=generated_mri_provenance(training), progress=progress))
        if not store.versions(PLANKTON_MODEL):
            logger.info("training the default %s model on generated frames", PLANKTON_MODEL)
            generate_plankton(work / "plankton", training.plankton_frames, training.seed)
            generate_calibration(work / "plankton-calibration", training.plankton_frames, training.seed)
            _train_into(store, PLANKTON_MODEL, lambda out: train_plankton(
                work / "plankton" / "objects", out, seed=training.seed, progress=progress,
                calibration_dir=work / "plankton-calibration"))
    serving = {name: store.active_version(name) for name in (MRI_MODEL, PLANKTON_MODEL)}
    return {name: version for name, version in serving.items() if version is not None}

