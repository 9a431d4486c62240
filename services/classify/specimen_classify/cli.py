"""Command line of the classify service (``python -m specimen_classify --help``).

``generate mri|plankton OUT_DIR`` writes a generated training set laid out as the public sets are
(:mod:`specimen_classify.adapters.datasets`); ``train mri|plankton DATA_DIR --out DIR | --store
DIR [--activate]`` trains a model (:mod:`specimen_classify.training`; needs the ``train``
extra); ``bootstrap-models`` installs or trains, and activates, the default models the store
lacks; ``build-prebuilt-mri`` trains the MRI model the package ships;
``migrate`` and ``sweep-orphans`` look after the scans' database and images
(:mod:`specimen_kit.storage`).
"""

from __future__ import annotations

import argparse
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from specimen_classify.adapters.datasets import generate_mri, generate_plankton
from specimen_classify.adapters.ecotaxa_exports import export_blob_keys
from specimen_classify.adapters.jobs import LANES
from specimen_classify.adapters.migrations import upgrade_database
from specimen_classify.adapters.model_store import ModelStore
from specimen_classify.adapters.project_repository import referenced_blob_keys
from specimen_classify.adapters.scan_imports import import_blob_keys
from specimen_classify.config import ClassifySettings
from specimen_classify.domain import synthetic_mri, synthetic_plankton
from specimen_classify.domain.predictions import MRI_MODEL, PLANKTON_MODEL
from specimen_classify.training.defaults import MRI_SOURCES, PREBUILT_DIR, DefaultTraining, PrebuiltMri
from specimen_kit.logs import configure_logging
from specimen_kit.storage import STORAGE_COMMANDS, add_storage_commands, run_storage_command

logger = logging.getLogger(__name__)


def kept_blob_keys(session: Any) -> set[str]:
    """What ``sweep-orphans`` keeps: every blob a row references, export files and the archives
    of scan imports that may still run a member included."""
    return referenced_blob_keys(session) | export_blob_keys(session) | import_blob_keys(session)

def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m specimen_classify",
                                     description="Specimen classify service tools.")
    commands = parser.add_subparsers(dest="command", required=True)
    add_storage_commands(commands, database_variable="SPECIMEN_CLASSIFY_DATABASE_URL", blobs="scan images")
    generate = commands.add_parser("generate", help="write a synthetic training set")
    kinds = generate.add_subparsers(dest="kind", required=True)
    mri = kinds.add_parser(
        "mri", help="MRI-like slices in yes/ and no/ (the Kaggle brain-tumor layout)",
        description="Write --count tumor slices to OUT_DIR/yes and --count healthy slices to OUT_DIR/no "
                    "(2 x COUNT files in all) and OUT_DIR/metadata.csv.")
    mri.add_argument("out_dir", type=Path)
    mri.add_argument("--count", type=int, required=True,
                     help="slices PER CLASS: COUNT in yes/ and COUNT in no/, so 2 x COUNT files")
    mri.add_argument("--seed", type=int, required=True)
    mri.add_argument("--size", type=int, default=synthetic_mri.DEFAULT_SIZE,
                     help="height and width in pixels (default: %(default)s)")
    plankton = kinds.add_parser("plankton", help="plankton frames, labels.csv and objects/<category>/ crops")
    plankton.add_argument("out_dir", type=Path)
    plankton.add_argument("--frames", type=int, required=True, help="number of frames")
    plankton.add_argument("--seed", type=int, required=True)
    plankton.add_argument("--per-category", type=int, default=synthetic_plankton.DEFAULT_PER_CATEGORY,
                          help="objects of each category per frame (default: %(default)s)")
    plankton.add_argument("--height", type=int, default=synthetic_plankton.DEFAULT_SIDE,
                          help="frame height in pixels (default: %(default)s)")
    plankton.add_argument("--width", type=int, default=synthetic_plankton.DEFAULT_SIDE,
                          help="frame width in pixels (default: %(default)s)")
    _add_heldout_commands(kinds)
    _add_train_commands(commands)
    _add_bootstrap_command(commands)
    _add_build_prebuilt_command(commands)
    _add_worker_command(commands)
    backfill = commands.add_parser(
        "backfill-object-descriptors",
        help="describe the plankton objects and MRI scans stored without a similarity "
             "descriptor (issue 14)",
        description="Record a descriptor-backfill job (one task per frame with undescribed "
                    "objects, one per 100 undescribed scans) and queue it for the workers "
                    "(SPECIMEN_REDIS_URL); with --inline, describe them in this process instead. "
                    "Idempotent.")
    backfill.add_argument("--project", type=int, default=None,
                          help="only this project's objects (and no scans)")
    backfill.add_argument("--inline", action="store_true", help="run here, not on the workers")
    return parser


