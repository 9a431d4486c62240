"""The validated objects of plankton projects, as a training reads them, and the training job's
record (``POST /models/plankton/trainings``).

The training itself runs on a worker (:mod:`specimen_classify.training.project_training`, the
``plankton-training`` job kind, where scikit-learn may be imported); this module only reads rows
and records the job, so the serving process never imports the trainer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from specimen_classify.adapters.jobs import JobRecord, TaskSpec, create_job
from specimen_classify.adapters.tables import PlanktonObjectRow
from specimen_classify.domain.jobs import JobKind
from specimen_classify.domain.plankton.trainings import TrainingPlan, plan_training

TRAINING_KIND: JobKind = "plankton-training"
VALIDATED = "validated"


@dataclass(frozen=True)
class ValidatedObject:
    """One validated object: where it is, its category and its measurements."""

    id: int
    project_id: int
    frame_id: int
    category: str
    features: dict[str, float]


def validated_counts(session: Session, project_ids: Sequence[int],
                     feature_set: str) -> dict[int, dict[str, int]]:
    """Project → category → validated objects measured with ``feature_set``."""
    rows = session.execute(
        select(PlanktonObjectRow.project_id, PlanktonObjectRow.category, func.count())
        .where(PlanktonObjectRow.project_id.in_(project_ids), PlanktonObjectRow.status == VALIDATED,
               PlanktonObjectRow.feature_set_version == feature_set)
        .group_by(PlanktonObjectRow.project_id, PlanktonObjectRow.category))
    counts: dict[int, dict[str, int]] = {project_id: {} for project_id in project_ids}
    for project_id, category, count in rows:
        counts[project_id][category] = int(count)
    return counts


def total_counts(per_project: dict[int, dict[str, int]]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for categories in per_project.values():
        for category, count in categories.items():
            totals[category] = totals.get(category, 0) + count
    return totals


def validated_objects(session: Session, project_ids: Sequence[int], feature_set: str,
                      categories: Sequence[str], batch: int = 5000) -> Iterator[ValidatedObject]:
    """The validated objects of ``categories`` in the projects, by id."""
    query = (select(PlanktonObjectRow.id, PlanktonObjectRow.project_id, PlanktonObjectRow.frame_id,
                    PlanktonObjectRow.category, PlanktonObjectRow.features)
             .where(PlanktonObjectRow.project_id.in_(project_ids), PlanktonObjectRow.status == VALIDATED,
                    PlanktonObjectRow.feature_set_version == feature_set,
                    PlanktonObjectRow.category.in_(categories))
             .order_by(PlanktonObjectRow.id))
    for row in session.execute(query.execution_options(yield_per=batch)):
        yield ValidatedObject(row.id, row.project_id, row.frame_id, row.category, json.loads(row.features))


def start_plankton_training(session: Session, caller: Any, project_ids: Sequence[int], *, seed: int,
                            n_estimators: int, min_per_class: int,
                            feature_set: str) -> tuple[JobRecord, list[int], TrainingPlan]:
    """Check that the projects hold enough validated objects now, and record the training job
    (flushed, not committed; one task). The worker checks again: objects may change meanwhile.

    Raises
    ------
    TrainingDataInsufficient
        Fewer than two categories with ``min_per_class`` validated objects.
    """
    ids = sorted(set(project_ids))
    plan = plan_training(total_counts(validated_counts(session, ids, feature_set)), min_per_class)
    params = {"project_ids": ids, "seed": seed, "n_estimators": n_estimators,
              "min_per_class": min_per_class, "feature_set_version": feature_set}
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()
    job, task_ids = create_job(session, kind=TRAINING_KIND, project_id=None, created_by=caller.user_id,
                               hospital=caller.hospital, params=params, params_hash=digest,
                               tasks=[TaskSpec(item="training")])
    return job, task_ids, plan
