"""The parameter base every route's options share."""

from __future__ import annotations

import pytest

from specimen_imaging.options import ThresholdOptions, validate_params
from specimen_kit.errors import InvalidParameter


class TestNumbersRefuseBooleans:
    # Issue 9, finding 13: `"value": true` passed as the number 1.
    @pytest.mark.parametrize("values", [{"method": "fixed", "value": True},
                                        {"opening_radius": False}, {"quantile": True}])
    def test_true_or_false_for_a_number_is_a_422(self, values: dict[str, object]) -> None:
        with pytest.raises(InvalidParameter, match="is not a boolean"):
            validate_params(ThresholdOptions, values)

    def test_numbers_as_text_from_forms_still_pass(self) -> None:
        assert validate_params(ThresholdOptions, {"opening_radius": "2"}).opening_radius == 2