def _backfill(arguments: argparse.Namespace) -> int:
    from redis import Redis

    from specimen_classify.adapters.descriptor_backfill import (
        describe_frame_objects,
        describe_scans,
        start_backfill,
    )
    from specimen_classify.adapters.jobs import job_queue_of
    from specimen_classify.adapters.object_descriptor_repository import SqlObjectDescriptorRepository
    from specimen_classify.adapters.scan_descriptor_repository import SqlScanDescriptorRepository
    from specimen_classify.domain.plankton.object_similarity import OBJECT_DESCRIPTOR_VERSION
    from specimen_classify.domain.search_vectors import SCAN_DESCRIPTOR_SET_VERSION
    from specimen_kit.blobs import FilesystemBlobStore
    from specimen_kit.database import build_engine, build_sessionmaker

    settings = ClassifySettings()
    engine = build_engine(settings.resolved_database_url)
    try:
        sessions = build_sessionmaker(engine)
        if arguments.inline:
            with sessions() as session:
                frames = [frame for frame, _, _ in SqlObjectDescriptorRepository(session)
                          .undescribed(OBJECT_DESCRIPTOR_VERSION, arguments.project)]
            blobs = FilesystemBlobStore(settings.resolved_blob_dir)
            described = skipped = 0
            for frame in frames:
                done, missed = describe_frame_objects(sessions, blobs, frame, settings.max_image_pixels)
                described, skipped = described + done, skipped + missed
            scans = scans_skipped = 0
            if arguments.project is None:
                with sessions() as session:
                    ids = list(SqlScanDescriptorRepository(session)
                               .undescribed(SCAN_DESCRIPTOR_SET_VERSION))
                if ids:
                    scans, scans_skipped = describe_scans(sessions, blobs, ids[0], ids[-1],
                                                          settings.max_image_pixels)
            logger.info("object descriptors backfilled", extra={
                "frames": len(frames), "objects": described, "skipped": skipped,
                "scans": scans, "scans_skipped": scans_skipped})
            return 0
        if not settings.redis_url:
            logger.error("SPECIMEN_REDIS_URL is unset: no workers to queue the job for; "
                         "run with --inline")
            return 1
        with sessions() as session, session.begin():
            job, tasks = start_backfill(session, created_by=0, project_id=arguments.project)
        queue = job_queue_of(settings, Redis.from_url(settings.redis_url))
        try:
            queue.enqueue(tasks)
        finally:
            queue.connection.close()
        logger.info("descriptor backfill queued", extra={"job_id": job.id, "tasks": len(tasks)})
        return 0
    finally:
        engine.dispose()


def _add_worker_command(commands: Any) -> None:
    worker = commands.add_parser(
        "worker", help="run RQ workers for the jobs (runs, exports, imports, trainings) until SIGTERM",
        description="Run a forking RQ worker on the job queues (SPECIMEN_REDIS_URL, "
                    "SPECIMEN_CLASSIFY_JOBS_QUEUE); SIGTERM finishes the current task first. "
                    "Queues: 'default' (runs, exports, scan imports, backfills) and 'training' "
                    "(trainings: needs the train extra, the trainer image).")
    worker.add_argument("--queue", action="append", dest="queues", default=None, choices=LANES,
                        help="a queue to work on (repeatable; default: all of them)")
    worker.add_argument("--concurrency", type=int, default=None,
                        help="worker processes (default: SPECIMEN_CLASSIFY_WORKER_CONCURRENCY)")
    worker.add_argument("--burst", action="store_true", help="quit once the queues are empty")


def _add_heldout_commands(kinds: Any) -> None:
    """``generate heldout-mri|heldout-plankton``: evaluation sets, never training data."""
    mri = kinds.add_parser(
        "heldout-mri", help="held-out MRI slices in yes/ and no/ (evaluation only, never train on them)",
        description="Write --count tumor slices to OUT_DIR/yes and --count healthy slices to OUT_DIR/no "
                    "from the independently written held-out family (specimen_classify.heldout.mri), "
                    "PNG 8/16-bit and JPEG, and OUT_DIR/metadata.csv.")
    mri.add_argument("out_dir", type=Path)
    mri.add_argument("--count", type=int, required=True, help="slices PER CLASS (2 x COUNT files)")
    mri.add_argument("--seed", type=int, required=True)
    plankton = kinds.add_parser(
        "heldout-plankton", help="held-out plankton vignettes, one folder per class (evaluation only)",
        description="Write --per-class crops of each category to OUT_DIR/<category folder>/ from the "
                    "independently written held-out family (specimen_classify.heldout.plankton), "
                    "and OUT_DIR/metadata.csv.")
    plankton.add_argument("out_dir", type=Path)
    plankton.add_argument("--per-class", type=int, required=True, help="crops of each category")
    plankton.add_argument("--seed", type=int, required=True)


