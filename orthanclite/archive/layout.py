"""Folder and file names inside archives, as Orthanc 1.10.1 lays them out.

An archive contains ``{PatientID} {PatientName}/{AccessionNumber}
{StudyDescription}/{Modality} {SeriesDescription}/{MM}{nnnnnn}.dcm``. Sibling
folders are sorted by Orthanc ID, and the instances of a series keep their
insertion order. Media archives hold the same instances, in the same order,
as ``IMAGES/IM0``, ``IMAGES/IM1``... next to a DICOMDIR.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

_UNWANTED = re.compile(r"[^A-Za-z0-9 _.]")
_SPACES = re.compile(r" +")

# Main tags that name the folder of each level, in order.
FOLDER_TAGS = {
    "Patient": ("PatientID", "PatientName"),
    "Study": ("AccessionNumber", "StudyDescription"),
    "Series": ("Modality", "SeriesDescription"),
}


def clean_name(text: str) -> str:
    """Reduce a name to the characters Orthanc keeps in archive paths.

    ``^`` becomes a space, everything but ASCII letters, digits, space,
    ``_`` and ``.`` is dropped, and runs of spaces shrink to one.
    """
    text = _UNWANTED.sub("", text.replace("^", " "))
    return _SPACES.sub(" ", text).strip()


def folder_name(level_name: str, tags: Mapping[str, Any]) -> str:
    """Return the folder of a patient, study or series (``Unknown Study``...)."""
    parts = (str(tags.get(keyword) or "") for keyword in FOLDER_TAGS[level_name])
    name = clean_name(" ".join(parts))
    # A name made of dots only ("..") would climb out of the extraction
    # folder; Orthanc 1.10.1 keeps it, orthanclite treats it as empty.
    if not name.strip("."):
        return f"Unknown {level_name}"
    return name


def file_name_pattern(modality: str) -> str:
    """Return the format of the file names of a series, from its Modality.

    The first two letters of the modality are followed by a 6-digit counter;
    with no modality, the name is an 8-digit counter.
    """
    prefix = clean_name(modality).replace(" ", "")[:2].upper()
    return prefix + "{:0" + str(8 - len(prefix)) + "d}.dcm"


class UniqueNames:
    """Make folder names unique within their parent folder, as Orthanc does.

    The second ``OT Same`` below the same parent becomes ``OT Same-2``, the
    third ``OT Same-3``.
    """

    def __init__(self) -> None:
        self._seen: Counter[tuple[str, str]] = Counter()

    def unique(self, parent: str, name: str) -> str:
        self._seen[parent, name] += 1
        count = self._seen[parent, name]
        return name if count == 1 else f"{name}-{count}"


@dataclass(frozen=True, slots=True)
class Branch:
    """The patient, study and series above one instance, from the index."""

    patient_id: str
    patient_tags: Mapping[str, Any]
    study_id: str
    study_tags: Mapping[str, Any]
    series_id: str
    series_tags: Mapping[str, Any]


def archive_order(items: Iterable[tuple[Branch, int]]) -> list[int]:
    """Return the positions of the items in archive order.

    Patients, studies and series are sorted by Orthanc ID, instances by
    insertion order (their index row, the second member of each item).
    """
    keyed = [
        (branch.patient_id, branch.study_id, branch.series_id, row, position)
        for position, (branch, row) in enumerate(items)
    ]
    keyed.sort()
    return [key[-1] for key in keyed]


def archive_names(branches: Iterable[Branch]) -> Iterator[str]:
    """Yield the ZIP member name of each instance, given in archive order."""
    unique = UniqueNames()
    folders: dict[tuple[str, ...], str] = {}
    counters: Counter[str] = Counter()
    patterns: dict[str, str] = {}
    for branch in branches:
        patient_key = (branch.patient_id,)
        if patient_key not in folders:
            folders[patient_key] = unique.unique(
                "", folder_name("Patient", branch.patient_tags)
            )
        patient = folders[patient_key]

        study_key = (branch.patient_id, branch.study_id)
        if study_key not in folders:
            folders[study_key] = unique.unique(
                patient, folder_name("Study", branch.study_tags)
            )
        study = folders[study_key]

        series_key = (branch.patient_id, branch.study_id, branch.series_id)
        if series_key not in folders:
            path = f"{patient}/{study}"
            name = unique.unique(path, folder_name("Series", branch.series_tags))
            folders[series_key] = f"{patient}/{study}/{name}"
            patterns[branch.series_id] = file_name_pattern(
                str(branch.series_tags.get("Modality") or "")
            )
        series = folders[series_key]

        number = counters[series]
        counters[series] += 1
        yield f"{series}/{patterns[branch.series_id].format(number)}"


def media_names(count: int) -> Iterator[str]:
    """Yield the member names of the instances of a media archive."""
    for number in range(count):
        yield f"IMAGES/IM{number}"
