"""Parse an uploaded file once: identifiers, main tags and store metadata.

The dataset is read up to the Pixel Data, which is only checked for
completeness, so parsing costs the same for a 1 KB report and a 1 GB
multi-frame file.
"""

from __future__ import annotations

import io
import logging
import struct
from dataclasses import dataclass, field
from typing import BinaryIO

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filewriter import write_file_meta_info
from pydicom.datadict import tag_for_keyword
from pydicom.errors import InvalidDicomError

from orthanclite.dicom.charset import python_encodings
from orthanclite.dicom.identifiers import ResourceIds
from orthanclite.dicom.levels import Level
from orthanclite.dicom.main_tags import MAIN_TAGS, MAX_MAIN_TAG_LENGTH, index_in_series
from orthanclite.dicom.values import element_string

logger = logging.getLogger(__name__)

MEDIA_STORAGE_DIRECTORY_SOP_CLASS = "1.2.840.10008.1.3.10"
IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
EXPLICIT_VR_BIG_ENDIAN = "1.2.840.10008.1.2.2"
# UID under which orthanclite writes the File Meta of files it completes.
IMPLEMENTATION_CLASS_UID = "1.2.826.0.1.3680043.10.1483.1"

# Values larger than this are not loaded while parsing (only their bounds
# are checked), so a huge private blob before the pixels costs no memory.
DEFER_SIZE = 64 * 1024
UNDEFINED_LENGTH = 0xFFFFFFFF
PIXEL_DATA_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)
ITEM_TAG = 0xFFFEE000
SEQUENCE_DELIMITER_TAG = 0xFFFEE0DD


class DicomParseError(ValueError):
    """The bytes are not a DICOM instance that can be stored."""


class DicomDirectoryError(DicomParseError):
    """The file is a DICOMDIR, which describes media and is not an instance."""


@dataclass(slots=True)
class ParsedInstance:
    """Identifiers, main tags and store metadata of one parsed DICOM instance."""

    ids: ResourceIds
    main_tags: dict[Level, dict[str, str]]
    transfer_syntax: str
    sop_class_uid: str
    index_in_series: int | None
    has_file_meta: bool
    encodings: list[str] = field(default_factory=list)
    # Offset of the Pixel Data element in the file (Orthanc's PixelDataOffset).
    pixel_data_offset: int | None = None


def parse_instance(
    fp: BinaryIO, size: int, default_encoding: str = "Latin1"
) -> ParsedInstance:
    """Parse the DICOM file in ``fp`` (``size`` bytes), positioned at its start.

    Raises
    ------
    DicomParseError
        If the file is empty, not DICOM, truncated, or lacks one of the
        Study, Series or SOP Instance UIDs.
    """
    try:
        return _parse_instance(fp, size, default_encoding)
    except DicomParseError:
        raise
    except RecursionError:
        raise DicomParseError("The DICOM file is too deeply nested to parse") from None
    except Exception as error:
        # pydicom converts values when they are first read, after dcmread
        # returned, and raises many types on a corrupt value.
        logger.debug("Cannot parse an uploaded file", exc_info=True)
        raise DicomParseError(
            f"Cannot parse an invalid DICOM file (size: {size} bytes): {error}"
        ) from None