def _generate_heldout(arguments: argparse.Namespace) -> None:
    from specimen_classify.heldout.mri import write_heldout_mri
    from specimen_classify.heldout.plankton import write_heldout_plankton

    if arguments.kind == "heldout-mri":
        written = write_heldout_mri(arguments.out_dir, arguments.count, arguments.seed)
    else:
        written = write_heldout_plankton(arguments.out_dir, arguments.per_class, arguments.seed)
    logger.info("held-out set written", extra={"kind": arguments.kind, "out_dir": str(arguments.out_dir),
                                               "files": written})


def _add_train_commands(commands: Any) -> None:
    train = commands.add_parser("train", help="train a model on a data folder (needs the train extra)")
    models = train.add_subparsers(dest="model", required=True)
    mri = models.add_parser("mri", help="the tumor/healthy CNN from DATA_DIR/yes and DATA_DIR/no")
    mri.add_argument("data_dir", type=Path)
    _add_destination(mri, "model.tflite")
    mri.add_argument("--seed", type=int, default=0, help="split and training seed (default: %(default)s)")
    mri.add_argument("--epochs", type=int, default=None, help="most epochs (default: the trainer's)")
    mri.add_argument("--batch-size", type=int, default=None, help="(default: the trainer's)")
    mri.add_argument("--architecture", choices=("gapmax64", "gap64", "gap128s", "reference"),
                     default="gapmax64",
                     help="gapmax64: 64x64, four conv blocks, global average and max pooling, augmentation "
                          "(default); gap64: the same with average pooling only; gap128s: gap64 on a "
                          "128x128 crop read by a stride-2 5x5 convolution (BENCHMARKS.md); reference: the "
                          "reference design's 32x32 CNN")
    mri.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")
    plankton = models.add_parser("plankton", help="the plankton forest from DATA_DIR/<class>/ crops")
    plankton.add_argument("data_dir", type=Path)
    _add_destination(plankton, "model.onnx")
    plankton.add_argument("--seed", type=int, default=0, help="split and forest seed (default: %(default)s)")
    plankton.add_argument("--calibration", type=Path, default=None,
                          help="crops laid out as DATA_DIR, never trained on, that join the validation "
                          "split to choose the unclear threshold (e.g. another instrument's)")
    plankton.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_destination(command: argparse.ArgumentParser, artifact: str) -> None:
    where = command.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", type=Path, help=f"folder for {artifact}, card.json and plots")
    where.add_argument("--store", type=Path, help="a model store (SPECIMEN_CLASSIFY_MODEL_DIR): the result "
                       "becomes its next version, served once activated")
    command.add_argument("--activate", action="store_true",
                         help="with --store: serve the new version at once (every replica follows)")


def _add_bootstrap_command(commands: Any) -> None:
    defaults = DefaultTraining()
    bootstrap = commands.add_parser(
        "bootstrap-models", help="install (MRI: prebuilt) or train (plankton: generated data), and "
        "activate, the default models the store lacks (make run, the image build and the Kubernetes "
        "Job run it)")
    bootstrap.add_argument("--store", type=Path, default=None,
                           help="the model store (default: the service's SPECIMEN_CLASSIFY_MODEL_DIR)")
    bootstrap.add_argument("--mri-from", choices=MRI_SOURCES, default=defaults.mri_from,
                           help="prebuilt: install the MRI model shipped in the package (seconds); "
                                "generated: train one here on --mri-slices for --mri-epochs (default: "
                                "%(default)s)")
    bootstrap.add_argument("--mri-slices", type=int, default=defaults.mri_slices_per_class,
                           help="with --mri-from generated: slices per class (default: %(default)s)")
    bootstrap.add_argument("--mri-epochs", type=int, default=defaults.mri_epochs,
                           help="with --mri-from generated: most epochs (default: %(default)s)")
    bootstrap.add_argument("--plankton-frames", type=int, default=defaults.plankton_frames,
                           help="generated frames (default: %(default)s)")
    bootstrap.add_argument("--quiet", action="store_true", help="no progress bars")


def _bootstrap(arguments: argparse.Namespace) -> None:
    from specimen_classify.training.defaults import bootstrap_models

    store = ModelStore(arguments.store or ClassifySettings().resolved_model_dir)
    serving = bootstrap_models(store, DefaultTraining(
        mri_slices_per_class=arguments.mri_slices, mri_epochs=arguments.mri_epochs,
        plankton_frames=arguments.plankton_frames, mri_from=arguments.mri_from),
        progress=not arguments.quiet)
    logger.info("default models ready", extra={"store": str(store.root), "serving": serving})


