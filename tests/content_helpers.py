"""Synthetic DICOM files for the content routes: private tags, sequences, odd values."""

from __future__ import annotations

import io
import struct

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

ROOT = "1.2.826.0.1.3680043.8.498.4242"


def base_dataset(name: str, charset: str | None = "ISO_IR 100") -> Dataset:
    """Return a Secondary Capture dataset whose UIDs derive from ``name``."""
    suffix = str(sum(name.encode()) * 1000 + len(name))
    ds = Dataset()
    if charset is not None:
        ds.SpecificCharacterSet = charset
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = f"{ROOT}.{suffix}.3"
    ds.StudyInstanceUID = f"{ROOT}.{suffix}.1"
    ds.SeriesInstanceUID = f"{ROOT}.{suffix}.2"
    ds.PatientID = f"SYN-{name.upper()}"
    ds.PatientName = "Synthetic^Case"
    ds.Modality = "OT"
    return ds


def write(ds: Dataset, implicit: bool = False) -> bytes:
    """Write ``ds`` as a Part 10 file, explicit VR little endian by default."""
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = (
        ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    )
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True, implicit_vr=implicit)
    return buffer.getvalue()


def code_item(value: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = "DCM"
    item.CodeMeaning = meaning
    return item


def private_tags_file(implicit: bool = False) -> bytes:
    """Private elements of a creator DCMTK does not know, with Latin-1 text."""
    ds = base_dataset("private-implicit" if implicit else "private")
    block = ds.private_block(0x4321, "RadioLogic", create=True)
    block.add_new(0x11, "LO", "ABCDEfgh")
    block.add_new(0x12, "LO", "éöàäèü£")
    item = Dataset()
    item.add_new(0x43210010, "LO", "RadioLogic")
    item.add_new(0x43211014, "LO", "inside")
    block.add_new(0x13, "SQ", Sequence([item]))
    # A creator known to DCMTK: GE's identification group.
    ge = ds.private_block(0x0009, "GEMS_IDEN_01", create=True)
    ge.add_new(0x01, "LO", "GE_GENESIS_FF")
    ge.add_new(0x27, "SL", 862399669)
    return write(ds, implicit)


def nested_sequences_file() -> bytes:
    """Sequences three levels deep, an empty sequence and an empty value."""
    ds = base_dataset("nested")
    inner = code_item("N3", "Third level")
    middle = code_item("N2", "Second level")
    middle.PurposeOfReferenceCodeSequence = Sequence([inner])
    first = code_item("C1", "Thing one")
    second = code_item("C2", "Thing two")
    second.ConceptNameCodeSequence = Sequence([middle])
    ds.ProcedureCodeSequence = Sequence([first, second])
    ds.ReferencedImageSequence = Sequence([])
    ds.ProtocolName = ""
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    return write(ds)


def long_values_file() -> bytes:
    """Values just below, at and above Orthanc's 256-byte limit."""
    ds = base_dataset("long")
    ds.StudyDescription = "A" * 300
    ds.SeriesDescription = "B" * 64
    ds.ImageComments = "C" * 256
    ds.AdditionalPatientHistory = "D" * 257
    ds.add_new(0x00189352, "FL", [0.125] * 20)
    return write(ds)


def un_elements_file() -> bytes:
    """Standard and unknown elements sent with VR UN."""
    ds = base_dataset("un")
    elements = {
        0x00081030: b"Study as UN ",
        0x00280010: struct.pack("<H", 512),
        0x00114567: b"\x01\x02\x03\x04",
    }
    # pydicom writes known elements with their own VR, so they are written
    # as OB, which has the same layout as UN, and relabelled afterwards.
    for tag, raw in elements.items():
        put_raw(ds, tag, "OB", raw)
    body = write(ds)
    for tag in elements:
        header = struct.pack("<HH", tag >> 16, tag & 0xFFFF)
        body = body.replace(header + b"OB", header + b"UN", 1)
    return body


def binary_file() -> bytes:
    """Binary values (OB, OW, OF, FD), numbers and attribute tags."""
    ds = base_dataset("binary")
    ds.add_new(0x00091010, "OB", b"\x01\x02\x03\x04")
    ds.add_new(0x00280009, "AT", [0x00540010, 0x00540020])
    ds.Rows, ds.Columns = 2, 2
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelRepresentation = 1
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.SmallestImagePixelValue = -5
    ds.RescaleSlope = "1.5"
    ds.add_new(0x00189352, "FL", [0.79, 0.833, 0.872])
    ds.add_new(0x00186028, "FD", 1.0 / 3)
    ds.PixelData = struct.pack("<4h", -5, 0, 100, 2047)
    return write(ds)


def put_raw(ds: Dataset, tag: int, vr: str, raw: bytes) -> None:
    """Store ``raw`` bytes under ``tag`` as they are, with the given VR."""
    ds[tag] = RawDataElement(pydicom.tag.Tag(tag), vr, len(raw), raw, 0, False, True)


def raw_text_file(
    name: str, charset: bytes | None, tag: int, vr: str, raw: bytes
) -> bytes:
    """Build a file whose ``tag`` contains ``raw`` bytes, not re-encoded."""
    ds = base_dataset(name, charset=None)
    if charset is not None:
        put_raw(ds, 0x00080005, "CS", charset)
    put_raw(ds, tag, vr, raw)
    return write(ds)


def cyrillic_without_charset() -> bytes:
    """A Windows-1251 series description in a file without Specific Character Set."""
    text = "Исследование".encode("cp1251")
    return raw_text_file(
        "cyrillic", None, 0x0008103E, "LO", text + b" " * (len(text) % 2)
    )


def latin1_without_charset() -> bytes:
    """A Latin-1 patient name in a file without Specific Character Set."""
    return raw_text_file(
        "latin1", None, 0x00100010, "PN", "Jérôme^Hélène".encode("latin_1") + b" "
    )


def windows1252_as_latin1() -> bytes:
    """Windows-1252 bytes (0x9E, 0x9A) in a file that declares ISO_IR 100."""
    return raw_text_file(
        "cp1252", b"ISO_IR 100", 0x00100010, "PN", b"cc\x9e\x9ad^CC\x8e\x8a\xd0 "
    )


def unknown_charset() -> bytes:
    """A Specific Character Set that is not a defined term."""
    return raw_text_file("badcharset", b"ISO_IR 999", 0x00100010, "PN", b"Name^Plain")


def gbk_alias() -> bytes:
    """Chinese text declared with the undefined term GBK (an alias of GB18030)."""
    text = "Wang^XiaoDong=王^小东=".encode("gb18030")
    return raw_text_file(
        "gbk", b"GBK ", 0x00100010, "PN", text + b" " * (len(text) % 2)
    )


def korean_iso2022() -> bytes:
    """A Korean name with ISO 2022 code extensions."""
    ds = base_dataset("korean", charset=None)
    ds.SpecificCharacterSet = ["", "ISO 2022 IR 149"]
    ds.PatientName = "Hong^Gildong=洪^吉洞=홍^길동"
    return write(ds)


SYNTHETIC_FILES = {
    "private.dcm": lambda: private_tags_file(),
    "private_implicit.dcm": lambda: private_tags_file(implicit=True),
    "nested.dcm": nested_sequences_file,
    "long.dcm": long_values_file,
    "un.dcm": un_elements_file,
    "binary.dcm": binary_file,
    "cyrillic.dcm": cyrillic_without_charset,
    "latin1.dcm": latin1_without_charset,
    "cp1252.dcm": windows1252_as_latin1,
    "badcharset.dcm": unknown_charset,
    "gbk.dcm": gbk_alias,
    "korean.dcm": korean_iso2022,
}
