"""The pure rules of plankton projects: access, tiles, ZIP member names, frame metadata."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pytest

from specimen_classify.domain.errors import (
    ArchiveRefused,
    InvalidFrameMetadata,
    ProjectRoleRequired,
    TileNotFound,
)
from specimen_classify.domain.plankton.frame_import import (
    ImportLimits,
    Upload,
    add_archive,
    metadata_of,
    read_metadata_table,
    safe_member_name,
)
from specimen_classify.domain.plankton.projects import (
    ProjectMember,
    ProjectRole,
    project_access,
    require_role,
)
from specimen_classify.domain.plankton.tiles import max_zoom, render_tile, tile_window
from specimen_kit.roles import Role

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Caller:
    user_id: int
    role: Role = Role.TECHNICIAN


@dataclass(frozen=True)
class Owned:
    owner_id: int


class TestAccess:
    members = [ProjectMember(1, 5, ProjectRole.VIEWER, T0),
               ProjectMember(1, 6, ProjectRole.ANNOTATOR, T0)]

    @pytest.mark.parametrize(("caller", "expected"), [
        (Caller(9), ProjectRole.MANAGER),  # the owner, without a row
        (Caller(5), ProjectRole.VIEWER),
        (Caller(6), ProjectRole.ANNOTATOR),
        (Caller(7), None),  # a stranger: 404
        (Caller(7, Role.MODERATOR), None),  # a Specimen role gives no project access
        (Caller(7, Role.ADMIN), ProjectRole.MANAGER),
    ])
    def test_effective_roles(self, caller: Caller, expected: ProjectRole | None) -> None:
        assert project_access(caller, Owned(9), self.members) == expected
        assert project_access(caller, Owned(9), {m.user_id: m.role for m in self.members}) == expected

    def test_the_order_of_roles(self) -> None:
        require_role(ProjectRole.MANAGER, ProjectRole.ANNOTATOR)
        with pytest.raises(ProjectRoleRequired) as raised:
            require_role(ProjectRole.VIEWER, ProjectRole.ANNOTATOR)
        assert raised.value.status == 403


class TestTiles:
    @pytest.mark.parametrize(("size", "zoom"), [((1, 1), 0), ((256, 256), 0), ((257, 1), 1),
                                                ((512, 300), 1), ((513, 10), 2),
                                                ((10_000, 7_000), 6)])
    def test_max_zoom(self, size: tuple[int, int], zoom: int) -> None:
        assert max_zoom(*size) == zoom

    def test_windows_cover_the_frame_exactly(self) -> None:
        width, height = 1000, 600
        for z in range(max_zoom(width, height) + 1):
            factor = 2 ** (max_zoom(width, height) - z)
            covered = np.zeros((height, width), np.int32)
            x = 0
            while True:
                try:
                    tile_window(width, height, z, x, 0)
                except TileNotFound:
                    break
                y = 0
                while True:
                    try:
                        w = tile_window(width, height, z, x, y)
                    except TileNotFound:
                        break
                    covered[w.row0:w.row1, w.col0:w.col1] += 1
                    assert w.width <= 256 and w.height <= 256
                    assert w.width == -(-(w.col1 - w.col0) // factor)
                    y += 1
                x += 1
            assert covered.min() == covered.max() == 1, z

    def test_a_small_frame_is_padded_to_one_tile(self) -> None:
        tile = render_tile(np.full((10, 20, 3), 7, np.uint8), 0, 0, 0)
        assert tile.shape == (256, 256, 4)
        assert (tile[:10, :20] == [7, 7, 7, 255]).all()
        assert tile[10:, :, :].max() == 0 and tile[:, 20:, :].max() == 0

    def test_sixteen_bit_frames_become_eight_bit(self) -> None:
        tile = render_tile(np.full((4, 4), 65535, np.uint16), 0, 0, 0)
        assert tile[0, 0, 0] == 255

    def test_outside_the_pyramid(self) -> None:
        with pytest.raises(TileNotFound):
            tile_window(100, 100, 1, 0, 0)
        with pytest.raises(TileNotFound):
            tile_window(100, 100, 0, 1, 0)


class TestMemberNames:
    @pytest.mark.parametrize(("name", "base"), [
        ("a.png", "a.png"), ("d/e/a.png", "a.png"), ("../a.png", None), ("/a.png", None),
        ("a/../../b.png", None), ("C:/a.png", None), ("a\\b.png", None), ("a\x00.png", None),
        ("./a.png", None), ("dir/", None), ("x" * 256, None),
    ])
    def test_safe_member_name(self, name: str, base: str | None) -> None:
        assert safe_member_name(name) == base

    def test_a_zip_of_too_many_members_is_refused(self) -> None:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as archive:
            for i in range(3):
                archive.writestr(f"{i}.png", b"x")
        with pytest.raises(ArchiveRefused):
            add_archive(Upload(), "a.zip", io.BytesIO(out.getvalue()), ImportLimits(max_members=2))

    def test_an_encrypted_member_is_rejected(self) -> None:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as archive:
            info = zipfile.ZipInfo("secret.png")
            archive.writestr(info, b"x")
        data = bytearray(out.getvalue())
        for marker in (b"PK\x03\x04", b"PK\x01\x02"):  # set the encryption flag in both headers
            at = data.index(marker)
            offset = 6 if marker == b"PK\x03\x04" else 8
            data[at + offset] |= 1
        upload = Upload()
        add_archive(upload, "e.zip", io.BytesIO(bytes(data)), ImportLimits())
        assert upload.candidates == [] and "encrypted" in upload.rejected[0].reason


class TestMetadata:
    def test_a_row_wins_over_the_form(self) -> None:
        form = metadata_of({"sample_id": "form", "acq_id": "a", "latitude": "1"})
        row = metadata_of({"sample_id": "row", "latitude": "", "datetime": "2026-01-02T03:04:05"},
                          form)
        assert (row.sample_id, row.acq_id, row.latitude) == ("row", "a", 1.0)
        assert row.taken_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

    @pytest.mark.parametrize("values", [
        {"latitude": "91"}, {"longitude": "nan"}, {"depth_min": "x"}, {"date": "2026-13-01"},
        {"time": "10:00"}, {"date": "2026-01-01", "time": "25:00"}, {"sample_id": "a\tb"},
        {"sample_id": "s" * 101}, {"datetime": "soon"}, {"depth_min": "5", "depth_max": "1"},
    ])
    def test_bad_values_are_named(self, values: dict[str, str]) -> None:
        with pytest.raises(InvalidFrameMetadata):
            metadata_of(values)

    def test_an_ecotaxa_types_row_is_skipped(self) -> None:
        table = read_metadata_table("m.tsv", b"img_file_name\tobject_lat\n[t]\t[f]\na.png\t4\n")
        assert table.rows == {"a.png": {"file_name": "a.png", "latitude": "4"}}

    def test_a_repeated_file_name_is_reported(self) -> None:
        table = read_metadata_table("m.csv", b"file_name,sample_id\na.png,1\na.png,2\n")
        assert table.rows["a.png"]["sample_id"] == "1"
        assert "repeats" in table.problems[0].reason
