"""Pattern parsing and matching of /tools/find, without a server."""

from __future__ import annotations

import pytest

from orthanclite.dicom.matching import InvalidPattern, parse_pattern

PATIENT_NAME = 0x00100010
PATIENT_ID = 0x00100020
STUDY_DATE = 0x00080020
STATION_NAME = 0x00081010
STUDY_UID = 0x0020000D


@pytest.mark.parametrize(
    ("tag", "pattern", "value", "expected"),
    [
        (PATIENT_ID, "ab*", "ABC", True),
        (PATIENT_ID, "a?c", "abc", True),
        (PATIENT_ID, "a?c", "abbc", False),
        (PATIENT_ID, "100%", "100%_A", False),
        (PATIENT_ID, "100%_A", "100%_a", True),
        (PATIENT_ID, "a.b[1]", "A.B[1]", True),
        (PATIENT_ID, "x\\y", "Y", True),
        (PATIENT_ID, "*", "", True),
        (PATIENT_NAME, "muller", "Müller", True),
        (PATIENT_ID, "muller", "Müller", False),
        (STATION_NAME, "SMR4-MP3", "SMR4-MP3", True),
        (STUDY_DATE, "20120101-20121231", "20120615", True),
        (STUDY_DATE, "20120101-20121231", "20130101", False),
        (STUDY_DATE, "-20120101", "", True),
        (STUDY_DATE, "20120101-", "", False),
        (STUDY_DATE, "20120101-", "20120101", True),
    ],
)
def test_pattern_matches(tag: int, pattern: str, value: str, expected: bool) -> None:
    parsed = parse_pattern(tag, pattern, case_sensitive=False)
    assert parsed is not None
    assert parsed.matches(value) is expected


def test_pattern_absent_value() -> None:
    parsed = parse_pattern(PATIENT_ID, "*", case_sensitive=False)
    assert parsed is not None
    assert parsed.matches(None) is False


def test_pattern_case_sensitive() -> None:
    parsed = parse_pattern(PATIENT_NAME, "Müller*", case_sensitive=True)
    assert parsed is not None
    assert parsed.matches("Müller^Hans") is True
    assert parsed.matches("MÜLLER^HANS") is False
    assert parsed.matches("Muller^Hans") is False


def test_pattern_empty_is_no_constraint() -> None:
    assert parse_pattern(PATIENT_ID, "", case_sensitive=False) is None


@pytest.mark.parametrize(
    ("tag", "pattern"), [(STUDY_UID, "1.2*"), (STUDY_DATE, "2012*")]
)
def test_pattern_rejects_wildcard(tag: int, pattern: str) -> None:
    with pytest.raises(InvalidPattern):
        parse_pattern(tag, pattern, case_sensitive=False)
