"""Hostile ZIP uploads: bombs, nested archives, path traversal, many entries."""

from __future__ import annotations

import io
import struct
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import ServerProcess, make_dicom
from tests.reliability_helpers import staging_entries, storage_files

LOW_LIMITS = {
    "ORTHANCLITE_ZIP_MAX_MEMBERS": "500",
    "ORTHANCLITE_ZIP_MAX_UNCOMPRESSED": str(20 * 1024 * 1024),
    "ORTHANCLITE_ZIP_MAX_RATIO": "100",
}


def build_zip(
    members: list[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED
) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, content in members:
            archive.writestr(name, content)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def default_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("zip") / "data")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("zip-limits") / "data", LOW_LIMITS)
    yield process
    process.stop()


def post(server: ServerProcess, body: bytes) -> httpx.Response:
    with httpx.Client(base_url=server.url, timeout=120) as client:
        return client.post("/instances", content=body)


def test_bzip2_bomb_rejected_by_ratio(default_server: ServerProcess) -> None:
    before = len(storage_files(default_server.data))
    bomb = build_zip([("bomb.dcm", b"\x00" * (200 * 1024 * 1024))], zipfile.ZIP_BZIP2)
    response = post(default_server, bomb)
    assert response.status_code == 413
    assert "zip_max_ratio" in response.json()["Details"]
    assert staging_entries(default_server.data) == []
    assert len(storage_files(default_server.data)) == before


def test_declared_size_over_limit(limited_server: ServerProcess) -> None:
    bomb = build_zip([("big.dcm", b"\x00" * (30 * 1024 * 1024))])
    response = post(limited_server, bomb)
    assert response.status_code == 413
    assert "zip_max_uncompressed" in response.json()["Details"]
    assert storage_files(limited_server.data) == []


def test_ratio_checked_while_streaming(limited_server: ServerProcess) -> None:
    archive = build_zip(
        [
            ("first.dcm", make_dicom("ZIPRATIO")),
            ("zeros.dcm", b"\x00" * (5 * 1024 * 1024)),
        ]
    )
    response = post(limited_server, archive)
    details = response.json()["Details"]
    assert response.status_code == 413
    assert "ZIP member #1" in details
    assert "the 1 members stored before it were kept" in details
    assert staging_entries(limited_server.data) == []
    assert len(storage_files(limited_server.data)) == 1


def test_member_count_over_limit(limited_server: ServerProcess) -> None:
    archive = build_zip([(f"tiny{index}", b"x") for index in range(600)])
    response = post(limited_server, archive)
    assert response.status_code == 413
    assert "zip_max_members" in response.json()["Details"]


def test_nested_zip_not_expanded(default_server: ServerProcess) -> None:
    inner = build_zip([("inner.dcm", make_dicom("NESTED"))])
    middle = build_zip([("inner.zip", inner)])
    response = post(default_server, build_zip([("middle.zip", middle)]))
    assert response.status_code == 200
    assert response.json() == []


def test_traversal_names_stay_inside(default_server: ServerProcess) -> None:
    marker = uuid.uuid4().hex
    outside = [
        Path(f"/tmp/{marker}-relative.dcm"),
        Path(f"/tmp/{marker}-absolute.dcm"),
    ]
    archive = build_zip(
        [
            (
                f"../../../../../../../../tmp/{marker}-relative.dcm",
                make_dicom("TRAVERSE"),
            ),
            (f"/tmp/{marker}-absolute.dcm", make_dicom("TRAVERSE")),
        ]
    )
    response = post(default_server, archive)
    assert response.status_code == 200
    assert [answer["Status"] for answer in response.json()] == ["Success", "Success"]
    for path in outside:
        assert not path.exists()
    assert not list(default_server.data.parent.glob(f"**/*{marker}*"))


def test_thousands_of_tiny_entries(default_server: ServerProcess) -> None:
    archive = build_zip([(f"tiny{index}.txt", b"not dicom") for index in range(3000)])
    started = time.monotonic()
    response = post(default_server, archive)
    assert response.status_code == 200
    assert response.json() == []
    assert time.monotonic() - started < 60
    assert staging_entries(default_server.data) == []


def test_broken_zip_rejected(default_server: ServerProcess) -> None:
    archive = build_zip([("a.dcm", make_dicom("BROKEN"))])
    response = post(default_server, archive[: len(archive) // 2])
    assert response.status_code == 400


def member_data_offset(archive: bytes, index: int) -> int:
    """Return where the compressed data of member ``index`` starts."""
    info = zipfile.ZipFile(io.BytesIO(archive)).infolist()[index]
    start = info.header_offset
    name_length, extra_length = struct.unpack("<HH", archive[start + 26 : start + 30])
    return start + 30 + name_length + extra_length


def test_corrupt_deflate_member_skipped(default_server: ServerProcess) -> None:
    archive = bytearray(
        build_zip(
            [("bad.dcm", make_dicom("BADDEFLATE")), ("good.dcm", make_dicom("OK"))]
        )
    )
    # 0xFF starts a Deflate block of the reserved type 3, which zlib rejects.
    archive[member_data_offset(bytes(archive), 0)] = 0xFF
    response = post(default_server, bytes(archive))
    assert response.status_code == 200, response.text
    assert [answer["Status"] for answer in response.json()] == ["Success"]


def test_encrypted_member_skipped(default_server: ServerProcess) -> None:
    archive = bytearray(build_zip([("secret.dcm", make_dicom("ENCRYPTED"))]))
    central = archive.rindex(b"PK\x01\x02")
    archive[central + 8] |= 0x01  # general purpose flag bit 0: encrypted
    response = post(default_server, bytes(archive))
    assert response.status_code == 200, response.text
    assert response.json() == []


def test_central_directory_offset_corrupt(default_server: ServerProcess) -> None:
    archive = bytearray(build_zip([("a.dcm", make_dicom("BADOFFSET"))]))
    end_record = archive.rindex(b"PK\x05\x06")
    # A central directory offset past its real place shifts every member's
    # offset below zero, so zipfile seeks before the start of the file.
    archive[end_record + 16 : end_record + 20] = struct.pack("<I", len(archive) * 4)
    response = post(default_server, bytes(archive))
    assert response.status_code == 200, response.text
    assert response.json() == []
