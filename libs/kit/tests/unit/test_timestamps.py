from datetime import UTC, datetime, timedelta, timezone

from pydantic import BaseModel

from specimen_kit.timestamps import Timestamp, as_utc, rfc3339


class Answer(BaseModel):
    at: Timestamp


class TestRfc3339:
    def test_naive_moment_is_read_as_utc(self) -> None:
        assert rfc3339(datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05.000Z"

    def test_other_offsets_are_converted_to_utc(self) -> None:
        moment = datetime(2026, 1, 2, 5, 4, 5, 678901, tzinfo=timezone(timedelta(hours=2)))
        assert rfc3339(moment) == "2026-01-02T03:04:05.678Z"

    def test_as_utc_keeps_the_instant(self) -> None:
        moment = datetime(2026, 1, 2, 5, 0, tzinfo=timezone(timedelta(hours=2)))
        assert as_utc(moment) == datetime(2026, 1, 2, 3, 0, tzinfo=UTC)


class TestTimestampField:
    def test_json_carries_z(self) -> None:
        answer = Answer(at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
        assert answer.model_dump_json() == '{"at":"2026-01-02T03:04:05.000Z"}'

    def test_python_dump_in_json_mode_carries_z(self) -> None:
        answer = Answer(at=datetime(2026, 1, 2, 3, 4, 5))
        assert answer.model_dump(mode="json") == {"at": "2026-01-02T03:04:05.000Z"}

    def test_schema_says_date_time(self) -> None:
        schema = Answer.model_json_schema(mode="serialization")
        assert schema["properties"]["at"]["format"] == "date-time"
