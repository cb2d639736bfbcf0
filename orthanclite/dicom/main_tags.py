"""Orthanc's main DICOM tags: the values indexed for each resource level.

The lists are those that Orthanc 1.10.1 shows in ``MainDicomTags``, as
observed by uploading a file that contains every candidate tag.
"""

from __future__ import annotations

from orthanclite.dicom.levels import Level

PATIENT_TAGS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "OtherPatientIDs",
)
STUDY_TAGS = (
    "StudyDate",
    "StudyTime",
    "StudyID",
    "StudyDescription",
    "AccessionNumber",
    "StudyInstanceUID",
    "RequestedProcedureDescription",
    "InstitutionName",
    "RequestingPhysician",
    "ReferringPhysicianName",
)
SERIES_TAGS = (
    "SeriesDate",
    "SeriesTime",
    "Modality",
    "Manufacturer",
    "StationName",
    "SeriesDescription",
    "BodyPartExamined",
    "SequenceName",
    "ProtocolName",
    "SeriesNumber",
    "CardiacNumberOfImages",
    "ImagesInAcquisition",
    "NumberOfTemporalPositions",
    "NumberOfSlices",
    "NumberOfTimeSlices",
    "SeriesInstanceUID",
    "ImageOrientationPatient",
    "SeriesType",
    "OperatorsName",
    "PerformedProcedureStepDescription",
    "AcquisitionDeviceProcessingDescription",
    "ContrastBolusAgent",
)
INSTANCE_TAGS = (
    "InstanceCreationDate",
    "InstanceCreationTime",
    "AcquisitionNumber",
    "ImageIndex",
    "InstanceNumber",
    "NumberOfFrames",
    "TemporalPositionIdentifier",
    "SOPInstanceUID",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "ImageComments",
)

MAIN_TAGS: dict[Level, tuple[str, ...]] = {
    Level.PATIENT: PATIENT_TAGS,
    Level.STUDY: STUDY_TAGS,
    Level.SERIES: SERIES_TAGS,
    Level.INSTANCE: INSTANCE_TAGS,
}

# Orthanc drops a main tag whose value is longer than this many characters.
MAX_MAIN_TAG_LENGTH = 256


def index_in_series(instance_tags: dict[str, str]) -> int | None:
    """Return InstanceNumber (else ImageIndex) as an integer, as Orthanc does.

    Orthanc shows ``null`` when neither is present or the value is empty.
    """
    for keyword in ("InstanceNumber", "ImageIndex"):
        value = instance_tags.get(keyword, "").strip()
        if not value:
            continue
        try:
            return int(value)
        except ValueError:
            try:
                return int(float(value))
            except (ValueError, OverflowError):
                return None
    return None


def expected_instance_count(series_tags: dict[str, str]) -> int | None:
    """Return how many instances a series announces, or None if unknown.

    The count is ImagesInAcquisition times NumberOfTemporalPositions, else
    NumberOfSlices, else CardiacNumberOfImages.
    """

    def number(keyword: str) -> int | None:
        value = series_tags.get(keyword, "").strip()
        try:
            return int(value) if value else None
        except ValueError:
            return None

    images, positions = number("ImagesInAcquisition"), number("NumberOfTemporalPositions")
    if images is not None and positions is not None:
        return images * positions
    for keyword in ("NumberOfSlices", "CardiacNumberOfImages"):
        count = number(keyword)
        if count is not None:
            return count
    return None
