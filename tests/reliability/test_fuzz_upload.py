"""Property-based fuzzing of POST /instances with mutated test files."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import ServerProcess, make_dicom
from tests.reliability_helpers import (
    UploadFuzzer,
    check_problems,
    fuzz_strategy,
    staging_entries,
)


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("fuzz") / "data")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def fuzzer(fuzz_server: ServerProcess) -> Iterator[UploadFuzzer]:
    with httpx.Client(base_url=fuzz_server.url, timeout=60) as client:
        yield UploadFuzzer(client)


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=fuzz_strategy())
def test_mutated_upload_answers(fuzzer: UploadFuzzer, case) -> None:  # type: ignore[no-untyped-def]
    name, mutations = case
    fuzzer.send(fuzzer.mutate(name, mutations))


def two_member_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("first.dcm", make_dicom("ZIPFUZZ-1"))
        archive.writestr("second.dcm", make_dicom("ZIPFUZZ-2"))
    return buffer.getvalue()


ZIP_BODY = two_member_zip()


@settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    flips=st.lists(
        st.tuples(st.integers(0, len(ZIP_BODY) - 1), st.integers(0, 7)), max_size=4
    ),
    end=st.integers(1, len(ZIP_BODY)),
)
def test_mutated_zip_answers(fuzzer: UploadFuzzer, flips, end: int) -> None:  # type: ignore[no-untyped-def]
    body = bytearray(ZIP_BODY)
    for position, bit in flips:
        body[position] ^= 1 << bit
    fuzzer.send(bytes(body[:end]))


def test_fuzzed_server_consistent(
    fuzz_server: ServerProcess, fuzzer: UploadFuzzer
) -> None:
    # With several test workers, the fuzzing tests above may have run in
    # another process: send a few truncated files here so the check below
    # always follows some hostile uploads.
    for name, data in fuzzer.bases.items():
        for cut in (7, len(data) // 3, len(data) - 5):
            fuzzer.send(data[:cut])
    assert fuzzer.tried > 0
    assert fuzz_server.process.poll() is None
    assert staging_entries(fuzz_server.data) == []
    assert check_problems(fuzz_server.data) == []
