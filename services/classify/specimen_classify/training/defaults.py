"""The default models of a fresh suite, made from generated data when the store has none.

``python -m specimen_classify bootstrap-models`` runs this before the services start (``make
run``, the image build, a Kubernetes Job). It fills in only what is missing, so it is cheap once
the store holds both models, and it holds a file lock on the store so that two bootstraps (two
replicas' init containers, say) never make the same model twice.

The MRI network needs far more slices and epochs to generalise than a few minutes on two cores
allow (BENCHMARKS.md, issue 11), so its default is **prebuilt**: trained by
``python -m specimen_classify build-prebuilt-mri`` (``make prebuilt-mri``, about 13 minutes on 2
cores) on the generator of this source tree, shipped in the package (``specimen_classify/prebuilt/``)
and copied into the store as its first version. ``--mri-from generated`` trains it in the
bootstrap instead, on :class:`DefaultTraining`'s smaller budget. The plankton forest trains in
under a minute and is always trained here.
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
PREBUILT_DIR = Path(__file__).resolve().parent.parent / "prebuilt"
"""Shipped model versions, one folder per model name (``prebuilt/mri-tumor/``)."""
MRI_SOURCES = ("prebuilt", "generated")


@dataclass(frozen=True)
class PrebuiltMri:
    """How the shipped MRI model is made (``build-prebuilt-mri``): what a bootstrap cannot afford.

    4000 slices per class, 80 epochs, ``gapmax64``: 0.87 on the held-out generator family (99.3 %
    answered; 0.85 before the generator drew smooth brains, session 12, and 0.86 before it cut 30 %
    of its brains from the MNI template, session 13), where ``gap64`` gave 0.83 and the bootstrap's
    1500 slices and 70 epochs 0.77; the 128-pixel ``gap128s`` on 8000 slices fits its own family
    better (0.96 against 0.94) and the held-out one worse (0.79): BENCHMARKS.md, issue 11, sessions
    7, 11, 12 and 13. About 13 minutes on 2 idle cores (28 with other work beside it).
    """

    slices_per_class: int = 4000
    epochs: int = 80
    architecture: str = "gapmax64"
    seed: int = 0


@dataclass(frozen=True)
class DefaultTraining:
    """How much generated data the default models see, and for how long they train.

    MRI (with ``mri_from="generated"`` only; the default installs the prebuilt model): 1500
    slices per class and 70 epochs keep the whole bootstrap near 4 minutes on 2 idle cores (497
    CPU seconds, both models); ``gap64``, the default then, was still improving at its last
    epoch (own test split 0.90, the held-out generator family 0.77: BENCHMARKS.md, issue 11).
    The tests use a much smaller setting to stay fast.
    """

    mri_slices_per_class: int = 1500
    mri_epochs: int = 70
    plankton_frames: int = 20
    seed: int = 0
    mri_from: str = "prebuilt"
    """``prebuilt``: copy the shipped model (:data:`PREBUILT_DIR`); ``generated``: train it here."""

    def __post_init__(self) -> None:
        if self.mri_from not in MRI_SOURCES:
            raise ValueError(f"mri_from={self.mri_from!r} is unknown; use one of {', '.join(MRI_SOURCES)}")


def generated_mri_provenance(seed: int, slices_per_class: int) -> dict[str, object]:
    """What the default MRI model's card says about its data: which generator, version and seed
    (no path: the slices were written to a scratch folder, gone once the model is trained)."""
    return {"kind": "generated", "path": None, "generator": synthetic_mri.__name__,
            "generator_version": f"{synthetic_mri.GENERATOR}, specimen-classify {_package_version()}",
            "seed": seed, "slices_per_class": slices_per_class,
            "size": synthetic_mri.DEFAULT_SIZE, "writer": "specimen_classify.adapters.datasets.generate_mri"}


def prebuilt_model_dir(name: str) -> Path | None:
    """The shipped version of model ``name``, or None when the package holds none."""
    folder = PREBUILT_DIR / name
    return folder if (folder / "card.json").is_file() else None


def build_prebuilt_mri(out_dir: Path, build: PrebuiltMri = PrebuiltMri(), *,
                       progress: bool = True) -> dict[str, object]:
    """Generate :class:`PrebuiltMri`'s slices and train the shipped MRI model into ``out_dir``.

    ``out_dir`` is replaced only once the new model is whole (the trainer's export check passed).
    Returns the card.
    """
    from specimen_classify.training.mri import train_mri

    with tempfile.TemporaryDirectory(prefix="specimen-prebuilt-") as scratch:
        work = Path(scratch)
        generate_mri(work / "mri", build.slices_per_class, build.seed)
        card: dict[str, object] = train_mri(
            work / "mri", work / "model", seed=build.seed, epochs=build.epochs,
            architecture=build.architecture, progress=progress,
            provenance=generated_mri_provenance(build.seed, build.slices_per_class))
        shutil.rmtree(out_dir, ignore_errors=True)
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(work / "model", out_dir)
    return card


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


def _default_mri(store: ModelStore, training: DefaultTraining, work: Path, *, progress: bool) -> None:
    prebuilt = prebuilt_model_dir(MRI_MODEL) if training.mri_from == "prebuilt" else None
    if prebuilt is not None:
        logger.info("installing the prebuilt %s model", MRI_MODEL)
        _train_into(store, MRI_MODEL, lambda out: shutil.copytree(prebuilt, out, dirs_exist_ok=True))
        return
    if training.mri_from == "prebuilt":
        logger.warning("no prebuilt %s model in %s; training one on generated slices", MRI_MODEL,
                       PREBUILT_DIR)
    # Imported here: TensorFlow loads only when a model trains (the CLI imports this module).
    from specimen_classify.training.mri import train_mri

    logger.info("training the default %s model on generated slices", MRI_MODEL)
    generate_mri(work / "mri", training.mri_slices_per_class, training.seed)
    _train_into(store, MRI_MODEL, lambda out: train_mri(
        work / "mri", out, seed=training.seed, epochs=training.mri_epochs,
        provenance=generated_mri_provenance(training.seed, training.mri_slices_per_class),
        progress=progress))


def bootstrap_models(store: ModelStore, training: DefaultTraining = DefaultTraining(), *,
                     progress: bool = True) -> dict[str, int]:
    """Install or train, and activate, each default model the store lacks; name → version now serving."""
    with _store_lock(store), tempfile.TemporaryDirectory(prefix="specimen-bootstrap-") as scratch:
        work = Path(scratch)
        if not store.versions(MRI_MODEL):
            _default_mri(store, training, work, progress=progress)
        if not store.versions(PLANKTON_MODEL):
            from specimen_classify.training.plankton import train_plankton

            logger.info("training the default %s model on generated frames", PLANKTON_MODEL)
            generate_plankton(work / "plankton", training.plankton_frames, training.seed)
            generate_calibration(work / "plankton-calibration", training.plankton_frames, training.seed)
            _train_into(store, PLANKTON_MODEL, lambda out: train_plankton(
                work / "plankton" / "objects", out, seed=training.seed, progress=progress,
                calibration_dir=work / "plankton-calibration"))
    serving = {name: store.active_version(name) for name in (MRI_MODEL, PLANKTON_MODEL)}
    return {name: version for name, version in serving.items() if version is not None}

