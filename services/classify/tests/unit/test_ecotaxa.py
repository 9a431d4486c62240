"""EcoTaxa export: the TSV writer, the import checker that reads it by EcoTaxa's rules, the ZIP
archive and the plain CSV."""

from __future__ import annotations

import csv
import io
import zipfile
import zlib
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from specimen_classify.adapters.ecotaxa_archive import TSV_COMPRESS_LEVEL, tsv_name_of, write_ecotaxa_zip
from specimen_classify.domain.plankton.ecotaxa import (
    BOM,
    MAX_COLUMN_NAME,
    EcotaxaColumnInvalid,
    EcotaxaLayout,
    EcotaxaProject,
    EcotaxaRow,
    EcotaxaRowInvalid,
    column_name,
    ecotaxa_tsv,
    image_name,
    needs_bom,
    plain_csv,
    process_fields,
)
from specimen_classify.domain.plankton.ecotaxa_import import check_ecotaxa_tsv

PROJECT = EcotaxaProject(id=4, name="Cruise 42", instrument="sHIP", pixel_size_um=10.5)
SETTINGS = {"threshold": {"method": "constant", "value": 200}, "padding": 4, "fade": True}


def _row(pk: int = 1, **changes: object) -> EcotaxaRow:
    row = EcotaxaRow(
        object_pk=pk,
        rank=pk,
        frame_file_name="frame_001.png",
        bbox=(1, 2, 11, 12),
        centroid=(6.0, 7.0),
        features={"area": 80.0, "perimeter": 31.5},
        feature_set_version="2",
        category="copepod",
        probability=0.91,
        status="predicted",
        sample_id="st1",
        acq_id="st1_a",
        latitude=43.68,
        longitude=7.31,
        depth_min=0.0,
        depth_max=50.0,
        taken_at=datetime(2026, 5, 1, 8, 30, 5, tzinfo=UTC),
        frame_width=1024,
        frame_height=1024,
        model_name="plankton",
        model_version="3",
        job_id=9,
        settings=SETTINGS,
    )
    return replace(row, **changes)  # type: ignore[arg-type]


def _layout(features: tuple[str, ...] = ("area", "perimeter")) -> EcotaxaLayout:
    return EcotaxaLayout(project=PROJECT, feature_names=features, process_settings=process_fields([SETTINGS]))


def _tsv(rows: list[EcotaxaRow], layout: EcotaxaLayout | None = None) -> bytes:
    layout = layout or _layout()
    return b"".join(ecotaxa_tsv(rows, layout, bom=needs_bom(rows, layout)))


def _table(data: bytes) -> list[dict[str, str]]:
    text = data.decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(text), delimiter="\t"))
    return [dict(zip(lines[0], line, strict=True)) for line in lines[1:]]


