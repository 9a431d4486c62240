"""The ``plankton-training`` job kind: a new forest version from the validated objects of projects.

One task per training. It reads the projects' validated objects (their stored measurements,
:mod:`specimen_classify.adapters.training_sets`), keeps the categories with enough of them
(:func:`~specimen_classify.domain.plankton.trainings.plan_training`), fits, exports and checks
the forest exactly as ``train plankton`` does
(:func:`~specimen_classify.training.plankton.fit_forest_version`), writes its card with the
provenance (``training_data``: the projects, their object counts, the job) and registers the
version in the model store **without activating it**: a moderator compares its card with the
serving one's and activates it (``POST /models/plankton/versions/{v}/activate``).

This module lives with the trainers because the task imports scikit-learn, skl2onnx and
matplotlib (the import-linter contract keeps them out of ``api``, ``domain`` and
``adapters``); it imports them only when a training runs, so a worker without the ``train``
extra still starts (and fails a training with the reason). A task run again after its worker
was lost finds the version it registered (the card names the job) instead of adding another.
"""

from __future__ import annotations

import logging
import shutil
from typing import Any

import numpy as np

from specimen_classify.adapters.jobs import JobRecord, TaskContext, TaskOutcome, TaskRecord, register_job_kind
from specimen_classify.adapters.model_store import ModelStore
from specimen_classify.adapters.training_sets import (
    TRAINING_KIND,
    total_counts,
    validated_counts,
    validated_objects,
)
from specimen_classify.domain.errors import TrainingDataInsufficient
from specimen_classify.domain.plankton.trainings import plan_training
from specimen_classify.domain.predictions import PLANKTON_MODEL
from specimen_imaging.measurements import feature_names_of
from specimen_kit.errors import Problem

logger = logging.getLogger(__name__)


class TrainerMissing(Problem):
    """The worker that took a training has no trainer installed (the ``train`` extra)."""

    status = 503
    title = "Trainer missing"
    slug = "trainer-missing"


def _registered_by(store: ModelStore, job_id: int) -> int | None:
    """The version a training job already registered (a task run twice), if any."""
    for version in store.versions(PLANKTON_MODEL):
        provenance = store.card(PLANKTON_MODEL, version).get("training_data", {})
        if isinstance(provenance, dict) and provenance.get("job_id") == job_id:
            return version
    return None


def _result(version: int) -> dict[str, Any]:
    return {"model": PLANKTON_MODEL, "version": version, "activated": False,
            "version_url": f"/api/v1/models/{PLANKTON_MODEL}/versions/{version}",
            "activate_url": f"/api/v1/models/{PLANKTON_MODEL}/versions/{version}/activate"}


def run_training(context: TaskContext, job: JobRecord, task: TaskRecord) -> TaskOutcome:
    """Train, card and register a new plankton forest version (a ``plankton-training`` task)."""
    params = job.params
    store = ModelStore(context.settings.resolved_model_dir)
    done = _registered_by(store, job.id)
    if done is not None:
        return TaskOutcome(result=_result(done))
    project_ids = [int(p) for p in params["project_ids"]]
    feature_set = str(params["feature_set_version"])
    with context.session() as session:
        per_project = validated_counts(session, project_ids, feature_set)
        plan = plan_training(total_counts(per_project), int(params["min_per_class"]))
        objects = list(validated_objects(session, project_ids, feature_set, plan.categories))
    names = feature_names_of(feature_set)
    usable = [o for o in objects if all(name in o.features for name in names)]
    index = {category: i for i, category in enumerate(plan.categories)}
    features = np.array([[o.features[name] for name in names] for o in usable], dtype=np.float64)
    targets = np.array([index[o.category] for o in usable], dtype=np.int64)
    context.checkpoint()
    try:
        from specimen_classify.training.plankton import fit_forest_version
    except ImportError as error:
        raise TrainerMissing(f"this worker cannot train ({error}); run trainings on a worker with the "
                             "`train` extra (the trainer image)") from error
    provenance = {
        "kind": "projects",
        "summary": f"{len(usable)} validated objects of projects {project_ids} "
                   f"(job {job.id}), {len(plan.categories)} categories",
        "job_id": job.id,
        "projects": [{"id": p, "validated_objects": {c: n for c, n in sorted(per_project[p].items())
                                                     if c in index}} for p in project_ids],
        "objects": len(usable),
        "per_category": {c: int((targets == i).sum()) for c, i in index.items()},
        "left_out_categories": plan.left_out,
        "min_per_class": int(params["min_per_class"]),
    }
    staged = store.staging_dir()
    try:
        fit_forest_version(
            features, targets, plan.categories, np.arange(len(usable), dtype=np.int64),
            [f"object_{o.id}" for o in usable], staged, seed=int(params["seed"]),
            n_estimators=int(params["n_estimators"]), feature_set=feature_set,
            groups_method="none: each validated object is a split unit of its own",
            data_section={"source": "validated objects of plankton projects", "projects": project_ids,
                          "counts": provenance["per_category"],
                          "skipped": {"count": len(objects) - len(usable),
                                      "reason": "measurements missing a feature of the set"}},
            extra_card={"training_data": provenance})
        context.checkpoint()
    except ValueError as error:  # too few objects for the three splits
        shutil.rmtree(staged, ignore_errors=True)
        raise TrainingDataInsufficient(f"the forest could not be trained: {error}") from error
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    version = store.register(PLANKTON_MODEL, staged, activate=False, by=f"training job {job.id}")
    logger.info("plankton version trained from projects",
                extra={"job": job.id, "version": version, "objects": len(usable)})
    return TaskOutcome(objects=len(usable), result=_result(version))


register_job_kind(TRAINING_KIND, run_training)
