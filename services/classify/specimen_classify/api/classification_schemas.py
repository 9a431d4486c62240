"""Request and response bodies of ``/classify``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, model_validator

from specimen_classify.domain.plankton.classify import ClassifiedObject
from specimen_classify.domain.predictions import (
    ModelVersion,
    MriPrediction,
    PlanktonModel,
    PlanktonPrediction,
    TrainingData,
)
from specimen_kit.errors import Problem


class ModelRef(BaseModel):
    name: str = Field(examples=["mri-tumor"])
    version: int = Field(examples=[1])

    @classmethod
    def of(cls, version: ModelVersion) -> ModelRef:
        return cls(name=version.name, version=version.version)


class Box(BaseModel):
    """A rectangle of the sent image, rows and columns, max exclusive (as segment's ``bbox``)."""

    min_row: int
    min_col: int
    max_row: int
    max_col: int

    @classmethod
    def of(cls, box: tuple[int, int, int, int]) -> Box:
        return cls(min_row=box[0], min_col=box[1], max_row=box[2], max_col=box[3])


class TrainingDataRef(BaseModel):
    """What the model was trained on, in short (its card has the full provenance)."""

    kind: Literal["generated", "folder", "unknown"] = Field(
        description="`generated`: synthetic slices from Specimen's generator (warn: not real patients); "
                    "`folder`: a labelled image folder; `unknown`: the model's card does not say.",
        examples=["generated"])
    summary: str = Field(examples=["synthetic slices: specimen_classify.domain.synthetic_mri "
                                   "(specimen-classify 0.1.0), seed 0, 1200 per class; not real patients"])

    @classmethod
    def of(cls, data: TrainingData) -> TrainingDataRef:
        return cls(kind=data.kind, summary=data.summary)


class MriModelRef(ModelRef):
    training_data: TrainingDataRef = Field(description="So a client can warn: a model trained on "
                                                       "synthetic slices is not a diagnostic device.")

    @classmethod
    def of_model(cls, version: ModelVersion, training_data: TrainingData) -> MriModelRef:
        return cls(name=version.name, version=version.version,
                   training_data=TrainingDataRef.of(training_data))


class MriAnswer(BaseModel):
    label: Literal["tumor", "healthy", "uncertain"] = Field(
        description="`uncertain` when the slice is out of distribution (`out_of_distribution`): unlike "
                    "the slices the model learned, so it gives no label and no probability.")
    probability: float | None = Field(description="The model's calibrated probability of `label`; null "
                                                   "when `uncertain`.")
    tumor_probability: float | None = Field(description="The model's calibrated probability of *tumor*; "
                                                         "null when `uncertain`.")
    out_of_distribution: bool = Field(
        description="True when the picture fails an image check (colour, aspect, no dark background) "
                    "or `ood_score` is above `ood_threshold`; `label` is then `uncertain`.")
    ood_score: float | None = Field(
        description="Mahalanobis distance of the network's penultimate features to the training slices' "
                    "(nearest class); null for model versions without feature statistics.", examples=[7.4])
    ood_threshold: float | None = Field(
        description="The model's limit on `ood_score` (its card: a percentile of the validation "
                    "slices' scores); null without feature statistics.", examples=[12.9])
    ood_reason: str | None = Field(description="Why the slice is out of distribution; null otherwise.")
    model: MriModelRef
    decision_threshold: float = Field(
        description="The model's tumor probability at or above which `label` is *tumor* (from its "
                    "card, chosen on validation data): `tumor_probability` 0.30 answers *tumor* "
                    "when this is 0.25.", examples=[0.5])
    crop_box: Box = Field(description="Where the brain was found in the sent image; the CNN saw this "
                                      "crop, resized to its input side (64x64 for the default network).")

    @classmethod
    def of(cls, prediction: MriPrediction) -> MriAnswer:
        return cls(label=prediction.label, probability=prediction.probability,
                   tumor_probability=prediction.tumor_probability,
                   out_of_distribution=prediction.out_of_distribution, ood_score=prediction.ood_score,
                   ood_threshold=prediction.ood_threshold, ood_reason=prediction.ood_reason,
                   model=MriModelRef.of_model(prediction.model, prediction.training_data),
                   decision_threshold=prediction.decision_threshold, crop_box=Box.of(prediction.crop_box))


class ItemProblem(BaseModel):
    """Why one item of a batch was not classified (the problem+json members)."""

    type: str
    title: str
    status: int
    detail: str

    @classmethod
    def of(cls, error: Problem) -> ItemProblem:
        return cls(type=f"https://specimen.dev/problems/{error.slug}", title=error.title,
                   status=error.status, detail=error.detail)


class MriBatchItem(BaseModel):
    index: int = Field(description="Position of the image in the request, from 0.")
    filename: str | None
    prediction: MriAnswer | None = Field(description="Null when this image was not classified.")
    problem: ItemProblem | None = Field(description="Why this image was not classified; null otherwise.")


class MriBatchAnswer(BaseModel):
    model: MriModelRef
    decision_threshold: float = Field(description="As in each prediction: the model's tumor "
                                                  "probability at or above which the label is *tumor*.")
    classified: int = Field(description="How many images have a prediction (`uncertain` ones included).")
    results: list[MriBatchItem]


class PlanktonAnswer(BaseModel):
    """The forest's answer for one object."""

    category: str = Field(description="One of the model's classes, or `unclear` when the top "
                                      "probability is below the model's unclear_threshold.")
    probability: float = Field(description="The highest class probability.")
    scores: dict[str, float] = Field(description="Every class's probability; they sum to 1.")

    @classmethod
    def of(cls, prediction: PlanktonPrediction) -> PlanktonAnswer:
        return cls(category=prediction.category, probability=prediction.probability,
                   scores=prediction.scores)


class PlanktonObject(PlanktonAnswer):
    id: int = Field(description="The object's label in the frame (1, 2, … in raster order).")
    bbox: Box
    centroid: tuple[float, float] = Field(description="(row, col)")
    features: dict[str, float] = Field(description="The object's features, keyed by `feature_names` "
                                                   "(as segment's /objects answers them).")

    @classmethod
    def of_object(cls, found: ClassifiedObject) -> PlanktonObject:
        return cls(id=found.object_id, bbox=Box.of(found.bbox), centroid=found.centroid,
                   features=found.features, category=found.category,
                   probability=found.probability, scores=found.scores)


class PlanktonModelRef(ModelRef):
    classes: list[str]
    unclear_threshold: float
    feature_set_version: str

    @classmethod
    def of_model(cls, model: PlanktonModel) -> PlanktonModelRef:
        return cls(name=model.version.name, version=model.version.version, classes=list(model.classes),
                   unclear_threshold=model.unclear_threshold, feature_set_version=model.feature_set_version)


class PlanktonFrameAnswer(BaseModel):
    model: PlanktonModelRef
    input: Literal["frame", "crop"] = Field(
        "frame", description="What the image was taken for: a frame (every object) or one crop "
                             "(its organism).")
    count: int
    counts: dict[str, int] = Field(description="Objects per category (unclear included).")
    feature_set_version: str = Field(description="The feature definition of `objects[].features` (the "
                                                 "model's: a version 1 model is given version 1 features).",
                                     examples=["2"])
    feature_names: list[str] = Field(description="The features' names, in the model's order.")
    objects: list[PlanktonObject]


class SegmentObject(BaseModel):
    """One object of segment's ``/objects`` answer; ``features`` is what is classified.

    Keys segment may add to an object are ignored: every key this route reads is required, so a
    misspelt one is still refused (as missing).
    """

    model_config = ConfigDict(extra="ignore")

    id: int = Field(description="Segment's object id; the result echoes it.")
    bbox: Box
    centroid: tuple[float, float] = Field(description="(row, col)")
    features: dict[str, StrictFloat | None] = Field(
        description="`{name: value}` with exactly `feature_names`; a null (a value segment could not "
                    "measure) is a 422 naming the object.")
    crop: str | None = Field(None, description="Segment's crop; ignored.")
    mask: str | None = Field(None, description="Segment's mask; ignored.")


class FeatureRows(BaseModel):
    """Feature rows measured elsewhere: segment's ``/objects`` answer unchanged, or bare rows.

    Two forms, one of ``objects`` or ``rows``: the ``/segment/objects`` JSON answer as segment
    returns it (``count``, ``overlay`` and ``image`` are accepted and ignored), or
    ``{"feature_set_version", "feature_names", "rows": [...]}``. Any other top-level key is
    refused, so a misspelt one is named rather than ignored.
    """

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"count": 1, "feature_set_version": "1", "feature_names": ["area", "perimeter"],
         "objects": [{"id": 1, "bbox": {"min_row": 3, "min_col": 4, "max_row": 9, "max_col": 12},
                      "centroid": [5.8, 7.6], "features": {"area": 31.0, "perimeter": 21.3},
                      "crop": None, "mask": None}], "overlay": None},
        {"feature_set_version": "1", "feature_names": ["area", "perimeter"],
         "rows": [{"area": 31.0, "perimeter": 21.3}, [12.0, 11.7]]},
    ]})

    feature_set_version: str = Field(examples=["1"])
    feature_names: list[str] = Field(min_length=1)
    objects: list[SegmentObject] | None = Field(
        None, description="Segment's /objects `objects`, as it answers them; each result carries the "
                          "object's `id`, `bbox` and `centroid`.")
    rows: list[dict[str, Any] | list[Any]] | None = Field(
        None, description="Instead of `objects`: each row an object `{name: value}` or a list in "
                          "`feature_names` order.")
    count: int | None = Field(None, ge=0, description="Segment's object count; must equal the "
                                                      "number of `objects` when sent.")
    overlay: str | None = Field(None, description="Segment's overlay picture; ignored.")
    image: dict[str, Any] | None = Field(None, description="Segment's picture; ignored.")

    @model_validator(mode="after")
    def _one_form(self) -> FeatureRows:
        if (self.objects is None) == (self.rows is None):
            raise ValueError("send either objects (the /segment/objects answer) or rows, not both "
                             "nor neither")
        if self.rows is not None and self.count is not None:
            raise ValueError("count belongs to the objects form; leave it out with rows")
        if self.objects is not None and self.count is not None and self.count != len(self.objects):
            raise ValueError(f"count is {self.count} but objects holds {len(self.objects)}; send "
                             "segment's answer unchanged")
        return self

    def feature_rows(self) -> list[dict[str, Any]] | list[dict[str, Any] | list[Any]]:
        if self.objects is not None:
            return [obj.features for obj in self.objects]
        return self.rows or []

    def row_labels(self) -> list[str] | None:
        """How errors name a row: segment's object id when there is one."""
        if self.objects is None:
            return None
        return [f"object {obj.id}" for obj in self.objects]


class FeatureResult(PlanktonAnswer):
    """The forest's answer for one sent row or object, in the order sent."""

    index: int = Field(description="Position of the row or object in the request, from 0.")
    id: int | None = Field(description="The object's id (objects form); null for rows.")
    bbox: Box | None = Field(description="The object's box, echoed (objects form); null for rows.")
    centroid: tuple[float, float] | None = Field(description="(row, col), echoed; null for rows.")

    @classmethod
    def of_row(cls, index: int, prediction: PlanktonPrediction,
               sent: SegmentObject | None = None) -> FeatureResult:
        return cls(index=index, id=sent.id if sent else None, bbox=sent.bbox if sent else None,
                   centroid=sent.centroid if sent else None, category=prediction.category,
                   probability=prediction.probability, scores=prediction.scores)


class FeatureRowsAnswer(BaseModel):
    model: PlanktonModelRef
    count: int = Field(description="How many rows or objects were classified.")
    counts: dict[str, int] = Field(description="Results per category (unclear included).")
    results: list[FeatureResult]
