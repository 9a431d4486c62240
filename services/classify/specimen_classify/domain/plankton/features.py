"""The feature contract: rows the forest is given carry exactly its features.

Rows (from a request, or from this service's own measurements) must carry the model's feature
names, in its order, of its feature-set version, else a
:class:`~specimen_classify.domain.errors.FeatureMismatch` (422) says what differs and how to fix
it; :func:`feature_rows_matrix` reads rows as segment's ``/objects`` answers them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Real
from typing import Any

import numpy as np
import numpy.typing as npt

from specimen_classify.domain.errors import FeatureMismatch
from specimen_classify.domain.predictions import PlanktonModel
from specimen_imaging.measurements import FEATURE_SET_VERSION, FEATURE_SETS
from specimen_kit.errors import InvalidParameter

# Names, order and version --------------------------------------------------------------------------


def _differences(names: Sequence[str], version: str, model: PlanktonModel) -> list[str]:
    expected, got = tuple(model.feature_names), tuple(names)
    found: list[str] = []
    if str(version) != model.feature_set_version:
        found.append(f"feature_set_version is {str(version)!r}, the model's is {model.feature_set_version!r}")
    missing = [name for name in expected if name not in got]
    unknown = [name for name in dict.fromkeys(got) if name not in expected]
    repeated = [name for name in dict.fromkeys(got) if got.count(name) > 1]
    if missing:
        found.append(f"missing {', '.join(missing)}")
    if unknown:
        found.append(f"not in the model: {', '.join(unknown)}")
    if repeated:
        found.append(f"repeated: {', '.join(repeated)}")
    if not (missing or unknown or repeated) and got != expected:
        at = next(i for i, (a, b) in enumerate(zip(got, expected, strict=True)) if a != b)
        found.append(
            f"the same names in another order: position {at} is {got[at]!r}, "
            f"the model expects {expected[at]!r}"
        )
    return found


def _mismatch(differences: list[str], model: PlanktonModel, what: str, fix: str) -> FeatureMismatch:
    return FeatureMismatch(
        f"{what} do not match plankton model version {model.version.version}: "
        f"{'; '.join(differences)}. {fix}",
        differences=differences,
        expected_feature_set_version=model.feature_set_version,
        expected_feature_names=list(model.feature_names),
    )


def check_feature_contract(
    feature_names: Sequence[str], feature_set_version: str, model: PlanktonModel
) -> None:
    """Refuse feature rows whose names, order or feature-set version differ from the model's.

    Parameters
    ----------
    feature_names : sequence of str
        The rows' column names, in their order (segment's ``/objects`` answers them).
    feature_set_version : str
        The feature definition the rows were measured with (also in segment's answer).
    model : PlanktonModel

    Raises
    ------
    FeatureMismatch
        Naming every difference (version, missing, unknown or repeated names, first position out
        of order) and the fix (422).
    """
    differences = _differences(feature_names, feature_set_version, model)
    if differences:
        raise _mismatch(
            differences,
            model,
            "the feature rows",
            f"Send rows measured with feature set {model.feature_set_version!r} with its "
            "feature_names in the model's order (as the segment service of that feature set "
            "answers /segment/objects), or retrain the plankton model on your feature set.",
        )


def check_service_features(model: PlanktonModel) -> None:
    """Refuse to classify frames with a model trained on a feature definition this service lacks.

    A model of any feature set this service measures (:data:`~specimen_imaging.measurements.FEATURE_SETS`:
    a version 1 model still gets version 1 rows) is served; one whose version is unknown, or
    whose names or order differ from that version's, is not.

    Raises
    ------
    FeatureMismatch
        The model's feature names, order or version differ from every set this service
        measures (422); the fix is to retrain or activate a version trained on one.
    """
    names = FEATURE_SETS.get(model.feature_set_version, FEATURE_SETS[FEATURE_SET_VERSION])
    version = model.feature_set_version if model.feature_set_version in FEATURE_SETS else FEATURE_SET_VERSION
    differences = _differences(names, version, model)
    if differences:
        raise _mismatch(
            differences,
            model,
            f"this service's measurements (feature sets {', '.join(map(repr, FEATURE_SETS))})",
            "Retrain the plankton model on the current feature set (python -m specimen_classify "
            "train plankton DATA_DIR --out DIR) or activate a version trained on it.",
        )


def model_columns(
    feature_names: Sequence[str], feature_set_version: str, model: PlanktonModel
) -> list[int] | None:
    """Where the model's features sit in rows of a later feature set that contains them, or None.

    Rows of a set this service measures whose names are exactly that set's (segment's
    ``/objects`` answer of the current set) carry every feature of a model trained on an older
    set with the same definition (set 2 is set 1's columns and more): the model reads its
    own columns. Anything else is left to :func:`check_feature_contract`.
    """
    version = str(feature_set_version)
    if version == model.feature_set_version or FEATURE_SETS.get(version) != tuple(feature_names):
        return None
    if FEATURE_SETS.get(model.feature_set_version) != tuple(model.feature_names):
        return None
    sent = list(feature_names)
    if not set(model.feature_names) <= set(sent):
        return None
    return [sent.index(name) for name in model.feature_names]


def _shown_value(value: Any) -> str:
    return "null" if value is None else repr(value)


def feature_rows_matrix(
    rows: Sequence[Mapping[str, Any] | Sequence[Any]],
    feature_names: Sequence[str],
    row_labels: Sequence[str] | None = None,
) -> npt.NDArray[np.float64]:
    """Rows as segment's ``/objects`` answers them (``features`` objects) or as lists → a matrix.

    Parameters
    ----------
    rows : sequence
        Each row a mapping ``name → number`` with exactly ``feature_names`` as keys, or a
        sequence of ``len(feature_names)`` numbers in that order.
    feature_names : sequence of str
        The column order of the result.
    row_labels : sequence of str, optional
        How messages name each row (``"object 7"``); default ``"row <index>"``.

    Raises
    ------
    InvalidParameter
        A row of another length or other names, or a value that is not a finite number (null,
        text, NaN): the row and the feature are named (422). A null is refused rather than
        imputed: the forest was trained on complete rows only, and segment answers null only
        where a value cannot be measured (a degenerate object), so the fix is to leave that
        object out.

    Examples
    --------
    >>> feature_rows_matrix([{"b": 2, "a": 1}, [3, 4]], ["a", "b"]).tolist()
    [[1.0, 2.0], [3.0, 4.0]]
    """
    names = list(feature_names)
    labels = list(row_labels) if row_labels is not None else [f"row {i}" for i in range(len(rows))]
    if len(labels) != len(rows):
        raise ValueError(f"{len(labels)} row labels for {len(rows)} rows")
    out = np.empty((len(rows), len(names)), np.float64)
    for i, row in enumerate(rows):
        label = labels[i]
        if isinstance(row, Mapping):
            missing = [n for n in names if n not in row]
            extra = [str(k) for k in row if k not in names]
            if missing or extra:
                parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
                    [f"unknown {', '.join(extra)}"] if extra else []
                )
                raise InvalidParameter(f"{label} has other features than feature_names: {'; '.join(parts)}")
            values = [row[n] for n in names]
        elif isinstance(row, Sequence) and not isinstance(row, str | bytes):
            if len(row) != len(names):
                raise InvalidParameter(f"{label} has {len(row)} values; feature_names has {len(names)}")
            values = list(row)
        else:
            raise InvalidParameter(f"{label} is a {type(row).__name__}; send an object of features or a list")
        for j, value in enumerate(values):
            if isinstance(value, bool) or not isinstance(value, Real) or not np.isfinite(float(value)):
                fix = (
                    "; segment answers null where a value cannot be measured: leave this object out"
                    if value is None
                    else ""
                )
                raise InvalidParameter(
                    f"{label}: {names[j]} is {_shown_value(value)}; "
                    f"every feature must be a finite number{fix}"
                )
            out[i, j] = float(value)
    return out