class TestTsvLayout:
    def test_first_line_names_second_line_types(self) -> None:
        data = _tsv([_row()])
        lines = data.decode().splitlines()
        header, types = lines[0].split("\t"), lines[1].split("\t")
        assert header[:3] == ["img_file_name", "img_rank", "object_id"]
        assert set(types) == {"[t]", "[f]"}
        kinds = dict(zip(header, types, strict=True))
        assert kinds["object_area"] == "[f]" and kinds["object_perimeter"] == "[f]"
        assert kinds["object_annotation_category"] == "[t]" and kinds["process_threshold_method"] == "[t]"
        assert {"sample_id", "acq_id", "process_id"} <= set(header)

    def test_values_of_one_object(self) -> None:
        (line,) = _table(_tsv([_row()]))[1:]
        assert line["object_id"] == "frame_001_1_o1"
        assert line["img_file_name"] == "frame_001_1_o1.png"
        assert (line["object_date"], line["object_time"]) == ("20260501", "083005")
        assert (line["object_lat"], line["object_lon"]) == ("43.68", "7.31")
        assert line["object_area"] == "80.0"
        assert line["object_annotation_status"] == "predicted"
        assert line["object_annotation_person_name"] == ""
        assert line["process_id"] == "run_9"
        assert line["process_threshold_value"] == "200"
        assert line["process_fade"] == "true"
        assert line["sample_project"] == "Cruise 42"

    def test_validated_object_carries_person_and_moment(self) -> None:
        row = _row(status="validated", annotated_by_name="Ana", annotated_at=datetime(2026, 6, 2, 14, 0, 9))
        (line,) = _table(_tsv([row]))[1:]
        assert (line["object_annotation_person_name"], line["object_annotation_date"],
                line["object_annotation_time"]) == ("Ana", "20260602", "140009")

    def test_object_without_category_has_no_status(self) -> None:
        (line,) = _table(_tsv([_row(category=None, status="predicted")]))[1:]
        assert line["object_annotation_category"] == "" and line["object_annotation_status"] == ""

    def test_tabs_and_newlines_in_values_become_spaces(self) -> None:
        data = _tsv([_row(sample_id="st\t1\nb", category="cope\r\npod")])
        lines = data.decode().splitlines()
        assert len(lines) == 3
        (line,) = _table(data)[1:]
        assert line["sample_id"] == "st 1 b" and line["object_annotation_category"] == "cope  pod"

    def test_nan_and_missing_measurements_are_empty(self) -> None:
        (line,) = _table(_tsv([_row(features={"area": float("nan")})]))[1:]
        assert line["object_area"] == "" and line["object_perimeter"] == ""

    def test_unknown_status_refused(self) -> None:
        with pytest.raises(EcotaxaRowInvalid, match="annotation status 'maybe'"):
            _tsv([_row(status="maybe")])

    def test_model_version_setting_is_the_object_s_own_column(self) -> None:
        # Regression: a run's settings carry model_version, which once made process_model_version
        # appear twice and failed every export of a real run.
        settings = {**SETTINGS, "model_version": 1}
        layout = EcotaxaLayout(project=PROJECT, feature_names=("area",),
                               process_settings=process_fields([settings]))
        (line,) = _table(_tsv([_row(settings=settings, model_version="3")], layout))[1:]
        assert line["process_model_version"] == "3"
        assert list(layout.columns).count("process_model_version") == 1

    def test_settings_outside_the_layout_refused(self) -> None:
        with pytest.raises(EcotaxaRowInvalid, match="surprise"):
            _tsv([_row(settings={"surprise": 1})])


class TestColumnNames:
    def test_names_lowercased_to_ecotaxa_characters(self) -> None:
        assert column_name("object", "Hu Moment-1 (µm)") == "object_hu_moment_1_m"

    def test_long_column_name_refused(self) -> None:
        with pytest.raises(EcotaxaColumnInvalid, match="at most 250"):
            EcotaxaLayout(project=PROJECT, feature_names=("x" * MAX_COLUMN_NAME,))

    def test_longest_allowed_name_accepted(self) -> None:
        name = "x" * (MAX_COLUMN_NAME - len("object_"))
        layout = EcotaxaLayout(project=PROJECT, feature_names=(name,))
        assert len(layout.feature_columns[0]) == MAX_COLUMN_NAME

    def test_names_that_clean_to_the_same_column_refused(self) -> None:
        with pytest.raises(EcotaxaColumnInvalid, match="object_hu_1"):
            EcotaxaLayout(project=PROJECT, feature_names=("hu 1", "HU-1"))

    def test_measurement_named_like_a_fixed_column_refused(self) -> None:
        with pytest.raises(EcotaxaColumnInvalid, match="object_lat"):
            EcotaxaLayout(project=PROJECT, feature_names=("lat",))

    def test_unknown_table_refused(self) -> None:
        with pytest.raises(EcotaxaColumnInvalid, match="table 'frame'"):
            column_name("frame", "x")


class TestEncoding:
    def test_ascii_file_has_no_bom(self) -> None:
        data = _tsv([_row()])
        assert not data.startswith(BOM) and data.isascii()

    def test_non_ascii_value_gives_bom(self) -> None:
        data = _tsv([_row(), _row(2, annotated_by_name="Zoé", status="validated")])
        assert data.startswith(BOM)
        assert _table(data)[2]["object_annotation_person_name"] == "Zoé"

    def test_non_ascii_project_name_gives_bom(self) -> None:
        layout = EcotaxaLayout(project=replace(PROJECT, name="Baie de Villefranche, été"),
                               feature_names=("area",), process_settings=process_fields([SETTINGS]))
        assert needs_bom([], layout)

    def test_non_ascii_without_bom_refused_while_streaming(self) -> None:
        with pytest.raises(EcotaxaRowInvalid, match="byte-order mark"):
            b"".join(ecotaxa_tsv([_row(category="Ophiuroïdea")], _layout(), bom=False))


