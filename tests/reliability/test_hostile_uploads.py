"""Hostile uploads get a 4xx JSON error in bounded time and memory."""

from __future__ import annotations

import gzip
import random
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import ServerProcess, make_dicom, pydicom_file
from tests.reliability_helpers import resident_memory_kib, staging_entries

# Seconds one hostile upload may take on a loaded two-core machine.
TIME_LIMIT = 20.0
# Growth of the server's resident memory allowed over the whole module.
MEMORY_GROWTH_KIB = 300 * 1024


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("hostile") / "data")
    process.initial_memory = server_memory_kib(process)  # type: ignore[attr-defined]
    yield process
    process.stop()


def server_memory_kib(server: ServerProcess) -> int:
    return sum(resident_memory_kib(pid) for pid in server.pids())


@pytest.fixture
def http(hostile_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=hostile_server.url, timeout=120) as client:
        yield client


def post_timed(
    http: httpx.Client, body: bytes, headers: dict[str, str] | None = None
) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = http.post("/instances", content=body, headers=headers)
    return response, time.monotonic() - started


def assert_rejected(response: httpx.Response, elapsed: float) -> None:
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "OrthancStatus" in response.json()
    assert elapsed < TIME_LIMIT


def element(group: int, elem: int, vr: bytes, value: bytes) -> bytes:
    """Encode an explicit VR little endian element with a 2-byte length."""
    return struct.pack("<HH", group, elem) + vr + struct.pack("<H", len(value)) + value


def undefined_sequence_header(group: int, elem: int) -> bytes:
    return struct.pack("<HH", group, elem) + b"SQ\x00\x00" + b"\xff\xff\xff\xff"


ITEM_START = struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
ITEM_END = struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
SEQUENCE_END = struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)


def with_sequence(body: bytes) -> bytes:
    """A small Part 10 file followed by ``body`` after its last element."""
    return make_dicom("HOSTILE") + body


def deep_sequence(levels: int, closed: bool) -> bytes:
    opening = (undefined_sequence_header(0x0040, 0xA730) + ITEM_START) * levels
    closing = (ITEM_END + SEQUENCE_END) * levels if closed else b""
    return with_sequence(opening + closing)


@pytest.mark.parametrize("size", [1, 100, 4096, 1 << 20])
def test_random_bytes(http: httpx.Client, size: int) -> None:
    body = random.Random(size).randbytes(size)
    assert_rejected(*post_timed(http, body))


@pytest.mark.parametrize("fraction", [0.05, 0.3, 0.6, 0.9, 0.99])
def test_truncated_file(http: httpx.Client, fraction: float) -> None:
    body = pydicom_file("CT_small.dcm").read_bytes()
    assert_rejected(*post_timed(http, body[: int(len(body) * fraction)]))


@pytest.mark.parametrize("missing", [1, 4, 7])
def test_file_cut_inside_element_header(http: httpx.Client, missing: int) -> None:
    # Cut inside the header of the Pixel Data element, which pydicom reads
    # as the end of the file, and inside the value just before it.
    body = pydicom_file("CT_small.dcm").read_bytes()
    pixel_header = body.rindex(b"\xe0\x7f\x10\x00")
    assert_rejected(*post_timed(http, body[: pixel_header + 8 - missing]))
    assert_rejected(*post_timed(http, body[: pixel_header - missing]))


def test_gzip_body_without_trailer(http: httpx.Client) -> None:
    compressed = gzip.compress(make_dicom("GZIP"))
    response, elapsed = post_timed(http, compressed[:-8], {"Content-Encoding": "gzip"})
    assert_rejected(response, elapsed)
    assert "end marker" in response.json()["Details"]


@pytest.mark.parametrize("length", [0xFFFFFFF0, 0x7FFFFFFF, 1 << 30])
def test_huge_declared_length(http: httpx.Client, length: int) -> None:
    value = (
        struct.pack("<HH", 0x0009, 0x1010) + b"OB\x00\x00" + struct.pack("<I", length)
    )
    assert_rejected(*post_timed(http, with_sequence(value + b"short")))


def test_wrong_short_length(http: httpx.Client) -> None:
    # A UID whose 2-byte length runs past the end of the file.
    body = with_sequence(
        struct.pack("<HH", 0x0020, 0x4000) + b"LT" + struct.pack("<H", 60000)
    )
    assert_rejected(*post_timed(http, body + b"abc"))


def test_item_that_never_ends(http: httpx.Client) -> None:
    body = with_sequence(
        undefined_sequence_header(0x0040, 0xA730) + ITEM_START + b"\x00" * 64
    )
    assert_rejected(*post_timed(http, body))


def test_deep_nesting_unclosed(http: httpx.Client) -> None:
    assert_rejected(*post_timed(http, deep_sequence(10_000, closed=False)))


def test_deep_nesting_closed(http: httpx.Client) -> None:
    assert_rejected(*post_timed(http, deep_sequence(10_000, closed=True)))


def test_thousands_of_elements(http: httpx.Client) -> None:
    elements = b"".join(
        element(0x0009, 0x1000 + index, b"LO", b"value%05d " % index)
        for index in range(20_000)
    )
    response, elapsed = post_timed(http, make_dicom("MANY") + elements)
    # Valid private elements are stored; what matters is no crash and no 500.
    assert response.status_code in (200, 400), response.text
    assert elapsed < TIME_LIMIT


def test_dicm_marker_without_dicom(http: httpx.Client) -> None:
    body = b"\x00" * 128 + b"DICM" + b"this is not a dataset" * 100
    assert_rejected(*post_timed(http, body))


def test_dicm_marker_then_random(http: httpx.Client) -> None:
    body = b"\x00" * 128 + b"DICM" + random.Random(7).randbytes(10_000)
    assert_rejected(*post_timed(http, body))


def test_dicomdir_rejected(http: httpx.Client) -> None:
    assert_rejected(*post_timed(http, pydicom_file("DICOMDIR").read_bytes()))


def test_preamble_only(http: httpx.Client) -> None:
    assert_rejected(*post_timed(http, b"\x00" * 128 + b"DICM"))


def test_corrupt_file_meta_vr(http: httpx.Client) -> None:
    # Found by the upload fuzzer: a bit flip turns the VR of (0002,0002)
    # into "TI", which pydicom rejects only when the value is first read.
    body = bytearray(pydicom_file("CT_small.dcm").read_bytes()[:166])
    body[162] ^= 1
    assert_rejected(*post_timed(http, bytes(body)))


def test_server_survives_and_cleans(
    hostile_server: ServerProcess, http: httpx.Client
) -> None:
    # Runs last in this module: the server is alive and left no staged file.
    assert http.get("/system").status_code == 200
    assert staging_entries(Path(hostile_server.data)) == []
    grown = server_memory_kib(hostile_server) - hostile_server.initial_memory  # type: ignore[attr-defined]
    assert grown < MEMORY_GROWTH_KIB
