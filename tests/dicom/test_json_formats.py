"""Unit tests of the tag dictionary and of the JSON forms of a dataset."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pydicom
import pytest

from orthanclite.dicom.dictionary import (
    UNKNOWN_NAME,
    load_dictionary,
    private_vr,
    tag_name,
)
from orthanclite.dicom.json_formats import (
    JsonConverter,
    number_text,
    shorten,
    simplify,
)
from orthanclite.dicom.stored import convert_sequences
from tests import content_helpers as synthetic

DICTIONARY_LINES = "\n".join(
    [
        "# comment",
        "(0010,0010)\tPN\tPatientName\t1\tDICOM",
        "(6000-60FF,3000)\tox\tOverlayData\t1\tDICOM",
        '(0019,"ACME 1",10)\tSL\tFrame Count\t1\tPrivateTag',
        '(7001-o-70ff,"ACME 1",04)\tST\tNote\t1\tPrivateTag',
    ]
)


@pytest.fixture
def dcmtk_dictionary(tmp_path: Path):  # type: ignore[no-untyped-def]
    path = tmp_path / "dicom.dic"
    path.write_text(DICTIONARY_LINES)
    return load_dictionary([path])


class TestDictionary:
    def test_standard_and_ranges(self, dcmtk_dictionary) -> None:  # type: ignore[no-untyped-def]
        assert tag_name(dcmtk_dictionary, 0x00100010, None) == "PatientName"
        assert tag_name(dcmtk_dictionary, 0x60023000, None) == "OverlayData"
        assert tag_name(dcmtk_dictionary, 0x60013000, None) == UNKNOWN_NAME

    def test_private_names(self, dcmtk_dictionary) -> None:  # type: ignore[no-untyped-def]
        assert tag_name(dcmtk_dictionary, 0x00191010, "ACME 1") == "FrameCount"
        assert tag_name(dcmtk_dictionary, 0x00191110, "ACME 1") == "FrameCount"
        assert tag_name(dcmtk_dictionary, 0x70031004, "ACME 1") == "Note"
        assert tag_name(dcmtk_dictionary, 0x00191010, "OTHER") == UNKNOWN_NAME
        assert private_vr(dcmtk_dictionary, 0x00191010, "ACME 1") == "SL"

    def test_reserved_private_elements(self, dcmtk_dictionary) -> None:  # type: ignore[no-untyped-def]
        assert tag_name(dcmtk_dictionary, 0x00190010, None) == "PrivateCreator"
        assert tag_name(dcmtk_dictionary, 0x00190000, None) == "PrivateGroupLength"
        assert tag_name(dcmtk_dictionary, 0x00080000, None) == "GenericGroupLength"

    def test_pydicom_fallback(self) -> None:
        dictionary = load_dictionary([])
        assert tag_name(dictionary, 0x00101000, None) == "OtherPatientIDs"
        assert tag_name(dictionary, 0x00081040, None) == "InstitutionalDepartmentName"
        assert tag_name(dictionary, 0x00091001, "GEMS_IDEN_01") == "FullFidelity"


class TestNumbers:
    def test_float_digits(self) -> None:
        raw = struct.pack("<f", 0.79)
        assert number_text(raw, "FL", True) == "0.79000002145767212"

    def test_big_endian_unsigned(self) -> None:
        assert number_text(b"\x01\x00\x00\x02", "US", False) == "256\\2"

    def test_attribute_tag_first_value(self) -> None:
        raw = b"\x54\x00\x10\x00\x54\x00\x20\x00"
        assert number_text(raw, "AT", True) == "0054,0010"


class TestForms:
    def test_three_forms(self) -> None:
        dataset = pydicom.dcmread(io.BytesIO(synthetic.nested_sequences_file()))
        convert_sequences(dataset)
        full = JsonConverter(load_dictionary([]), "Latin1", True).convert(dataset)
        assert full["0008,1032"]["Type"] == "Sequence"
        assert simplify(full)["ProcedureCodeSequence"][0]["CodeValue"] == "C1"
        assert shorten(full)["0008,1032"][1]["0008,0104"] == "Thing two"
        assert shorten(full)["0008,1140"] == []