class TestUniqueness:
    def test_repeated_object_refused(self) -> None:
        with pytest.raises(EcotaxaRowInvalid, match="already in the file"):
            _tsv([_row(1), _row(1)])

    def test_acquisition_in_two_samples_refused(self) -> None:
        with pytest.raises(EcotaxaRowInvalid, match="acquisition 'st1_a' is in samples 'st1' and 'st2'"):
            _tsv([_row(1), _row(2, sample_id="st2")])

    def test_same_frame_names_after_cleaning_stay_unique(self) -> None:
        rows = [_row(1, frame_file_name="a b.png", rank=1), _row(2, frame_file_name="a_b.png", rank=1)]
        names = {line["object_id"] for line in _table(_tsv(rows))[1:]}
        assert len(names) == 2


class TestImportCheck:
    def test_written_file_passes(self) -> None:
        rows = [_row(i, status=s, annotated_by_name="Zoé") for i, s in
                enumerate(["predicted", "validated", "dubious"], start=1)]
        report = check_ecotaxa_tsv(_tsv(rows), image_names={image_name(r) for r in rows})
        assert report.errors == [] and report.rows == 3 and report.encoding == "utf-8-sig"

    def test_types_line_required_for_object_columns(self) -> None:
        report = check_ecotaxa_tsv(b"img_file_name\tobject_id\tobject_area\n[t]\t[t]\t[x]\na.png\ta\t1\n")
        assert report.errors == ["invalid type '[x]' for column 'object_area': [f] or [t]"]

    def test_required_columns(self) -> None:
        report = check_ecotaxa_tsv(b"object_area\n[f]\n1\n")
        assert "the column 'img_file_name' is required" in report.errors
        assert "the column 'object_id' is required" in report.errors

    def test_text_in_a_number_column(self) -> None:
        data = b"img_file_name\tobject_id\tobject_area\n[t]\t[t]\t[f]\na.png\ta\tbig\n"
        assert check_ecotaxa_tsv(data).errors == ["line 3: invalid float value 'big' for 'object_area'"]

    def test_status_without_category(self) -> None:
        data = (b"img_file_name\tobject_id\tobject_annotation_category\tobject_annotation_status\n"
                b"[t]\t[t]\t[t]\t[t]\na.png\ta\t\tvalidated\nb.png\tb\tcopepod\t\n")
        assert check_ecotaxa_tsv(data).errors == [
            "line 3: annotation status 'validated' is given without a category",
            "line 4: category 'copepod' is given without a status",
        ]

    def test_unknown_status(self) -> None:
        data = (b"img_file_name\tobject_id\tobject_annotation_category\tobject_annotation_status\n"
                b"[t]\t[t]\t[t]\t[t]\na.png\ta\tx\tsure\n")
        assert check_ecotaxa_tsv(data).errors == [
            "line 3: invalid annotation status 'sure' (predicted, validated, dubious)"]

    def test_repeated_pair(self) -> None:
        data = b"img_file_name\tobject_id\n[t]\t[t]\na.png\ta\na.png\ta\n"
        assert check_ecotaxa_tsv(data).errors == ["line 4: (object 'a', image 'a.png') is already on line 3"]

    def test_non_ascii_without_bom(self) -> None:
        data = "img_file_name\tobject_id\n[t]\t[t]\na.png\tzoé\n".encode()
        assert "no UTF-8 byte-order mark" in check_ecotaxa_tsv(data).errors[0]

    def test_bad_dates_and_ranges(self) -> None:
        data = (b"img_file_name\tobject_id\tobject_date\tobject_time\tobject_lat\n[t]\t[t]\t[t]\t[t]\t[f]\n"
                b"a.png\ta\t20261341\t256000\t91\n")
        assert check_ecotaxa_tsv(data).errors == [
            "line 3: invalid date '20261341' for 'object_date' (YYYYMMDD)",
            "line 3: invalid time '256000' for 'object_time' (HHMMSS)",
            "line 3: invalid latitude '91' (-90 to 90)",
        ]

    def test_acquisition_in_two_samples(self) -> None:
        data = b"img_file_name\tobject_id\tsample_id\tacq_id\n[t]\t[t]\t[t]\t[t]\na\t1\ts1\tq\nb\t2\ts2\tq\n"
        assert check_ecotaxa_tsv(data).errors == ["line 4: acquisition 'q' is in samples 's1' and 's2'"]

    def test_header_prefix_and_headerless_value(self) -> None:
        data = b"img_file_name\tobject_id\tcolour\n[t]\t[t]\t[t]\na\t1\tred\textra\n"
        assert check_ecotaxa_tsv(data).errors == [
            "invalid header 'colour': the format is <table>_<field>",
            "line 3: values ['extra'] are in a header-less column",
        ]

    def test_missing_image(self) -> None:
        data = b"img_file_name\tobject_id\n[t]\t[t]\na.png\ta\n"
        report = check_ecotaxa_tsv(data, image_names=set())
        assert report.errors == ["line 3: missing image 'a.png' beside the TSV"]


