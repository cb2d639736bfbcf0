"""Tests of the benchmark corpus: determinism, kinds, sizes and validity."""

from __future__ import annotations

import io
from pathlib import Path

import pydicom
import pytest

from bench.corpus import (
    CorpusSpec,
    generate_corpus,
    small_instance,
    write_corpus,
    write_large_multiframe,
)

SPEC = CorpusSpec(
    patients=1, studies_per_patient=1, series_per_study=6, instances_per_series=2
)


@pytest.fixture(scope="module")
def corpus() -> list:
    return list(generate_corpus(SPEC))


def read(data: bytes) -> pydicom.Dataset:
    return pydicom.dcmread(io.BytesIO(data))


def test_corpus_same_seed_same_bytes(corpus: list) -> None:
    again = list(generate_corpus(SPEC))
    assert [item.data for item in again] == [item.data for item in corpus]


def test_corpus_other_seed_other_uids(corpus: list) -> None:
    other = CorpusSpec(1, 1, 6, 2, seed=2)
    other_uids = {item.sop_uid for item in generate_corpus(other)}
    assert other_uids.isdisjoint(item.sop_uid for item in corpus)


def test_corpus_counts_per_kind(corpus: list) -> None:
    kinds = [item.kind for item in corpus]
    assert {kind: kinds.count(kind) for kind in set(kinds)} == {
        "CT": 4,
        "MR": 4,
        "US": 1,
        "SR": 1,
    }


def test_corpus_uids_unique(corpus: list) -> None:
    assert len({item.sop_uid for item in corpus}) == len(corpus)


def test_corpus_ct_size_and_pixels(corpus: list) -> None:
    ct = next(item for item in corpus if item.kind == "CT")
    ds = read(ct.data)
    assert 500_000 < len(ct.data) < 560_000
    assert ds.pixel_array.shape == (512, 512)
    assert ds.BitsAllocated == 16


def test_corpus_mr_pixels(corpus: list) -> None:
    ds = read(next(item for item in corpus if item.kind == "MR").data)
    assert ds.pixel_array.shape == (256, 256)


def test_corpus_us_multiframe_color(corpus: list) -> None:
    ds = read(next(item for item in corpus if item.kind == "US").data)
    assert ds.NumberOfFrames == 10
    assert ds.PhotometricInterpretation == "RGB"
    assert ds.pixel_array.shape == (10, 240, 320, 3)


def test_corpus_report_without_pixels(corpus: list) -> None:
    report = next(item for item in corpus if item.kind == "SR")
    ds = read(report.data)
    assert "PixelData" not in ds
    assert ds.ContentSequence[0].TextValue.startswith("No acute")


def test_corpus_identifiers_match_file(corpus: list) -> None:
    for item in corpus:
        ds = read(item.data)
        assert ds.SOPInstanceUID == item.sop_uid
        assert ds.SeriesInstanceUID == item.series_uid
        assert ds.StudyInstanceUID == item.study_uid
        assert ds.PatientID == item.patient_id


def test_corpus_synthetic_patient_name(corpus: list) -> None:
    assert {str(read(item.data).PatientName) for item in corpus} == {"BENCH^P000000"}


def test_write_corpus_files(tmp_path: Path) -> None:
    count = write_corpus(CorpusSpec(1, 1, 1, 3), tmp_path)
    assert count == 3
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "000001.dcm",
        "000002.dcm",
        "000003.dcm",
    ]


def test_small_instance_no_pixels() -> None:
    data = small_instance(7, 0)
    assert len(data) < 2000
    assert "PixelData" not in read(data)


def test_small_instance_grouping() -> None:
    datasets = [read(small_instance(7, index, per_patient=8)) for index in range(16)]
    assert len({ds.PatientID for ds in datasets}) == 2
    assert len({ds.StudyInstanceUID for ds in datasets}) == 4
    assert len({ds.SeriesInstanceUID for ds in datasets}) == 8
    assert len({ds.SOPInstanceUID for ds in datasets}) == 16


def test_large_multiframe_readable(tmp_path: Path) -> None:
    path = tmp_path / "large.dcm"
    size = write_large_multiframe(path, 4)
    ds = pydicom.dcmread(path)
    assert size > 4 * (1 << 20)
    assert ds.NumberOfFrames == 8
    assert ds.pixel_array.shape == (8, 512, 512)