def _add_build_prebuilt_command(commands: Any) -> None:
    build = PrebuiltMri()
    command = commands.add_parser(
        "build-prebuilt-mri", help="train the MRI model shipped in the package (make prebuilt-mri; about "
        "13 minutes on 2 cores), on freshly generated slices")
    command.add_argument("--out", type=Path, default=PREBUILT_DIR / MRI_MODEL,
                         help="where the version folder goes (default: the package's, %(default)s)")
    command.add_argument("--slices", type=int, default=build.slices_per_class,
                         help="generated slices per class (default: %(default)s)")
    command.add_argument("--epochs", type=int, default=build.epochs,
                         help="most epochs (default: %(default)s)")
    command.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")


def _build_prebuilt(arguments: argparse.Namespace) -> None:
    from specimen_classify.training.defaults import build_prebuilt_mri

    build = PrebuiltMri(slices_per_class=arguments.slices, epochs=arguments.epochs)
    card = build_prebuilt_mri(arguments.out, build, progress=not arguments.quiet)
    test = card["metrics"]["test"]  # type: ignore[index]
    logger.info("prebuilt MRI model written", extra={"out_dir": str(arguments.out),
                                                      "test_accuracy": test["accuracy"]})


def _trained_into(arguments: argparse.Namespace, name: str, train: Any) -> Any:
    """Run ``train(out_dir)`` into ``--out``, or into a new version of ``--store``."""
    if arguments.out is not None:
        return train(arguments.out)
    store = ModelStore(arguments.store)
    staged = store.staging_dir()
    try:
        card = train(staged)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    version = store.register(name, staged, activate=arguments.activate, by="cli")
    logger.info("model registered", extra={"model": name, "version": version, "active": arguments.activate})
    return card


def _train(arguments: argparse.Namespace) -> None:
    if arguments.model == "mri":
        # Imported here: TensorFlow loads only when a model is trained.
        from specimen_classify.training import mri as mri_training

        card = _trained_into(arguments, MRI_MODEL, lambda out: mri_training.train_mri(
            arguments.data_dir, out, seed=arguments.seed, architecture=arguments.architecture,
            epochs=arguments.epochs or mri_training.DEFAULT_EPOCHS,
            batch_size=arguments.batch_size or mri_training.DEFAULT_BATCH_SIZE,
            progress=not arguments.quiet))
        test = card["metrics"]["test"]
        logger.info("MRI model written", extra={
            "out_dir": str(arguments.out or arguments.store), "test_accuracy": test["accuracy"],
            "test_balanced_accuracy": test["balanced_accuracy"], "test_auc": test["roc"]["auc"]})
    elif arguments.model == "plankton":
        from specimen_classify.training.plankton import train_plankton

        card = _trained_into(arguments, PLANKTON_MODEL, lambda out: train_plankton(
            arguments.data_dir, out, seed=arguments.seed, progress=not arguments.quiet,
            calibration_dir=arguments.calibration))
        logger.info("plankton model written", extra={
            "out_dir": str(arguments.out or arguments.store),
            "test_balanced_accuracy": card["metrics"]["test"]["balanced_accuracy"],
            "unclear_threshold": card["unclear_threshold"],
            "coverage": card["metrics"]["test_with_unclear"]["coverage"]})


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; returns the process exit status (2 for bad arguments)."""
    parser = _parser()
    arguments = parser.parse_args(argv)
    configure_logging("classify", "INFO")
    if arguments.command in STORAGE_COMMANDS:
        settings = ClassifySettings()
        return run_storage_command(arguments, database_url=settings.resolved_database_url,
                                   blob_dir=settings.resolved_blob_dir, upgrade=upgrade_database,
                                   referenced_keys=kept_blob_keys)
    if arguments.command == "backfill-object-descriptors":
        return _backfill(arguments)
    if arguments.command == "worker":
        from specimen_classify.adapters.worker import run_worker

        return run_worker(ClassifySettings(), queues=arguments.queues, burst=arguments.burst,
                          concurrency=arguments.concurrency)
    try:
        if arguments.command == "train":
            _train(arguments)
        elif arguments.command == "bootstrap-models":
            _bootstrap(arguments)
        elif arguments.command == "build-prebuilt-mri":
            _build_prebuilt(arguments)
        elif arguments.kind in ("heldout-mri", "heldout-plankton"):
            _generate_heldout(arguments)
        elif arguments.kind == "mri":
            written = generate_mri(arguments.out_dir, arguments.count, arguments.seed, arguments.size)
            logger.info("synthetic MRI slices written", extra={"out_dir": str(arguments.out_dir),
                                                                "files": written})
        else:
            objects = generate_plankton(arguments.out_dir, arguments.frames, arguments.seed,
                                        arguments.per_category, arguments.height, arguments.width)
            logger.info("synthetic plankton frames written", extra={
                "out_dir": str(arguments.out_dir), "frames": arguments.frames, "objects": objects})
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))
    return 0

