"""DICOMDIR of a media archive, written record by record into a temporary file.

pydicom's ``FileSet`` picks its own file names and record types. So the
DICOMDIR is written here with pydicom's lower-level element writers, in the
layout of Orthanc 1.10.1: FileSetID ``ORTHANC_MEDIA``, then PATIENT, STUDY,
SERIES and IMAGE records in depth-first order, each item of undefined length.
The records go to a temporary file, so a DICOMDIR of 70,000 images does
not sit in memory.

Record offsets count bytes from the start of the file (preamble included).
A record's *Offset of the Next Directory Record* is filled in when its next
sibling is written, and its *Offset of Referenced Lower Level Directory
Entity* when its first child is written.
"""

from __future__ import annotations

import struct
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomFileLike
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.uid import (
    ExplicitVRLittleEndian,
    MediaStorageDirectoryStorage,
    generate_uid,
)

FILE_SET_ID = "ORTHANC_MEDIA"
# Positions of the values of the two forward offsets, counted from the item
# tag of a record. The item header takes 8 bytes and each element header 8.
# (0004,1400) UL comes first, then (0004,1410) US (10 bytes), then
# (0004,1420) UL.
NEXT_OFFSET_POSITION = 8 + 8
LOWER_OFFSET_POSITION = 8 + 12 + 10 + 8
ITEM_START = struct.pack("<HHL", 0xFFFE, 0xE000, 0xFFFFFFFF)
ITEM_END = struct.pack("<HHL", 0xFFFE, 0xE00D, 0)
SEQUENCE_START = struct.pack("<HH2sHL", 0x0004, 0x1220, b"SQ", 0, 0xFFFFFFFF)
SEQUENCE_END = struct.pack("<HHL", 0xFFFE, 0xE0DD, 0)
LEVELS = ("PATIENT", "STUDY", "SERIES", "IMAGE")


@dataclass(frozen=True, slots=True)
class MediaInstance:
    """Values of one instance that its DICOMDIR records are built from."""

    file_id: tuple[str, ...]
    patient_key: str
    patient_tags: Mapping[str, Any]
    study_key: str
    study_tags: Mapping[str, Any]
    series_key: str
    series_tags: Mapping[str, Any]
    sop_instance_uid: str
    instance_number: str
    sop_class_uid: str
    transfer_syntax_uid: str


def record_charset(values: list[str]) -> str:
    """Return the Specific Character Set that can encode every value.

    Orthanc writes ``ISO_IR 100`` (its default Latin-1 encoding); text outside
    Latin-1 needs UTF-8 (``ISO_IR 192``).
    """
    try:
        "".join(values).encode("latin_1")
    except UnicodeEncodeError:
        return "ISO_IR 192"
    return "ISO_IR 100"