class TestArchive:
    def test_zip_round_trip(self, tmp_path: object) -> None:
        rows = [_row(1), _row(2, category="Ophiuroïdea"), _row(3, category=None)]
        crops = {image_name(r): f"png-{r.object_pk}".encode() for r in rows}
        buffer = io.BytesIO()
        summary = write_ecotaxa_zip(buffer, rows, _layout(), lambda r: crops[image_name(r)])
        assert (summary.objects, summary.images, summary.bom) == (3, 3, True)
        with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as archive:
            names = archive.namelist()
            assert summary.tsv_name == "ecotaxa_cruise_42.tsv" and summary.tsv_name in names
            tsv = archive.read(summary.tsv_name)
            assert tsv.startswith(BOM)
            for name, content in crops.items():
                assert archive.read(name) == content
            report = check_ecotaxa_tsv(tsv, image_names=set(names))
        assert report.ok, report.errors
        assert report.rows == 3
        assert tsv == _tsv(rows)

    def test_tsv_is_deflated_at_the_fast_level_and_crops_stored(self) -> None:
        buffer = io.BytesIO()
        rows = [_row(k) for k in range(1, 30)]
        summary = write_ecotaxa_zip(buffer, rows, _layout(), lambda r: b"png" * 50)
        with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as archive:
            info = archive.getinfo(summary.tsv_name)
            assert info.compress_type == zipfile.ZIP_DEFLATED
            tsv = archive.read(summary.tsv_name)
            assert tsv == _tsv(rows)
            fast = zlib.compressobj(TSV_COMPRESS_LEVEL, zlib.DEFLATED, -15)
            assert info.compress_size == len(fast.compress(tsv) + fast.flush()) < info.file_size
            crop = archive.getinfo(image_name(rows[0]))
            assert crop.compress_type == zipfile.ZIP_STORED

    def test_ascii_archive_has_no_bom(self) -> None:
        buffer = io.BytesIO()
        summary = write_ecotaxa_zip(buffer, [_row()], _layout(), lambda r: b"png")
        assert summary.bom is False
        with zipfile.ZipFile(buffer) as archive:
            assert not archive.read(summary.tsv_name).startswith(BOM)

    def test_tsv_name_from_project(self) -> None:
        assert tsv_name_of("Cruise 42", 4) == "ecotaxa_cruise_42.tsv"
        assert tsv_name_of("***", 4) == "ecotaxa_project_4.tsv"


class TestPlainCsv:
    def test_same_rows_as_csv(self) -> None:
        rows = [_row(1, category='odd, "quoted"'), _row(2)]
        text = b"".join(plain_csv(rows, _layout())).decode()
        lines = list(csv.DictReader(io.StringIO(text)))
        assert [line["object_id"] for line in lines] == ["frame_001_1_o1", "frame_001_2_o2"]
        assert lines[0]["object_annotation_category"] == 'odd, "quoted"'
        assert lines[1]["object_area"] == "80.0"
        assert list(lines[0]) == list(_layout().columns)


def test_a_row_of_measurements_is_written_as_number_writes_each() -> None:
    from specimen_classify.domain.plankton.ecotaxa import _numbers, number

    rows = [
        [1.5, -0.0, 2.5e-300, 1e308, 0.1 + 0.2],
        [1.5, float("nan"), 3.0],
        [1.5, float("inf"), float("-inf")],
        [1.5, None, 2, True, 4.0],
        [np.float64(2.5), 1.0],
        [],
    ]
    for values in rows:
        assert list(_numbers(values)) == [number(v) for v in values]
    assert list(_numbers([1e308, 1e308])) == ["1e+308", "1e+308"]
