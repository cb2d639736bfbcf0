"""Orthanc's public identifiers of patients, studies, series and instances.

Orthanc 1.10.1 names each resource with the SHA-1 of its identifying values
joined by ``|`` (PatientID, then StudyInstanceUID, SeriesInstanceUID and
SOPInstanceUID), written as 40 lowercase hex digits in five groups of eight.
The same file therefore gets the same identifiers in Orthanc and orthanclite.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


def hash_identifier(value: str) -> str:
    """Return Orthanc's public identifier for an identifying string."""
    digest = hashlib.sha1(value.encode("utf-8")).hexdigest()
    return "-".join(digest[i : i + 8] for i in range(0, 40, 8))


@dataclass(frozen=True, slots=True)
class ResourceIds:
    """Public identifiers of an instance and of its three ancestors."""

    patient: str
    study: str
    series: str
    instance: str

    @classmethod
    def compute(
        cls, patient_id: str, study_uid: str, series_uid: str, sop_instance_uid: str
    ) -> ResourceIds:
        study_key = f"{patient_id}|{study_uid}"
        series_key = f"{study_key}|{series_uid}"
        return cls(
            patient=hash_identifier(patient_id),
            study=hash_identifier(study_key),
            series=hash_identifier(series_key),
            instance=hash_identifier(f"{series_key}|{sop_instance_uid}"),
        )


def is_public_id(value: str) -> bool:
    """Tell whether ``value`` has the shape of an Orthanc public identifier."""
    if len(value) != 44:
        return False
    groups = value.split("-")
    return len(groups) == 5 and all(
        len(group) == 8 and all(c in "0123456789abcdef" for c in group)
        for group in groups
    )
