"""Orthanc identifiers: the algorithm, and agreement with Orthanc on real files."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pydicom
import pytest

from orthanclite.dicom.identifiers import ResourceIds, hash_identifier, is_public_id
from orthanclite.dicom.parsing import DicomParseError, parse_instance

# Status and IDs returned by Orthanc 1.10.1 to POST /instances for each test file.
ORTHANC_ANSWERS = json.loads(
    (Path(__file__).parents[1] / "data" / "orthanc_1.10.1_upload_answers.json").read_text()
)


def test_hash_of_empty_string() -> None:
    assert hash_identifier("") == "da39a3ee-5e6b4b0d-3255bfef-95601890-afd80709"


def test_resource_ids_join_with_bar() -> None:
    ids = ResourceIds.compute("P", "1.2", "1.2.3", "1.2.3.4")
    assert ids.patient == hash_identifier("P")
    assert ids.study == hash_identifier("P|1.2")
    assert ids.series == hash_identifier("P|1.2|1.2.3")
    assert ids.instance == hash_identifier("P|1.2|1.2.3|1.2.3.4")


def test_is_public_id() -> None:
    assert is_public_id("da39a3ee-5e6b4b0d-3255bfef-95601890-afd80709")
    assert not is_public_id("da39a3ee-5e6b4b0d-3255bfef-95601890-afd8070")
    assert not is_public_id("DA39A3EE-5E6B4B0D-3255BFEF-95601890-AFD80709")


def _data_root(kind: str) -> Path:
    if kind == "pydicom":
        return Path(pydicom.__file__).parent / "data"
    import data_store

    return Path(data_store.__file__).parent / "data"


@pytest.mark.parametrize("name", sorted(ORTHANC_ANSWERS))
def test_ids_match_orthanc(name: str) -> None:
    """Every file Orthanc accepts gets Orthanc's four IDs; the others are rejected."""
    kind, relative = name.split(":", 1)
    path = _data_root(kind) / relative
    if not path.is_file():
        pytest.skip(f"{name} is not installed")
    body = path.read_bytes()
    expected = ORTHANC_ANSWERS[name]
    if expected["status"] != 200:
        with pytest.raises(DicomParseError):
            parse_instance(io.BytesIO(body), len(body))
        return
    ids = parse_instance(io.BytesIO(body), len(body)).ids
    assert ids.instance == expected["ID"]
    assert ids.series == expected["ParentSeries"]
    assert ids.study == expected["ParentStudy"]
    assert ids.patient == expected["ParentPatient"]


def test_leading_spaces_are_kept(dicom_factory) -> None:  # type: ignore[no-untyped-def]
    body = dicom_factory(patient_id=" SP ACE ")
    ids = parse_instance(io.BytesIO(body), len(body)).ids
    assert ids.patient == hash_identifier(" SP ACE")


def test_missing_patient_id_hashes_empty(dicom_factory) -> None:  # type: ignore[no-untyped-def]
    body = dicom_factory(patient_id=None)
    ids = parse_instance(io.BytesIO(body), len(body)).ids
    assert ids.patient == hash_identifier("")


def test_latin1_patient_id_hashes_as_utf8(dicom_factory) -> None:  # type: ignore[no-untyped-def]
    body = dicom_factory(patient_id="Jérôme", SpecificCharacterSet="ISO_IR 100")
    ids = parse_instance(io.BytesIO(body), len(body)).ids
    assert ids.patient == hash_identifier("Jérôme")
