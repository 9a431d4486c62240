"""Training a plankton forest from projects: which validated objects take part.

EcoTaxa's prediction flow: a person validates objects, and a new forest learns from the
validated ones. Pure rules over counts:

- Only **validated** objects count (``predicted`` and ``dubious`` are the forest's word or a
  doubt, not a person's), measured with the feature set the trainer uses.
- A category takes part with at least ``min_per_class`` validated objects (fewer cannot fill a
  training, a validation and a test split); the others are left out and named in the card.
- ``unclear`` is never a category to learn: it is the forest's own answer below its threshold
  (the trainer adds it itself, and refused it as a duplicate label). Objects validated as
  ``unclear`` are left out with the small categories.
- A forest needs **two** categories that take part; otherwise
  :class:`~specimen_classify.domain.errors.TrainingDataInsufficient` (422) says which categories
  have how many and how many are needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from specimen_classify.domain.errors import TrainingDataInsufficient
from specimen_classify.domain.predictions import UNCLEAR

MIN_CATEGORIES = 2


@dataclass(frozen=True)
class TrainingPlan:
    """The categories a training learns (sorted) and those left out, with their counts."""

    categories: tuple[str, ...]
    counts: dict[str, int]
    left_out: dict[str, int]

    @property
    def objects(self) -> int:
        return sum(self.counts[category] for category in self.categories)


def plan_training(counts: Mapping[str, int], min_per_class: int) -> TrainingPlan:
    """The categories with at least ``min_per_class`` validated objects (never ``unclear``).

    Raises
    ------
    TrainingDataInsufficient
        Fewer than two such categories.

    Examples
    --------
    >>> plan = plan_training({"copepod": 12, "diatom": 10, "egg": 2}, 10)
    >>> plan.categories, plan.left_out, plan.objects
    (('copepod', 'diatom'), {'egg': 2}, 22)
    >>> plan_training({"copepod": 12, "diatom": 10, "unclear": 30}, 10).left_out
    {'unclear': 30}
    """
    kept = tuple(sorted(c for c, n in counts.items() if n >= min_per_class and c != UNCLEAR))
    left_out = {c: n for c, n in sorted(counts.items()) if c not in kept}
    if len(kept) < MIN_CATEGORIES:
        found = ", ".join(f"{c}: {n}" for c, n in sorted(counts.items())) or "none"
        raise TrainingDataInsufficient(
            f"a forest needs at least {MIN_CATEGORIES} categories with {min_per_class} or more "
            f"validated objects each; the projects have {found}. Validate more objects "
            "(PATCH /api/v1/projects/{id}/objects) or add projects",
            counts=dict(sorted(counts.items())), min_per_class=min_per_class)
    return TrainingPlan(kept, dict(counts), left_out)