class DicomDirWriter:
    """Writes a DICOMDIR while the instances of a media archive are added.

    Instances must come grouped by patient, study and series, as in the
    archive. ``finish`` returns the complete file, positioned at its start.
    """

    def __init__(self, extended: bool = False, now: datetime | None = None) -> None:
        self.extended = extended
        self.now = now or datetime.now()
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 (closed by the archive)
        self._fp = DicomFileLike(self._file)
        self._fp.is_little_endian = True
        self._fp.is_implicit_VR = False
        self._keys: list[str | None] = [None] * 4
        # File position of the last record written at each level below the
        # current parent, or None when the parent has no child yet.
        self._last: list[int | None] = [None] * 4
        self._first_root: int | None = None
        self._write_header()

    def _write_header(self) -> None:
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MediaStorageDirectoryStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        self._fp.write(b"\x00" * 128 + b"DICM")
        write_file_meta_info(self._fp, meta, enforce_standard=True)

        header = Dataset()
        header.FileSetID = FILE_SET_ID
        header.add_new(0x00041200, "UL", 0)
        header.add_new(0x00041202, "UL", 0)
        header.add_new(0x00041212, "US", 0)
        write_dataset(self._fp, header[:0x00041200])
        self._offsets_position = self._fp.tell()
        write_dataset(self._fp, header[0x00041200:])
        self._fp.write(SEQUENCE_START)

    def add(self, instance: MediaInstance) -> None:
        """Write the records of one instance, and of its parents when new."""
        keys = (instance.patient_key, instance.study_key, instance.series_key)
        builders = (self._patient_record, self._study_record, self._series_record)
        for depth, key in enumerate(keys):
            if self._keys[depth] != key:
                self._write_record(depth, builders[depth](instance))
                self._keys[depth] = key
                self._keys[depth + 1 :] = [None] * (3 - depth)
                self._last[depth + 1 :] = [None] * (3 - depth)
        self._write_record(3, self._image_record(instance))

    def finish(self) -> tuple[BinaryIO, int]:
        """Close the record sequence and return the file and its size."""
        self._fp.write(SEQUENCE_END)
        size = self._fp.tell()
        if self._first_root is not None and self._last[0] is not None:
            self._file.seek(self._offsets_position + 8)
            self._file.write(struct.pack("<L", self._first_root))
            self._file.seek(self._offsets_position + 12 + 8)
            self._file.write(struct.pack("<L", self._last[0]))
        self._file.seek(0)
        return self._file, size

    def close(self) -> None:
        self._file.close()

    def _write_record(self, depth: int, record: Dataset) -> None:
        position = self._fp.tell()
        self._fp.write(ITEM_START)
        write_dataset(self._fp, record)
        self._fp.write(ITEM_END)
        end = self._fp.tell()

        previous = self._last[depth]
        if previous is not None:
            self._patch(previous + NEXT_OFFSET_POSITION, position)
        elif depth > 0:
            parent = self._last[depth - 1]
            assert parent is not None, "a record below the root has a parent"
            self._patch(parent + LOWER_OFFSET_POSITION, position)
        elif self._first_root is None:
            self._first_root = position
        self._last[depth] = position
        self._fp.seek(end)

    def _patch(self, position: int, value: int) -> None:
        self._fp.seek(position)
        self._fp.write(struct.pack("<L", value))

    def _new_record(self, record_type: str, texts: list[str]) -> Dataset:
        record = Dataset()
        record.OffsetOfTheNextDirectoryRecord = 0
        record.RecordInUseFlag = 0xFFFF
        record.OffsetOfReferencedLowerLevelDirectoryEntity = 0
        record.DirectoryRecordType = record_type
        record.SpecificCharacterSet = record_charset(texts)
        return record

    def _patient_record(self, instance: MediaInstance) -> Dataset:
        tags = instance.patient_tags
        name, patient_id = _text(tags, "PatientName"), _text(tags, "PatientID")
        record = self._new_record("PATIENT", [name, patient_id])
        record.PatientName = name
        # PatientID is type 1, but files without one exist: it stays empty.
        record.PatientID = patient_id
        return record

    def _study_record(self, instance: MediaInstance) -> Dataset:
        tags = instance.study_tags
        texts = [
            _text(tags, k) for k in ("AccessionNumber", "StudyDescription", "StudyID")
        ]
        record = self._new_record("STUDY", texts)
        # StudyDate and StudyTime are type 1: like DCMTK, use the current time
        # when the study has none.
        record.StudyDate = _text(tags, "StudyDate") or self.now.strftime("%Y%m%d")
        record.StudyTime = _text(tags, "StudyTime") or self.now.strftime("%H%M%S.%f")
        record.AccessionNumber = texts[0]
        record.StudyDescription = texts[1]
        record.StudyInstanceUID = _text(tags, "StudyInstanceUID")
        if texts[2]:
            record.StudyID = texts[2]
        return record

    def _series_record(self, instance: MediaInstance) -> Dataset:
        tags = instance.series_tags
        description = _text(tags, "SeriesDescription")
        record = self._new_record("SERIES", [description])
        record.Modality = _text(tags, "Modality")
        record.SeriesInstanceUID = _text(tags, "SeriesInstanceUID")
        if _text(tags, "SeriesNumber"):
            record.SeriesNumber = _text(tags, "SeriesNumber")
        if self.extended:
            record.SeriesDescription = description
        return record

    def _image_record(self, instance: MediaInstance) -> Dataset:
        record = self._new_record("IMAGE", [])
        record.ReferencedFileID = list(instance.file_id)
        record.ReferencedSOPClassUIDInFile = instance.sop_class_uid
        record.ReferencedSOPInstanceUIDInFile = instance.sop_instance_uid
        record.ReferencedTransferSyntaxUIDInFile = instance.transfer_syntax_uid
        number = instance.instance_number.strip()
        # An IS value that is not an integer (a damaged file) is left out
        # rather than failing the archive after its first bytes are sent.
        if _is_integer_string(number):
            record.InstanceNumber = number
        return record


def _is_integer_string(text: str) -> bool:
    digits = text[1:] if text[:1] in "+-" else text
    return digits.isascii() and digits.isdigit() and len(text) <= 12


def _text(tags: Mapping[str, Any], keyword: str) -> str:
    value = tags.get(keyword)
    return value.strip() if isinstance(value, str) else ""
