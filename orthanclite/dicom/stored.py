"""Stored DICOM files read for display: dataset, Pixel Data and what follows it.

A file is parsed up to its Pixel Data, which is only located (offset, VR,
items), never read, so showing the tags of a large image costs the same as
for a small one.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import DeflatedExplicitVRLittleEndian

from orthanclite.dicom.json_formats import NUMBER_FORMATS, raw_value

# Values larger than this stay on disk until a route needs their bytes.
DEFER_SIZE = 16 * 1024
UNDEFINED_LENGTH = 0xFFFFFFFF
PIXEL_DATA_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)
ITEM_TAG = 0xFFFEE000
SEQUENCE_DELIMITER_TAG = 0xFFFEE0DD
# VRs whose explicit header has a 4-byte length.
LONG_LENGTH_VRS = (
    b"OB",
    b"OW",
    b"OF",
    b"OD",
    b"OL",
    b"OV",
    b"UN",
    b"SQ",
    b"UC",
    b"UR",
    b"UT",
)


class StoredFileError(ValueError):
    """A stored file that can no longer be parsed as DICOM."""


@dataclass(slots=True)
class StoredDataset:
    """An instance's dataset read up to its Pixel Data."""

    path: Path
    dataset: Dataset
    file_meta: Dataset
    little_endian: bool
    implicit: bool
    # Offset of the Pixel Data element in the file, and its tag.
    pixel_offset: int | None
    pixel_tag: int | None
    # Elements stored after the Pixel Data, such as Data Set Trailing Padding.
    trailing: Dataset = field(default_factory=Dataset)
    # Pixel Data already in memory (deflated files only).
    pixel_element: Any = None
    # VR of the Pixel Data in explicit VR files (OB or OW).
    pixel_vr: str = ""
    # Full JSON form of the dataset per default encoding, computed on demand.
    tags_json: dict[str, dict[str, Any]] = field(default_factory=dict)


def read_stored_dataset(path: Path) -> StoredDataset:
    """Parse a stored file up to its Pixel Data.

    Raises
    ------
    OSError
        If the file cannot be read.
    StoredFileError
        If the file cannot be parsed as DICOM any more.
    """
    try:
        with open(path, "rb") as fp:
            deflated = _is_deflated(path)
            dataset = pydicom.dcmread(
                fp,
                stop_before_pixels=not deflated,
                force=True,
                defer_size=None if deflated else DEFER_SIZE,
            )
            if not any(tag >> 16 >= 0x0008 for tag in dataset._dict):
                raise StoredFileError("no data element could be read")
            implicit, little_endian = dataset.original_encoding
            little_endian = little_endian is not False
            convert_sequences(dataset)
            stored = StoredDataset(
                path=path,
                dataset=dataset,
                file_meta=getattr(dataset, "file_meta", None) or Dataset(),
                little_endian=little_endian,
                implicit=bool(implicit),
                pixel_offset=None,
                pixel_tag=None,
            )
            if deflated:
                _take_pixel_element(stored)
            else:
                _find_pixel_data(fp, stored)
    except (OSError, StoredFileError):
        raise
    except Exception as error:  # pydicom raises many types on corrupt input
        raise StoredFileError(str(error)) from None
    return stored


def _take_pixel_element(stored: StoredDataset) -> None:
    """Move the in-memory Pixel Data of a deflated file out of the dataset."""
    for tag in PIXEL_DATA_TAGS:
        element = stored.dataset.get_item(tag)
        if element is not None:
            stored.pixel_tag = tag
            stored.pixel_element = element
            del stored.dataset._dict[tag]
            return


def convert_sequences(dataset: Dataset) -> None:
    """Parse the items of every sequence now, so the cached dataset never changes.

    pydicom parses a sequence when it is first accessed; doing it once here
    keeps later reads from several threads free of writes.
    """
    for tag in list(dataset._dict):
        element = dataset.get_item(tag)
        if element is None or not _is_sequence(element):
            continue
        value = dataset[tag].value
        if isinstance(value, DicomSequence):
            for item in value:
                convert_sequences(item)


def _is_sequence(element: Any) -> bool:
    if isinstance(element.value, DicomSequence) or element.VR == "SQ":
        return True
    if element.VR is not None:
        return False
    if getattr(element, "length", 0) == UNDEFINED_LENGTH:
        return True
    try:
        return bool(dictionary_VR(element.tag) == "SQ")
    except KeyError:
        return False


