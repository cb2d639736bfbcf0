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
from collections.abc import Mapping
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


class ArchiveLayout:
    """Names the ZIP members of instances given in archive order.

    Patients, studies and series must come sorted by Orthanc ID, and the
    instances of a series together, in insertion order.
    """

    def __init__(self) -> None:
        self._unique = UniqueNames()
        self._folders: dict[tuple[str, ...], str] = {}
        self._counters: Counter[str] = Counter()
        self._patterns: dict[str, str] = {}

    def member_name(self, branch: Branch) -> str:
        """Return the member name of the next instance of ``branch``."""
        patient = self._folder((branch.patient_id,), "", "Patient", branch.patient_tags)
        study = self._folder(
            (branch.patient_id, branch.study_id), patient, "Study", branch.study_tags
        )
        series_key = (branch.patient_id, branch.study_id, branch.series_id)
        series = self._folder(
            series_key, f"{patient}/{study}", "Series", branch.series_tags
        )
        if series_key not in self._patterns:
            modality = str(branch.series_tags.get("Modality") or "")
            self._patterns[series_key] = file_name_pattern(modality)

        path = f"{patient}/{study}/{series}"
        number = self._counters[path]
        self._counters[path] += 1
        return f"{path}/{self._patterns[series_key].format(number)}"

    def _folder(
        self,
        key: tuple[str, ...],
        parent: str,
        level_name: str,
        tags: Mapping[str, Any],
    ) -> str:
        if key not in self._folders:
            name = folder_name(level_name, tags)
            self._folders[key] = self._unique.unique(parent, name)
        return self._folders[key]


def media_name(number: int) -> str:
    """Return the member name of the instance ``number`` of a media archive."""
    return f"IMAGES/IM{number}"
