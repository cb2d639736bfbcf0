"""Uploads to a full disk or an unwritable storage area fail cleanly.

Tests run as root, where chmod does not stop writes, so a full disk is
simulated with a file size limit (RLIMIT_FSIZE) on the server process, and
an unwritable storage tree by a regular file in place of its folder.
"""

from __future__ import annotations

import resource
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import ServerProcess, make_dicom
from tests.reliability_helpers import check_problems, staging_entries, storage_files

FILE_SIZE_LIMIT = 4 * 1024 * 1024


def limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))


@pytest.fixture
def limited_server(tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path / "data", preexec_fn=limit_file_size)
    yield process
    process.stop()


def large_dicom() -> bytes:
    return make_dicom(
        "BIG", EncapsulatedDocument=b"\x01" * (FILE_SIZE_LIMIT + 1024 * 1024)
    )


def test_full_disk_answers_507(limited_server: ServerProcess) -> None:
    with httpx.Client(base_url=limited_server.url, timeout=60) as client:
        small = client.post("/instances", content=make_dicom("SMALL")).json()
        response = client.post("/instances", content=large_dicom())
        body = response.json()
        assert response.status_code == 507
        assert body["OrthancStatus"] == 19
        assert "full" in body["Details"]
        assert staging_entries(limited_server.data) == []
        assert len(storage_files(limited_server.data)) == 1

        # Reads and small uploads keep working.
        assert client.get(f"/instances/{small['ID']}/file").status_code == 200
        assert client.get("/statistics").json()["CountInstances"] == 1
        assert client.post("/instances", content=make_dicom("SMALL")).status_code == 200
    assert limited_server.process.poll() is None
    assert check_problems(limited_server.data) == []


def test_full_disk_in_zip_member(limited_server: ServerProcess) -> None:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("small.dcm", make_dicom("ZIPSMALL"))
        archive.writestr("big.dcm", large_dicom())
    with httpx.Client(base_url=limited_server.url, timeout=60) as client:
        response = client.post("/instances", content=buffer.getvalue())
    assert response.status_code == 507
    assert staging_entries(limited_server.data) == []
    assert check_problems(limited_server.data) == []


def test_unwritable_storage_tree(server: ServerProcess, client: httpx.Client) -> None:
    first = client.post("/instances", content=make_dicom("FIRST")).json()
    storage = server.data / "storage"
    moved = server.data / "storage-moved"
    storage.rename(moved)
    storage.write_bytes(b"not a folder")
    try:
        response = client.post("/instances", content=make_dicom("SECOND"))
        body = response.json()
        assert response.status_code == 500
        assert body["OrthancStatus"] == 14
        assert body["Details"].startswith("Cannot write to the storage area")
        assert staging_entries(server.data) == []
    finally:
        storage.unlink()
        moved.rename(storage)
    assert client.get(f"/instances/{first['ID']}/file").status_code == 200
    assert client.get("/statistics").json()["CountInstances"] == 1