def _is_deflated(path: Path) -> bool:
    """Tell whether the file uses the deflated transfer syntax.

    pydicom inflates such files into memory, where the offsets of deferred
    values no longer match the file, so nothing is deferred for them.
    """
    try:
        meta = pydicom.filereader.read_file_meta_info(path)
    except Exception:  # no File Meta Information: not deflated
        return False
    return bool(meta.get("TransferSyntaxUID") == DeflatedExplicitVRLittleEndian)


def _find_pixel_data(fp: Any, stored: StoredDataset) -> None:
    """Locate the Pixel Data that follows the dataset, and read what comes after it."""
    position = fp.tell()
    header = fp.read(6)
    if len(header) < 6:
        return
    group, element = struct.unpack(
        ("<" if stored.little_endian else ">") + "HH", header[:4]
    )
    tag = group << 16 | element
    if tag not in PIXEL_DATA_TAGS:
        return
    stored.pixel_offset, stored.pixel_tag = position, tag
    if not stored.implicit:
        stored.pixel_vr = header[4:6].decode("latin_1")
    fragments, end = _pixel_items(fp, stored)
    fp.seek(end)
    if fp.read(1):
        fp.seek(end)
        stored.trailing = pydicom.filereader.read_dataset(
            fp, stored.implicit, stored.little_endian, defer_size=DEFER_SIZE
        )


def _element_header(fp: Any, stored: StoredDataset) -> tuple[int, int]:
    """Read the element header at the file position; return its length and size."""
    endian = "<" if stored.little_endian else ">"
    header = fp.read(12)
    if stored.implicit:
        return struct.unpack(endian + "I", header[4:8])[0], 8
    if header[4:6] in LONG_LENGTH_VRS:
        return struct.unpack(endian + "I", header[8:12])[0], 12
    return struct.unpack(endian + "H", header[6:8])[0], 8


def _pixel_items(fp: Any, stored: StoredDataset) -> tuple[list[tuple[int, int]], int]:
    """Return (offset, length) of each Pixel Data item and the offset after it.

    Native Pixel Data is one item. Encapsulated Pixel Data lists its items,
    the Basic Offset Table first, as Orthanc numbers them.
    """
    assert stored.pixel_offset is not None
    endian = "<" if stored.little_endian else ">"
    fp.seek(stored.pixel_offset)
    length, size = _element_header(fp, stored)
    start = stored.pixel_offset + size
    if length != UNDEFINED_LENGTH:
        return [(start, length)], start + length
    items: list[tuple[int, int]] = []
    offset = start
    while True:
        fp.seek(offset)
        item = fp.read(8)
        if len(item) < 8:
            return items, offset
        item_group, item_element, item_length = struct.unpack(endian + "HHI", item)
        tag = item_group << 16 | item_element
        if tag == SEQUENCE_DELIMITER_TAG:
            return items, offset + 8
        if tag != ITEM_TAG or item_length == UNDEFINED_LENGTH:
            return items, offset
        items.append((offset + 8, item_length))
        offset += 8 + item_length


def read_pixel_items(stored: StoredDataset) -> list[bytes] | list[tuple[int, int]]:
    """Return the Pixel Data items: byte ranges in the file, or bytes in memory."""
    if stored.pixel_element is not None:
        value = raw_value(stored.pixel_element)
        if stored.pixel_element.VR in ("OB", "UN") and value[:4] == b"\xfe\xff\x00\xe0":
            return list(_memory_items(value))
        return [value]
    if stored.pixel_offset is None:
        return []
    with open(stored.path, "rb") as fp:
        return _pixel_items(fp, stored)[0]


def _memory_items(value: bytes) -> list[bytes]:
    items, offset = [], 0
    while offset + 8 <= len(value):
        group, element, length = struct.unpack("<HHI", value[offset : offset + 8])
        if (group << 16 | element) != ITEM_TAG:
            break
        items.append(value[offset + 8 : offset + 8 + length])
        offset += 8 + length
    return items


def read_bytes(path: Path, offset: int, length: int) -> bytes:
    with open(path, "rb") as fp:
        fp.seek(offset)
        return fp.read(length)


def swap_to_little_endian(raw: bytes, vr: str) -> bytes:
    fmt = {"OW": "H", "OL": "L", "OF": "f", "OD": "d", "OV": "Q"}.get(
        vr
    ) or NUMBER_FORMATS.get(vr)
    if fmt is None:
        return raw
    if fmt == "HH":
        fmt = "H"
    size = struct.calcsize(">" + fmt)
    count = len(raw) // size
    values = struct.unpack(f">{count}{fmt}", raw[: count * size])
    return struct.pack(f"<{count}{fmt}", *values) + raw[count * size :]