def _parse_instance(fp: BinaryIO, size: int, default_encoding: str) -> ParsedInstance:
    if size == 0:
        raise DicomParseError("Received an empty DICOM file")
    dataset, forced = _read_dataset(fp, size)
    try:
        pixel_data_offset = _check_complete(dataset, fp, size)
    except DicomParseError:
        if forced:
            # Without a DICM header, bytes that run past the end are
            # most likely not DICOM at all.
            raise DicomParseError(
                f"Cannot parse an invalid DICOM file (size: {size} bytes)"
            ) from None
        raise

    file_meta = getattr(dataset, "file_meta", None) or Dataset()
    sop_class = str(file_meta.get("MediaStorageSOPClassUID", "") or "")
    if sop_class == MEDIA_STORAGE_DIRECTORY_SOP_CLASS or "DirectoryRecordSequence" in dataset:
        raise DicomDirectoryError(
            "This is a DICOMDIR, which cannot be stored; upload the files it indexes"
        )

    charset_element = dataset.get_item(0x00080005)
    charset = _charset_terms(charset_element)
    encodings = python_encodings(charset, default_encoding)

    def text(keyword: str) -> str:
        element = dataset.get_item(tag_for_keyword(keyword))
        if element is None:
            return ""
        return element_string(element, encodings) or ""

    patient_id = text("PatientID")
    study_uid, series_uid, sop_uid = (
        text("StudyInstanceUID"),
        text("SeriesInstanceUID"),
        text("SOPInstanceUID"),
    )
    if not (study_uid and series_uid and sop_uid):
        if forced:
            raise DicomParseError(f"Cannot parse an invalid DICOM file (size: {size} bytes)")
        raise DicomParseError(
            "missing StudyInstanceUID, SeriesInstanceUID or SOPInstanceUID"
        )

    main_tags = {level: _main_tags(dataset, level, encodings) for level in Level}
    return ParsedInstance(
        ids=ResourceIds.compute(patient_id, study_uid, series_uid, sop_uid),
        main_tags=main_tags,
        transfer_syntax=_transfer_syntax(dataset, file_meta),
        sop_class_uid=text("SOPClassUID"),
        index_in_series=index_in_series(main_tags[Level.INSTANCE]),
        has_file_meta=not forced and bool(file_meta),
        encodings=encodings,
        pixel_data_offset=pixel_data_offset,
    )


def _read_dataset(fp: BinaryIO, size: int) -> tuple[Dataset, bool]:
    """Read the dataset up to the pixels; fall back to files without a header."""
    start = fp.tell()
    try:
        return _dcmread(fp, force=False), False
    except InvalidDicomError:
        fp.seek(start)
    except DicomParseError:
        raise
    return _dcmread(fp, force=True, size=size), True


def _dcmread(fp: BinaryIO, force: bool, size: int | None = None) -> Dataset:
    try:
        dataset = pydicom.dcmread(
            fp, stop_before_pixels=True, defer_size=DEFER_SIZE, force=force
        )
    except InvalidDicomError:
        if force:
            raise DicomParseError(
                f"Cannot parse an invalid DICOM file (size: {size} bytes)"
            ) from None
        raise
    except (RecursionError, MemoryError) as error:
        raise DicomParseError(
            f"The DICOM file is too deeply nested or too large to parse: {type(error).__name__}"
        ) from None
    except Exception as error:  # pydicom raises many types on corrupt input
        fp.seek(0, 2)
        raise DicomParseError(
            f"Cannot parse an invalid DICOM file (size: {fp.tell()} bytes): {error}"
        ) from None
    if len(dataset) == 0 and not dataset.file_meta:
        raise DicomParseError(
            f"Cannot parse an invalid DICOM file (size: {size or fp.tell()} bytes)"
        )
    return dataset


