"""Folder and file names of archives, checked against Orthanc 1.10.1's."""

from __future__ import annotations

import pytest

from orthanclite.archive.layout import (
    ArchiveLayout,
    Branch,
    UniqueNames,
    clean_name,
    file_name_pattern,
    folder_name,
    media_name,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Last^First^Mid", "Last First Mid"),
        ("PID-x.y_z", "PIDx.y_z"),
        ("ACC/1-2", "ACC12"),
        ("Vafk,T,6", "VafkT6"),
        ("Äneas^Rüdiger", "neas Rdiger"),
        ("Γιωργος", ""),
        ("  lead and trail  ", "lead and trail"),
        ("a  ^ b", "a b"),
        ("tab\there", "tabhere"),
    ],
)
def test_clean_name(text: str, expected: str) -> None:
    assert clean_name(text) == expected


def test_folder_name_joins_tags() -> None:
    tags = {"PatientID": "PID-1", "PatientName": "Doe^John"}
    assert folder_name("Patient", tags) == "PID1 Doe John"


def test_folder_name_drops_missing_part() -> None:
    assert (
        folder_name("Study", {"StudyDescription": "Coronarographie"})
        == "Coronarographie"
    )


@pytest.mark.parametrize("level", ["Patient", "Study", "Series"])
def test_folder_name_unknown_when_empty(level: str) -> None:
    assert folder_name(level, {}) == f"Unknown {level}"


def test_folder_name_unknown_when_only_non_ascii() -> None:
    assert folder_name("Patient", {"PatientName": "Γιωργος^Δημος"}) == "Unknown Patient"


def test_folder_name_rejects_dot_dot() -> None:
    assert folder_name("Patient", {"PatientID": ".."}) == "Unknown Patient"


@pytest.mark.parametrize(
    ("modality", "first_file"),
    [
        ("CT", "CT000000.dcm"),
        ("RTSTRUCT", "RT000000.dcm"),
        ("m", "M0000000.dcm"),
        ("", "00000000.dcm"),
    ],
)
def test_file_name_pattern(modality: str, first_file: str) -> None:
    assert file_name_pattern(modality).format(0) == first_file


def test_unique_names_suffix() -> None:
    unique = UniqueNames()
    names = [unique.unique("P", "OT Same") for _ in range(3)]
    assert names == ["OT Same", "OT Same-2", "OT Same-3"]


def test_unique_names_per_parent() -> None:
    unique = UniqueNames()
    unique.unique("P1", "OT")
    assert unique.unique("P2", "OT") == "OT"


def _branch(patient: str, study: str, series: str, modality: str = "OT") -> Branch:
    return Branch(
        patient, {"PatientID": patient}, study, {}, series, {"Modality": modality}
    )


def test_layout_counter_per_series() -> None:
    branches = [
        _branch("p", "s", "a"),
        _branch("p", "s", "a"),
        _branch("p", "s", "b", "CT"),
    ]
    layout = ArchiveLayout()
    assert [layout.member_name(branch) for branch in branches] == [
        "p/Unknown Study/OT/OT000000.dcm",
        "p/Unknown Study/OT/OT000001.dcm",
        "p/Unknown Study/CT/CT000000.dcm",
    ]


def test_layout_same_series_name() -> None:
    branches = [_branch("p", "s", "a"), _branch("p", "s", "b")]
    layout = ArchiveLayout()
    assert [layout.member_name(branch) for branch in branches] == [
        "p/Unknown Study/OT/OT000000.dcm",
        "p/Unknown Study/OT-2/OT000000.dcm",
    ]


def test_media_name() -> None:
    assert media_name(12) == "IMAGES/IM12"
