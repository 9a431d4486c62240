"""Request and response bodies of ``/classify``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from specimen_classify.domain.plankton import ClassifiedObject
from specimen_classify.domain.predictions import (
    ModelVersion,
    MriPrediction,
    PlanktonModel,
    PlanktonPrediction,
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


class MriAnswer(BaseModel):
    label: Literal["tumor", "healthy"]
    probability: float = Field(description="The model's probability of `label`.")
    tumor_probability: float = Field(description="The model's probability of *tumor*.")
    model: ModelRef
    crop_box: Box = Field(description="Where the brain was found in the sent image; the CNN saw this "
                                      "crop, resized to 32x32.")

    @classmethod
    def of(cls, prediction: MriPrediction) -> MriAnswer:
        return cls(label=prediction.label, probability=prediction.probability,
                   tumor_probability=prediction.tumor_probability, model=ModelRef.of(prediction.model),
                   crop_box=Box.of(prediction.crop_box))


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
    model: ModelRef
    classified: int = Field(description="How many images have a prediction.")
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
    measurements: dict[str, float] = Field(description="The versioned object measurements "
                                                       "(segment's /objects features).")

    @classmethod
    def of_object(cls, found: ClassifiedObject) -> PlanktonObject:
        return cls(id=found.object_id, bbox=Box.of(found.bbox), centroid=found.centroid,
                   measurements=found.measurements, category=found.category,
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
    count: int
    counts: dict[str, int] = Field(description="Objects per category (unclear included).")
    objects: list[PlanktonObject]


class FeatureRows(BaseModel):
    """Feature rows measured elsewhere, as segment's ``/objects`` answers them."""

    model_config = ConfigDict(extra="forbid")

    feature_set_version: str = Field(examples=["1"])
    feature_names: list[str] = Field(min_length=1)
    rows: list[dict[str, Any] | list[Any]] = Field(
        description="Each row an object `{name: value}` (e.g. an /objects `features`) or a list "
                    "in `feature_names` order.")


class FeatureRowsAnswer(BaseModel):
    model: PlanktonModelRef
    results: list[PlanktonAnswer]
