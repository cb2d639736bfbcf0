"""Deterministic synthetic DICOM corpus for the benchmarks.

Every instance is built from a seed: the same seed and counts give the same
bytes, so orthanclite and Orthanc receive identical files and a run can be
repeated on another machine. The patients are fictitious (``BENCH^P000001``)
and the pixel data is a smooth phantom plus seeded noise.
"""

from __future__ import annotations

import datetime
import io
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
US_MULTIFRAME_STORAGE = "1.2.840.10008.5.1.4.1.1.3.1"
BASIC_TEXT_SR_STORAGE = "1.2.840.10008.5.1.4.1.1.88.11"
SECONDARY_CAPTURE_STORAGE = "1.2.840.10008.5.1.4.1.1.7"

# Modality of each series, in turn, over the whole corpus: image series
# dominate, one series in six is a multi-frame ultrasound and one a report.
SERIES_KINDS = ("CT", "MR", "CT", "US", "MR", "SR")
US_FRAMES = 10
US_ROWS, US_COLUMNS = 240, 320
FIRST_STUDY_DATE = datetime.date(2020, 1, 6)


@dataclass(frozen=True, slots=True)
class CorpusSpec:
    """Counts of a corpus and the seed its UIDs and pixels derive from.

    CT and MR series contain ``instances_per_series`` instances. An
    ultrasound series contains one multi-frame instance and a report series
    one report.
    """

    patients: int = 4
    studies_per_patient: int = 2
    series_per_study: int = 3
    instances_per_series: int = 20
    seed: int = 1


@dataclass(frozen=True, slots=True)
class CorpusFile:
    """One generated DICOM file and the UIDs that identify it."""

    kind: str
    patient_id: str
    study_uid: str
    series_uid: str
    sop_uid: str
    data: bytes


def deterministic_uid(*parts: object) -> str:
    """Derive a UID from ``parts``: equal parts always give the same UID."""
    return generate_uid(entropy_srcs=[str(part) for part in parts])


def patient_id(seed: int, patient: int) -> str:
    return f"BENCH{seed}-{patient:06d}"


def study_date(patient: int, study: int) -> str:
    day = FIRST_STUDY_DATE + datetime.timedelta(days=7 * (patient % 2000) + study)
    return day.strftime("%Y%m%d")


def generate_corpus(spec: CorpusSpec) -> Iterator[CorpusFile]:
    """Yield the instances of ``spec``, patient by patient, in a fixed order."""
    rng = np.random.default_rng(spec.seed)
    series_counter = 0
    for patient in range(spec.patients):
        for study in range(spec.studies_per_patient):
            study_ds = _study_dataset(spec.seed, patient, study)
            for series in range(spec.series_per_study):
                kind = SERIES_KINDS[series_counter % len(SERIES_KINDS)]
                series_counter += 1
                series_uid = deterministic_uid(
                    spec.seed, "series", patient, study, series
                )
                yield from _series_files(spec, kind, study_ds, series, series_uid, rng)


def write_corpus(spec: CorpusSpec, folder: Path) -> int:
    """Write the corpus as ``NNNNNN.dcm`` files into ``folder``; return the count."""
    folder.mkdir(parents=True, exist_ok=True)
    count = 0
    for count, item in enumerate(generate_corpus(spec), start=1):
        (folder / f"{count:06d}.dcm").write_bytes(item.data)
    return count


def _study_dataset(seed: int, patient: int, study: int) -> Dataset:
    ds = Dataset()
    ds.PatientID = patient_id(seed, patient)
    ds.PatientName = f"BENCH^P{patient:06d}"
    ds.PatientBirthDate = f"{1940 + patient % 60}0101"
    ds.PatientSex = "FO"[patient % 2]
    ds.StudyInstanceUID = deterministic_uid(seed, "study", patient, study)
    ds.StudyDate = study_date(patient, study)
    ds.StudyTime = "101500"
    ds.StudyID = str(study + 1)
    ds.AccessionNumber = f"A{seed}{patient:06d}{study:02d}"
    ds.StudyDescription = f"Benchmark study {study + 1}"
    ds.ReferringPhysicianName = ""
    ds.InstitutionName = "Benchmark Hospital"
    return ds


def _series_files(
    spec: CorpusSpec,
    kind: str,
    study_ds: Dataset,
    series: int,
    series_uid: str,
    rng: np.random.Generator,
) -> Iterator[CorpusFile]:
    count = spec.instances_per_series if kind in ("CT", "MR") else 1
    for number in range(count):
        ds = Dataset()
        ds.update(study_ds)
        ds.SeriesInstanceUID = series_uid
        ds.SeriesNumber = series + 1
        ds.SeriesDescription = f"{kind} series {series + 1}"
        ds.Modality = kind
        ds.InstanceNumber = number + 1
        ds.SOPInstanceUID = deterministic_uid(series_uid, "instance", number)
        if kind == "CT":
            _add_ct(ds, number, rng)
        elif kind == "MR":
            _add_mr(ds, number, rng)
        elif kind == "US":
            _add_us(ds, rng)
        else:
            _add_report(ds)
        yield CorpusFile(
            kind=kind,
            patient_id=str(ds.PatientID),
            study_uid=str(ds.StudyInstanceUID),
            series_uid=series_uid,
            sop_uid=str(ds.SOPInstanceUID),
            data=encode(ds),
        )


def _phantom(rows: int, columns: int, number: int) -> np.ndarray:
    """Draw a disc of value 1 on 0, its radius changing with the slice number."""
    y, x = np.ogrid[-1 : 1 : rows * 1j, -1 : 1 : columns * 1j]
    radius = 0.6 + 0.2 * np.sin(number / 7)
    return (x * x + y * y < radius * radius).astype(np.float32)


