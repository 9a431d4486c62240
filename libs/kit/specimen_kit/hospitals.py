"""A hospital's identity: the stable public id every service derives from its name the same way.

The users service keeps the list of hospitals; tokens, users and scans name a hospital by its id,
the slug of the name it was created with. Every service computes the slug with
:func:`hospital_slug`, so they agree without reading each other's tables, and because the slug
is idempotent an id passed through it again (an old token, a client sending the id) is unchanged.

The rules: Unicode NFKC, case folded, NFKC again (folding can leave text that is not NFKC); every
run of characters that are not letters, combining marks or digits becomes one ``-``; ``-`` at
either end is dropped. Letters of every script are kept, so "Hôpital Saint-Luc" is
``hôpital-saint-luc``, never ``hopital-saint-luc`` or an empty id for a name in Greek.

>>> hospital_slug("  Newcomer Clinic ")
'newcomer-clinic'
>>> hospital_slug(hospital_slug("Hôpital  Saint_Luc!"))
'hôpital-saint-luc'
"""

from __future__ import annotations

import hashlib
import unicodedata

from specimen_kit.errors import Problem

MAX_HOSPITAL_NAME_CHARS = 120
"""The longest display name of a hospital, once trimmed."""

MAX_HOSPITAL_ID_CHARS = 120
"""The longest id; NFKC and case folding can lengthen a name (``ß`` → ``ss``), so it is checked
on the slug too."""


_KEPT_CATEGORIES = ("L", "M", "N")  # letters, combining marks, digits (Unicode categories)


class InvalidHospitalName(Problem):
    """A hospital name (or id) that gives no usable id: empty, only punctuation, too long (422)."""

    status = 422
    title = "Invalid hospital name"
    slug = "invalid-hospital-name"


def hospital_slug(name: str) -> str:
    """The hospital id of ``name``; idempotent (``hospital_slug(hospital_slug(x)) == hospital_slug(x)``).

    Parameters
    ----------
    name : str
        A hospital's display name, or an id already.

    Returns
    -------
    str
        1 to :data:`MAX_HOSPITAL_ID_CHARS` characters: case-folded letters, marks and digits of
        any script, single ``-`` between the words.

    Raises
    ------
    InvalidHospitalName
        The name holds no letter or digit, or its slug is longer than the limit.

    Examples
    --------
    >>> hospital_slug("General"), hospital_slug("newcomer clinic "), hospital_slug("ΑΧΕΠΑ")
    ('general', 'newcomer-clinic', 'αχεπα')
    """
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
    words: list[str] = []
    word: list[str] = []
    for char in folded:
        if unicodedata.category(char).startswith(_KEPT_CATEGORIES):
            word.append(char)
        elif word:
            words.append("".join(word))
            word = []
    if word:
        words.append("".join(word))
    slug = "-".join(words)
    if not slug:
        raise InvalidHospitalName(
            f"The hospital {name!r} has no letter or digit to make an id of; give its name.")
    if len(slug) > MAX_HOSPITAL_ID_CHARS:
        raise InvalidHospitalName(
            f"The hospital's id would have {len(slug)} characters; the limit is "
            f"{MAX_HOSPITAL_ID_CHARS}. Give a shorter name.")
    return slug


def hospital_name(name: str) -> str:
    """A display name as stored: trimmed, 1 to :data:`MAX_HOSPITAL_NAME_CHARS` characters, no
    control characters, and with an id (:func:`hospital_slug` does not raise on it).

    >>> hospital_name("  Newcomer Clinic ")
    'Newcomer Clinic'
    """
    trimmed = name.strip()
    if not 1 <= len(trimmed) <= MAX_HOSPITAL_NAME_CHARS:
        raise InvalidHospitalName(
            f"A hospital's name must have 1 to {MAX_HOSPITAL_NAME_CHARS} characters once "
            f"trimmed, not {len(trimmed)}.")
    if any(unicodedata.category(char) == "Cc" for char in trimmed):
        raise InvalidHospitalName("A hospital's name must not contain control characters.")
    hospital_slug(trimmed)
    return trimmed


def legacy_hospital_id(value: str) -> str:
    """The id a free-text hospital of before the managed list becomes, in every service's
    migration alike: its slug, or, when it makes none (only punctuation, or too long once
    folded), ``hospital-`` and the first 12 hex digits of the SHA-256 of the value as stored.

    Computed from the value alone, so the users and classify migrations agree without reading
    each other's tables.

    >>> legacy_hospital_id(" Saint-Luc"), legacy_hospital_id("***")
    ('saint-luc', 'hospital-596f4162a52f')
    """
    try:
        return hospital_slug(value)
    except InvalidHospitalName:
        return "hospital-" + hashlib.sha256(value.encode("utf-8")).hexdigest()[:12]
