"""DICOMDIR writer: records, offsets and character sets, read by pydicom and dcmdump."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pydicom
import pytest
from pydicom.fileset import FileSet

from orthanclite.archive.media import DicomDirWriter, MediaInstance, record_charset

SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
EXPLICIT_LITTLE = "1.2.840.10008.1.2.1"


def _instance(
    number: int,
    patient: str = "p1",
    study: str = "s1",
    series: str = "x1",
    patient_tags: dict[str, str] | None = None,
) -> MediaInstance:
    return MediaInstance(
        file_id=("IMAGES", f"IM{number}"),
        patient_key=patient,
        patient_tags=patient_tags
        or {"PatientID": f"ID-{patient}", "PatientName": "Doe^J"},
        study_key=study,
        study_tags={"StudyInstanceUID": f"1.2.3.{study[1:]}", "StudyDate": "20200101"},
        series_key=series,
        series_tags={"SeriesInstanceUID": f"1.2.4.{series[1:]}", "Modality": "CT"},
        sop_instance_uid=f"1.2.5.{number}",
        instance_number=str(number),
        sop_class_uid=SECONDARY_CAPTURE,
        transfer_syntax_uid=EXPLICIT_LITTLE,
    )


def _write(
    tmp_path: Path, instances: list[MediaInstance], extended: bool = False
) -> Path:
    writer = DicomDirWriter(extended=extended)
    for instance in instances:
        writer.add(instance)
    source, size = writer.finish()
    path = tmp_path / "DICOMDIR"
    path.write_bytes(source.read())
    # FileSet ignores records whose file is missing.
    for instance in instances:
        referenced = tmp_path.joinpath(*instance.file_id)
        referenced.parent.mkdir(exist_ok=True)
        referenced.touch()
    writer.close()
    assert path.stat().st_size == size
    return path


def _tree_instances() -> list[MediaInstance]:
    layout = [
        ("p1", "s1", "x1"),
        ("p1", "s1", "x1"),
        ("p1", "s1", "x2"),
        ("p1", "s2", "x3"),
        ("p2", "s3", "x4"),
        ("p2", "s3", "x4"),
    ]
    return [_instance(n, *keys) for n, keys in enumerate(layout)]


def _records(path: Path) -> list[pydicom.Dataset]:
    return list(pydicom.dcmread(path).DirectoryRecordSequence)


def test_record_types_in_depth_first_order(tmp_path: Path) -> None:
    types = [
        r.DirectoryRecordType for r in _records(_write(tmp_path, _tree_instances()))
    ]
    assert types == [
        "PATIENT",
        "STUDY",
        "SERIES",
        "IMAGE",
        "IMAGE",
        "SERIES",
        "IMAGE",
        "STUDY",
        "SERIES",
        "IMAGE",
        "PATIENT",
        "STUDY",
        "SERIES",
        "IMAGE",
        "IMAGE",
    ]


def test_offsets_read_by_fileset(tmp_path: Path) -> None:
    path = _write(tmp_path, _tree_instances())
    file_set = FileSet(pydicom.dcmread(path))
    assert len(file_set) == 6
    patients = file_set.find_values("PatientID")
    assert sorted(patients) == ["ID-p1", "ID-p2"]


def test_referenced_file_ids(tmp_path: Path) -> None:
    path = _write(tmp_path, _tree_instances())
    file_set = FileSet(pydicom.dcmread(path))
    file_ids = sorted(list(instance.ReferencedFileID) for instance in file_set)
    assert file_ids == [["IMAGES", f"IM{n}"] for n in range(6)]


def test_file_set_id(tmp_path: Path) -> None:
    assert (
        pydicom.dcmread(_write(tmp_path, _tree_instances())).FileSetID
        == "ORTHANC_MEDIA"
    )


def test_non_ascii_name_round_trip(tmp_path: Path) -> None:
    tags = {"PatientID": "G1", "PatientName": "Γιωργος^Δημος"}
    records = _records(_write(tmp_path, [_instance(0, patient_tags=tags)]))
    assert records[0].SpecificCharacterSet == "ISO_IR 192"
    assert str(records[0].PatientName) == "Γιωργος^Δημος"


def test_latin1_name_keeps_latin1(tmp_path: Path) -> None:
    tags = {"PatientID": "G1", "PatientName": "Äneas^Rüdiger"}
    records = _records(_write(tmp_path, [_instance(0, patient_tags=tags)]))
    assert records[0].SpecificCharacterSet == "ISO_IR 100"
    assert str(records[0].PatientName) == "Äneas^Rüdiger"


def test_patient_without_id(tmp_path: Path) -> None:
    records = _records(
        _write(tmp_path, [_instance(0, patient_tags={"PatientName": "X"})])
    )
    assert records[0].PatientID == ""


def test_missing_study_date_filled(tmp_path: Path) -> None:
    instance = _instance(0)
    instance = MediaInstance(
        **{**_fields(instance), "study_tags": {"StudyInstanceUID": "1.2"}}
    )
    study = _records(_write(tmp_path, [instance]))[1]
    assert len(study.StudyDate) == 8
    assert study.StudyTime != ""


def test_extended_adds_series_description(tmp_path: Path) -> None:
    series = _records(_write(tmp_path, [_instance(0)], extended=True))[2]
    assert "SeriesDescription" in series


def test_plain_has_no_series_description(tmp_path: Path) -> None:
    series = _records(_write(tmp_path, [_instance(0)]))[2]
    assert "SeriesDescription" not in series


def test_empty_dicomdir(tmp_path: Path) -> None:
    assert _records(_write(tmp_path, [])) == []


@pytest.mark.skipif(shutil.which("dcmdump") is None, reason="dcmtk is not installed")
def test_dcmdump_reads_non_ascii(tmp_path: Path) -> None:
    tags = {"PatientName": "Γιωργος^Äneas"}
    path = _write(tmp_path, [*_tree_instances(), _instance(9, "p3", "s9", "x9", tags)])
    result = subprocess.run(["dcmdump", "-q", str(path)], capture_output=True)
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    assert result.stdout.count(b'"Directory Record" IMAGE') == 7


def test_record_charset() -> None:
    assert record_charset(["abc", "é"]) == "ISO_IR 100"
    assert record_charset(["Δ"]) == "ISO_IR 192"


def _fields(instance: MediaInstance) -> dict[str, object]:
    return {name: getattr(instance, name) for name in instance.__slots__}