def _add_grayscale_image(
    ds: Dataset, rows: int, columns: int, pixels: np.ndarray
) -> None:
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = columns
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelSpacing = [0.7, 0.7]
    ds.PixelData = pixels.tobytes()


def _add_ct(ds: Dataset, number: int, rng: np.random.Generator) -> None:
    ds.SOPClassUID = CT_IMAGE_STORAGE
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SliceThickness = 1.0
    ds.ImagePositionPatient = [-180.0, -180.0, float(number)]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.RescaleIntercept = -1024
    ds.RescaleSlope = 1
    ds.WindowCenter = 40
    ds.WindowWidth = 400
    noise = rng.integers(0, 40, size=(512, 512), dtype=np.int16)
    pixels = (_phantom(512, 512, number) * 1064).astype(np.int16) + noise
    ds.PixelRepresentation = 1
    _add_grayscale_image(ds, 512, 512, pixels)


def _add_mr(ds: Dataset, number: int, rng: np.random.Generator) -> None:
    ds.SOPClassUID = MR_IMAGE_STORAGE
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M"]
    ds.SliceThickness = 3.0
    ds.ImagePositionPatient = [-120.0, -120.0, 3.0 * number]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.EchoTime = 90
    ds.RepetitionTime = 4000
    noise = rng.integers(0, 60, size=(256, 256), dtype=np.uint16)
    pixels = (_phantom(256, 256, number) * 900).astype(np.uint16) + noise
    ds.PixelRepresentation = 0
    _add_grayscale_image(ds, 256, 256, pixels)


def _add_us(ds: Dataset, rng: np.random.Generator) -> None:
    ds.SOPClassUID = US_MULTIFRAME_STORAGE
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    ds.Rows = US_ROWS
    ds.Columns = US_COLUMNS
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.NumberOfFrames = US_FRAMES
    ds.FrameTime = 33.3
    frames = rng.integers(
        0, 256, size=(US_FRAMES, US_ROWS, US_COLUMNS, 3), dtype=np.uint8
    )
    ds.PixelData = frames.tobytes()


def _add_report(ds: Dataset) -> None:
    ds.SOPClassUID = BASIC_TEXT_SR_STORAGE
    ds.ValueType = "CONTAINER"
    ds.ContinuityOfContent = "SEPARATE"
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "UNVERIFIED"
    title = Dataset()
    title.CodeValue = "18748-4"
    title.CodingSchemeDesignator = "LN"
    title.CodeMeaning = "Diagnostic imaging report"
    ds.ConceptNameCodeSequence = [title]
    finding = Dataset()
    finding.RelationshipType = "CONTAINS"
    finding.ValueType = "TEXT"
    finding.TextValue = "No acute abnormality. Synthetic benchmark report."
    ds.ContentSequence = [finding]


def small_instance(seed: int, index: int, per_patient: int = 100) -> bytes:
    """Build instance ``index`` of a fill set: no pixel data, about 1 KB.

    Each patient gets ``per_patient`` instances in 2 studies of 2 series.
    """
    patient, within = divmod(index, per_patient)
    study, within_study = divmod(within, per_patient // 2)
    series = within_study * 2 // (per_patient // 2)
    ds = _study_dataset(seed, patient, study)
    ds.SeriesInstanceUID = deterministic_uid(
        seed, "fill-series", patient, study, series
    )
    ds.SeriesNumber = series + 1
    ds.Modality = "OT"
    ds.InstanceNumber = within_study + 1
    ds.SOPInstanceUID = deterministic_uid(seed, "fill", index)
    ds.SOPClassUID = SECONDARY_CAPTURE_STORAGE
    return encode(ds)


def encode(ds: Dataset) -> bytes:
    """Write ``ds`` as a Part 10 file in Explicit VR Little Endian."""
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def write_large_multiframe(path: Path, size_mb: int, seed: int = 1) -> int:
    """Write a multi-frame CT of about ``size_mb`` MiB to ``path``; return its size.

    The header is written by pydicom and the pixel data is appended frame by
    frame, so the generator keeps at most one frame in memory.
    """
    frame_bytes = 512 * 512 * 2
    frames = max(1, size_mb * (1 << 20) // frame_bytes)
    ds = Dataset()
    ds.update(_study_dataset(seed, 999_999, 0))
    ds.SeriesInstanceUID = deterministic_uid(seed, "large-series", size_mb)
    ds.SeriesNumber = 1
    ds.Modality = "CT"
    ds.InstanceNumber = 1
    ds.SOPInstanceUID = deterministic_uid(seed, "large-instance", size_mb)
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2.1"  # Enhanced CT Image Storage
    ds.NumberOfFrames = frames
    _add_grayscale_image(ds, 512, 512, np.zeros(0, dtype=np.uint16))
    del ds.PixelData
    ds.PixelRepresentation = 0
    header = encode(ds)
    rng = np.random.default_rng(seed)
    with open(path, "wb") as fp:
        fp.write(header)
        # (7FE0,0010) OW with a 32-bit length, Explicit VR Little Endian.
        fp.write(struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW", 0, frames * frame_bytes))
        for number in range(frames):
            pixels = (_phantom(512, 512, number) * 1000).astype(np.uint16)
            pixels += rng.integers(0, 50, size=(512, 512), dtype=np.uint16)
            fp.write(pixels.tobytes())
    return path.stat().st_size