def _check_complete(dataset: Dataset, fp: BinaryIO, size: int) -> int | None:
    """Reject a file whose last values or pixel data run past its end.

    pydicom reads a truncated file without complaint, so the declared lengths
    of the top-level values and of the Pixel Data are checked against the size.
    Returns the offset of the Pixel Data element, if there is one.
    """
    truncated = DicomParseError(f"The DICOM file is truncated (size: {size} bytes)")
    last_end = 0
    for element in dataset._dict.values():
        if not isinstance(element, RawDataElement) or element.length == UNDEFINED_LENGTH:
            continue
        end = element.value_tell + element.length
        last_end = max(last_end, end)
        if element.value is None:
            if end > size:
                raise truncated
        elif len(element.value) < element.length:
            raise truncated

    position = fp.tell()
    header = fp.read(12)
    if len(header) < 8:
        # pydicom stops without a word at an element header cut short, after
        # reading it: a file ending 1 to 7 bytes past its last element has one.
        # An undefined-length sequence at the end leaves a gap of 16 or more.
        if 0 < size - last_end < 8 or 0 < len(header) < 8:
            raise truncated
        return None
    little_endian = dataset.original_encoding[1] is not False
    implicit = dataset.original_encoding[0] is True
    endian = "<" if little_endian else ">"
    group, elem = struct.unpack(endian + "HH", header[:4])
    if (group << 16 | elem) not in PIXEL_DATA_TAGS:
        return None
    if implicit:
        length = struct.unpack(endian + "I", header[4:8])[0]
        value_start = position + 8
    elif header[4:6] in (b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"UN"):
        if len(header) < 12:
            raise truncated
        length = struct.unpack(endian + "I", header[8:12])[0]
        value_start = position + 12
    else:
        length = struct.unpack(endian + "H", header[6:8])[0]
        value_start = position + 8
    if length != UNDEFINED_LENGTH:
        if value_start + length > size:
            raise truncated
        return position
    _check_encapsulated_items(fp, value_start, size, endian, truncated)
    return position


def _check_encapsulated_items(
    fp: BinaryIO, offset: int, size: int, endian: str, truncated: DicomParseError
) -> None:
    """Walk the fragments of encapsulated Pixel Data up to its delimiter."""
    while True:
        fp.seek(offset)
        item = fp.read(8)
        if len(item) < 8:
            raise truncated
        group, elem, length = struct.unpack(endian + "HHI", item)
        tag = group << 16 | elem
        if tag == SEQUENCE_DELIMITER_TAG:
            return
        if tag != ITEM_TAG or length == UNDEFINED_LENGTH:
            raise DicomParseError("The encapsulated Pixel Data is malformed")
        offset += 8 + length
        if offset > size:
            raise truncated


def _charset_terms(element: RawDataElement | None) -> list[str] | None:
    if element is None:
        return None
    value = element.value
    if isinstance(value, bytes):
        text = value.decode("latin_1").strip(" \x00")
        return [term.strip() for term in text.split("\\")] if text else None
    if isinstance(value, str):
        return [value]
    return list(value) if value else None


def _main_tags(dataset: Dataset, level: Level, encodings: list[str]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for keyword in MAIN_TAGS[level]:
        element = dataset.get_item(tag_for_keyword(keyword))
        if element is None:
            continue
        value = element_string(element, encodings)
        if value is None or len(value) > MAX_MAIN_TAG_LENGTH:
            continue
        tags[keyword] = value
    return tags


def _transfer_syntax(dataset: Dataset, file_meta: Dataset) -> str:
    uid = file_meta.get("TransferSyntaxUID")
    if uid:
        return str(uid)
    implicit, little_endian = dataset.original_encoding
    if implicit:
        return IMPLICIT_VR_LITTLE_ENDIAN
    return EXPLICIT_VR_LITTLE_ENDIAN if little_endian is not False else EXPLICIT_VR_BIG_ENDIAN


def part10_header(parsed: ParsedInstance, sop_instance_uid: str) -> bytes:
    """Build the preamble, ``DICM`` prefix and File Meta group for a bare dataset.

    Files written by old modalities sometimes hold a dataset alone; prefixing
    this header makes them conformant Part 10 files with the same dataset.
    """
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = parsed.sop_class_uid
    meta.MediaStorageSOPInstanceUID = sop_instance_uid
    meta.TransferSyntaxUID = parsed.transfer_syntax
    meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = "ORTHANCLITE"
    buffer = io.BytesIO()
    buffer.write(b"\x00" * 128 + b"DICM")
    write_file_meta_info(buffer, meta, enforce_standard=True)
    return buffer.getvalue()
