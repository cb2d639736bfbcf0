"""Values of the main tags as the ``dicom_identifiers`` table indexes them.

Design: every main tag of a resource that is present in its file, empty or
not, gets one row (resource, tag, case-folded value) in ``dicom_identifiers``,
with a covering index on (tag, value, resource_id). One narrow table serves
every tag, so that /tools/find and /tools/lookup on any main tag are an index
range scan followed by primary-key joins up to the requested level, and no
schema change is needed when a tag joins the searched set. Raw values stay in
``resources.main_tags`` for case-sensitive checks and for answers. Absent
tags have no row, so that ``*`` and open date ranges can tell an empty value
from a missing one, as Orthanc does.
"""

from __future__ import annotations

from pydicom.datadict import tag_for_keyword

from orthanclite.dicom.levels import Level
from orthanclite.dicom.main_tags import MAIN_TAGS
from orthanclite.dicom.matching import fold_case, tag_vr


def identifier_rows(
    level: Level,
    resource_id: int,
    tags: dict[str, str],
    patient_tags: dict[str, str] | None = None,
) -> list[dict]:
    """Return the ``dicom_identifiers`` rows of one resource's main tags.

    A study also gets rows for its own copy of the patient tags
    (``patient_tags``), because Orthanc matches patient tags at the study
    level and below against that copy: two studies of one PatientID can
    carry different names.
    """
    rows = []
    pairs = [(keyword, tags.get(keyword)) for keyword in MAIN_TAGS[level]]
    if patient_tags is not None:
        pairs += [
            (keyword, patient_tags.get(keyword)) for keyword in MAIN_TAGS[Level.PATIENT]
        ]
    for keyword, value in pairs:
        if value is None:
            continue
        tag = tag_for_keyword(keyword)
        rows.append(
            {
                "resource_id": resource_id,
                "tag": tag,
                "value": fold_case(tag_vr(tag), value),
            }
        )
    return rows
