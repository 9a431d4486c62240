from specimen_kit.downloads import content_disposition, file_response
from specimen_kit.records import Content


class TestContentDisposition:
    def test_plain_name(self) -> None:
        assert content_disposition("scans.csv") == (
            "attachment; filename=\"scans.csv\"; filename*=UTF-8''scans.csv")

    def test_quotes_backslashes_and_controls_cannot_break_the_header(self) -> None:
        value = content_disposition('a"b\\c\r\nd.png')
        fallback = value.split('filename="', 1)[1].split('"', 1)[0]
        assert fallback == "a_b_c__d.png"
        assert "\r" not in value and "\n" not in value

    def test_the_exact_name_travels_in_filename_star(self) -> None:
        assert content_disposition("été.png", "inline").endswith("filename*=UTF-8''%C3%A9t%C3%A9.png")
        assert content_disposition("été.png", "inline").startswith("inline; ")


class TestFileResponse:
    def test_a_negotiated_file_varies_on_accept(self) -> None:
        response = file_response(Content(b"x", "image/png", "a.png"), negotiated=True)
        assert response.headers["vary"] == "Accept"
        assert response.media_type == "image/png"

    def test_a_plain_download_does_not(self) -> None:
        assert "vary" not in file_response(Content(b"x", "text/csv", "a.csv")).headers
