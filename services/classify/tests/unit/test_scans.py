"""The pure rules of MRI scan records (:mod:`specimen_classify.domain.scans`)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import pytest

from specimen_classify.domain.errors import (
    HospitalNotAllowed,
    InvalidScanData,
    ScanEditForbidden,
)
from specimen_classify.domain.predictions import ModelVersion
from specimen_classify.domain.scans import (
    CSV_COLUMNS,
    UNSET,
    Classification,
    Scan,
    ScanChanges,
    ScanFilters,
    ScanImage,
    apply_changes,
    csv_cell,
    hospital_for_scan,
    media_type_of,
    normalize_notes,
    normalize_patient_ref,
    require_editor,
    scan_filename,
    scans_csv,
    visible_hospital,
)
from specimen_kit.errors import UnsupportedFormat
from specimen_kit.hospitals import InvalidHospitalName
from specimen_kit.roles import Role

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Who:
    user_id: int
    role: Role
    hospital: str


TECHNICIAN = Who(7, Role.TECHNICIAN, "General")
MODERATOR = Who(8, Role.MODERATOR, "General")
ADMIN = Who(1, Role.ADMIN, "Headquarters")


def _scan(**changes: object) -> Scan:
    values: dict[str, object] = dict(
        id=3, hospital="general", patient_gender="female", true_label=None, notes=None,
        created_by=7, created_at=T0, updated_at=T0,
        classification=Classification(
            label="tumor", probability=0.75, tumor_probability=0.75,
            model=ModelVersion("mri-tumor", 2), crop_box=(1, 2, 30, 40), classified_at=T0),
        image=ScanImage(key="ab" * 16, media_type="image/png", bytes=123))
    values.update(changes)
    return Scan(**values)  # type: ignore[arg-type]


class TestScope:
    @pytest.mark.parametrize(("caller", "expected"), [
        (TECHNICIAN, "general"), (MODERATOR, "general"), (ADMIN, None)])
    def test_visible_hospital_is_the_id_of_the_token_s(self, caller: Who,
                                                       expected: str | None) -> None:
        assert visible_hospital(caller) == expected

    def test_a_token_already_naming_the_id_is_the_same_scope(self) -> None:
        assert visible_hospital(Who(7, Role.TECHNICIAN, "general")) == "general"

    def test_an_old_token_naming_a_hospital_without_a_slug_gets_the_migrated_id(self) -> None:
        # Migrations give "***" the id hospital-<hash>; its tokens of before must match it.
        assert visible_hospital(Who(7, Role.TECHNICIAN, "***")) == "hospital-596f4162a52f"


class TestHospitalForScan:
    @pytest.mark.parametrize("caller", [TECHNICIAN, MODERATOR, ADMIN])
    def test_defaults_to_the_id_of_the_caller_s(self, caller: Who) -> None:
        assert hospital_for_scan(caller, None) == caller.hospital.lower()

    @pytest.mark.parametrize("caller", [TECHNICIAN, MODERATOR])
    @pytest.mark.parametrize("named", ["general", "  General ", "GENERAL"])
    def test_one_s_own_hospital_may_be_named_by_id_or_name(self, caller: Who,
                                                           named: str) -> None:
        assert hospital_for_scan(caller, named) == "general"

    @pytest.mark.parametrize("caller", [TECHNICIAN, MODERATOR])
    def test_another_hospital_is_refused(self, caller: Who) -> None:
        with pytest.raises(HospitalNotAllowed) as raised:
            hospital_for_scan(caller, "St Mary")
        assert raised.value.status == 403
        assert raised.value.extensions == {"hospital": "st-mary"}

    def test_admin_names_any_hospital_as_its_id(self) -> None:
        assert hospital_for_scan(ADMIN, "St Mary") == "st-mary"

    @pytest.mark.parametrize("name", ["", "   ", "!!!", "x" * 121])
    def test_a_name_without_an_id_is_refused_even_for_admin(self, name: str) -> None:
        with pytest.raises(InvalidHospitalName) as raised:
            hospital_for_scan(ADMIN, name)
        assert raised.value.status == 422


class TestPatientRef:
    def test_trimmed(self) -> None:
        assert normalize_patient_ref("  P-0042 ", 64) == "P-0042"

    @pytest.mark.parametrize("ref", [None, "", "   "])
    def test_nothing_is_none(self, ref: str | None) -> None:
        assert normalize_patient_ref(ref, 64) is None

    def test_the_limit_is_inclusive_and_named(self) -> None:
        assert normalize_patient_ref("x" * 8, 8) == "x" * 8
        with pytest.raises(InvalidScanData) as raised:
            normalize_patient_ref("x" * 9, 8)
        assert raised.value.extensions == {"field": "patient_ref"}
        assert "limit is 8" in raised.value.detail

    @pytest.mark.parametrize("char", ["\x00", "\t", "\n", "\x1b", "\x7f", "\x85"])
    def test_control_characters_are_refused_even_line_breaks(self, char: str) -> None:
        with pytest.raises(InvalidScanData, match="control characters"):
            normalize_patient_ref(f"P{char}1", 64)


class TestRequireEditor:
    def test_technician_is_refused(self) -> None:
        with pytest.raises(ScanEditForbidden) as raised:
            require_editor(TECHNICIAN)
        assert raised.value.status == 403

    @pytest.mark.parametrize("caller", [MODERATOR, ADMIN])
    def test_moderator_and_admin_may_edit(self, caller: Who) -> None:
        require_editor(caller)


class TestNotes:
    def test_trimmed_with_inner_line_breaks_and_tabs_kept(self) -> None:
        assert normalize_notes("\n  a\tb\r\nc  ", 100) == "a\tb\r\nc"

    @pytest.mark.parametrize("notes", [None, "", " \n\t "])
    def test_nothing_is_none(self, notes: str | None) -> None:
        assert normalize_notes(notes, 100) is None

    def test_the_limit_is_inclusive_after_trimming(self) -> None:
        assert normalize_notes(" " + "x" * 10 + " ", 10) == "x" * 10

    def test_one_character_over_is_refused_with_the_numbers(self) -> None:
        with pytest.raises(InvalidScanData) as raised:
            normalize_notes("x" * 11, 10)
        assert raised.value.detail == "the notes have 11 characters; the limit is 10"

    @pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\x7f"])
    def test_other_control_characters_are_refused(self, char: str) -> None:
        with pytest.raises(InvalidScanData, match="control characters"):
            normalize_notes(f"a{char}b", 100)


class TestMediaType:
    @pytest.mark.parametrize(("head", "expected"), [
        (b"\x89PNG\r\n\x1a\n\0\0", "image/png"),
        (b"\xff\xd8\xff\xe0", "image/jpeg"),
        (b"II*\x00\x08", "image/tiff"),
        (b"MM\x00*\x00", "image/tiff"),
        (b"II+\x00\x08", "image/tiff"),
        (bytes(128) + b"DICM\x02", "application/dicom"),
    ])
    def test_from_the_signature(self, head: bytes, expected: str) -> None:
        assert media_type_of(head) == expected

    @pytest.mark.parametrize("data", [b"", b"GIF89a....", b"BM......", bytes(200)])
    def test_anything_else_is_unsupported(self, data: bytes) -> None:
        with pytest.raises(UnsupportedFormat):
            media_type_of(data)

    @pytest.mark.parametrize(("media_type", "name"), [
        ("image/png", "scan-3.png"), ("image/jpeg", "scan-3.jpg"), ("image/tiff", "scan-3.tif"),
        ("application/dicom", "scan-3.dcm")])
    def test_download_name(self, media_type: str, name: str) -> None:
        scan = _scan(image=ScanImage(key="ab" * 16, media_type=media_type, bytes=1))
        assert scan_filename(scan) == name


class TestTimes:
    def test_a_naive_filter_time_is_taken_as_utc(self) -> None:
        filters = ScanFilters(created_after=datetime(2025, 1, 2, 3, 4)).normalized()
        assert filters.created_after == datetime(2025, 1, 2, 3, 4, tzinfo=UTC)

    def test_an_offset_is_converted(self) -> None:
        plus_two = timezone(timedelta(hours=2))
        converted = ScanFilters(created_before=datetime(2025, 1, 2, 3, 4, tzinfo=plus_two)).normalized()
        moment = converted.created_before
        assert (moment, moment.tzinfo if moment else None) == (
            datetime(2025, 1, 2, 1, 4, tzinfo=UTC), UTC)

    def test_normalized_filters_are_in_utc_and_leave_the_rest(self) -> None:
        filters = ScanFilters(label="tumor", created_before=datetime(2025, 1, 1))
        assert filters.normalized() == ScanFilters(
            label="tumor", created_before=datetime(2025, 1, 1, tzinfo=UTC))

    def test_normalized_filters_name_the_hospital_by_id_and_trim_the_patient(self) -> None:
        filters = ScanFilters(hospital=" St Mary", patient_ref=" P-1 ")
        assert filters.normalized() == ScanFilters(hospital="st-mary", patient_ref="P-1")


class TestApplyChanges:
    def test_nothing_to_change_returns_the_scan_itself(self) -> None:
        scan = _scan()
        assert apply_changes(scan, ScanChanges(), T0 + timedelta(1)) is scan

    def test_given_fields_change_and_updated_at_moves(self) -> None:
        later = T0 + timedelta(hours=1)
        changed = apply_changes(_scan(notes="old"), ScanChanges(
            patient_gender="male", hospital="st-mary", true_label="healthy", notes="new",
            patient_ref="P-7"), later)
        assert changed == _scan(patient_gender="male", true_label="healthy", notes="new",
                                hospital="st-mary", patient_ref="P-7", updated_at=later)

    def test_none_clears_the_nullable_fields(self) -> None:
        changed = apply_changes(_scan(true_label="tumor", notes="x", patient_ref="P-1"),
                                ScanChanges(true_label=None, notes=None, patient_ref=None), T0)
        assert (changed.true_label, changed.notes, changed.patient_ref) == (None, None, None)

    def test_unset_keeps_them(self) -> None:
        changes = ScanChanges(patient_gender="other", true_label=UNSET, notes=UNSET)
        changed = apply_changes(_scan(true_label="tumor", notes="x"), changes, T0)
        assert (changed.patient_gender, changed.true_label, changed.notes) == (
            "other", "tumor", "x")


class TestCsv:
    @pytest.mark.parametrize(("value", "expected"), [
        ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@A1", "'@A1"), ("\tx", "'\tx"),
        ("\rx", "'\rx"), ("\uff1d1", "'\uff1d1"), ("plain", "plain"), ("a=b", "a=b"), ("", ""),
        (-1, -1), (0.5, 0.5), (None, None),
    ])
    def test_cells_that_would_run_as_formulas_are_quoted(self, value: object,
                                                         expected: object) -> None:
        assert csv_cell(value) == expected

    def test_header_then_one_row_per_scan(self) -> None:
        text = scans_csv([_scan(notes="=cmd|' /C calc'!A0", true_label="healthy",
                                patient_ref="P-0042"),
                          _scan(id=4, patient_ref="@x")])
        rows = list(csv.reader(io.StringIO(text)))
        assert rows[0] == list(CSV_COLUMNS)
        assert rows[1] == [
            "3", "general", "P-0042", "female", "healthy", "tumor", "0.75", "0.75", "", "mri-tumor",
            "2", "1", "2", "30", "40", "2025-03-01T12:00:00.000Z", "image/png", "123",
            "'=cmd|' /C calc'!A0", "7", "2025-03-01T12:00:00.000Z", "2025-03-01T12:00:00.000Z"]
        assert (rows[2][0], rows[2][2], rows[2][4], rows[2][18]) == ("4", "'@x", "", "")

    def test_the_decision_threshold_has_its_column(self) -> None:
        result = Classification(label="tumor", probability=0.3, tumor_probability=0.3,
                                model=ModelVersion("mri-tumor", 2), crop_box=(1, 2, 30, 40),
                                classified_at=T0, decision_threshold=0.25)
        row = list(csv.reader(io.StringIO(scans_csv([_scan(classification=result)]))))[1]
        assert row[CSV_COLUMNS.index("decision_threshold")] == "0.25"

    def test_rows_end_with_crlf(self) -> None:
        assert scans_csv([]) == ",".join(CSV_COLUMNS) + "\r\n"
