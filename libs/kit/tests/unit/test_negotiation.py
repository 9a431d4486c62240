import pytest

from specimen_kit.errors import InvalidParameter
from specimen_kit.negotiation import NotAcceptable, check_quality, negotiate

OFFERED = ("png", "jpeg", "webp", "json")


class TestNegotiate:
    def test_output_wins_over_accept(self) -> None:
        assert negotiate("jpeg", "image/webp", OFFERED, "png") == "jpeg"

    def test_output_aliases_and_media_types(self) -> None:
        assert negotiate("jpg", None, OFFERED, "png") == "jpeg"
        assert negotiate("image/webp", None, OFFERED, "png") == "webp"

    def test_output_not_offered_is_refused_naming_the_choices(self) -> None:
        with pytest.raises(InvalidParameter, match="png, jpeg, webp, json"):
            negotiate("gif", None, OFFERED, "png")

    def test_no_wish_gives_the_default(self) -> None:
        assert negotiate(None, None, OFFERED, "png") == "png"
        assert negotiate(None, "*/*", OFFERED, "png") == "png"

    def test_accept_q_values_pick_the_preferred(self) -> None:
        assert negotiate(None, "image/png;q=0.2, image/webp", OFFERED, "png") == "webp"

    def test_accept_admitting_nothing_is_406(self) -> None:
        with pytest.raises(NotAcceptable):
            negotiate(None, "text/html", OFFERED, "png")


class TestCheckQuality:
    def test_quality_with_a_lossless_format_is_refused(self) -> None:
        with pytest.raises(InvalidParameter, match="jpeg or webp"):
            check_quality("png", 80)

    def test_quality_with_jpeg_or_nothing_is_fine(self) -> None:
        check_quality("jpeg", 80)
        check_quality("png", None)
