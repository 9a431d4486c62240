"""The README's *Problem types* table lists exactly the problem types the code can answer.

Every problem is a :class:`specimen_kit.errors.Problem` subclass with a slug (the kit's own
answers for routing, limits and validation included), so importing every module of the kit,
the imaging library and the four services and reading the registry gives every ``type`` a
client can meet. A new error class without its README row fails here, and so does a row left
behind by a removed class.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from specimen_kit.errors import ProblemType, load_problem_types

README = Path(__file__).resolve().parents[1] / "README.md"
PACKAGES = ("specimen_kit", "specimen_imaging", "specimen_gateway", "specimen_users",
            "specimen_segment", "specimen_classify")
_ROW = re.compile(r"^\| `(?P<slug>[a-z0-9-]+)` \| (?P<status>\d{3}) \| (?P<meaning>.+) \|$")

CODE_TYPES = load_problem_types(PACKAGES)


def _readme_rows() -> dict[str, int]:
    text = README.read_text(encoding="utf-8")
    section = text.split("<!-- problem-types:start -->", 1)[1].split("<!-- problem-types:end -->")[0]
    rows = {}
    for line in section.splitlines():
        found = _ROW.match(line)
        if found:
            assert found["slug"] not in rows, f"{found['slug']} is in the README table twice"
            rows[found["slug"]] = int(found["status"])
    return rows


def _row(kind: ProblemType) -> str:
    return f"| `{kind.slug}` | {kind.status} | {kind.meaning.replace('``', '`')} |"


def test_the_registry_sees_every_service() -> None:
    modules = {name.split(".")[0] for kind in CODE_TYPES for name in kind.classes}
    assert modules >= {"specimen_kit", "specimen_gateway", "specimen_users", "specimen_segment",
                       "specimen_classify"}


def test_every_problem_type_of_the_code_is_in_the_readme() -> None:
    rows = _readme_rows()
    missing = [kind for kind in CODE_TYPES if kind.slug not in rows]
    assert not missing, "add to the README's Problem types:\n" + "\n".join(map(_row, missing))
    wrong = {kind.slug: (rows[kind.slug], kind.status) for kind in CODE_TYPES
             if rows[kind.slug] != kind.status}
    assert not wrong, f"README status vs code status: {wrong}"


def test_every_readme_row_is_a_type_of_the_code() -> None:
    known = {kind.slug for kind in CODE_TYPES}
    assert sorted(set(_readme_rows()) - known) == []


def _titles() -> list[object]:
    by_title: dict[str, set[str]] = {}
    for kind in CODE_TYPES:
        by_title.setdefault(kind.title, set()).add(kind.slug)
    return [pytest.param(title, sorted(slugs), id=title) for title, slugs in sorted(by_title.items())]


@pytest.mark.parametrize(("title", "slugs"), _titles())
def test_one_condition_has_one_type(title: str, slugs: list[str]) -> None:
    """Two types with one title are one condition named twice (issue 10: `forbidden` here,
    `action-forbidden` there)."""
    assert len(slugs) == 1, f"{title!r} is answered as {slugs}: pick one type"
