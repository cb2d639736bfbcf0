"""``orthanclite check``: inconsistencies between index and storage, and repair."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from tests.helpers import ServerProcess, make_dicom
from tests.reliability_helpers import run_check_command, storage_files


@pytest.fixture
def stored(tmp_path: Path) -> tuple[Path, list[str]]:
    """A stopped server's data folder holding three instances of one series."""
    data = tmp_path / "data"
    server = ServerProcess(data)
    ids = []
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            for _ in range(3):
                body = make_dicom("CHECK", "1.2.3.1", "1.2.3.1.1")
                ids.append(client.post("/instances", content=body).json()["ID"])
    finally:
        server.stop()
    return data, ids


def test_check_consistent_folder(stored: tuple[Path, list[str]]) -> None:
    data, _ = stored
    completed = run_check_command(data)
    assert completed.returncode == 0, completed.stdout
    assert "consistent" in completed.stdout


def test_check_without_index(tmp_path: Path) -> None:
    completed = run_check_command(tmp_path / "absent")
    assert completed.returncode == 2
    assert "No index" in completed.stdout


def test_check_reports_every_kind(stored: tuple[Path, list[str]]) -> None:
    data, _ = stored
    files = storage_files(data)
    files[0].unlink()
    files[1].write_bytes(files[1].read_bytes() + b"extra")
    body = bytearray(files[2].read_bytes())
    body[-1] ^= 0xFF
    files[2].write_bytes(bytes(body))
    orphan = data / "storage" / "00" / "11" / "00112233-orphan"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"lost")
    (data / "staging" / "upload-left").write_bytes(b"half")

    completed = run_check_command(data)
    output = completed.stdout
    assert completed.returncode == 1
    assert "missing file: " in output
    assert "wrong size: " in output
    assert "wrong MD5: " in output
    assert "file not in the index: storage/00/11/00112233-orphan" in output
    assert "staging leftover: staging/upload-left" in output
    assert "5 problems found" in output


def test_check_repair_missing_file(stored: tuple[Path, list[str]]) -> None:
    data, ids = stored
    storage_files(data)[0].unlink()
    completed = run_check_command(data, "--repair")
    assert completed.returncode == 0, completed.stdout
    assert "removed the index rows of instance" in completed.stdout
    assert run_check_command(data).returncode == 0

    server = ServerProcess(data)
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            remaining = client.get("/instances").json()
    finally:
        server.stop()
    assert len(remaining) == 2
    assert set(remaining) < set(ids)


def test_check_repair_last_instance_removes_parents(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = ServerProcess(data)
    with httpx.Client(base_url=server.url, timeout=60) as client:
        client.post("/instances", content=make_dicom("ALONE"))
    server.stop()
    storage_files(data)[0].unlink()
    assert run_check_command(data, "--repair").returncode == 0

    server = ServerProcess(data)
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            patients = client.get("/patients").json()
    finally:
        server.stop()
    assert patients == []


def test_check_repair_quarantines_orphans(stored: tuple[Path, list[str]]) -> None:
    data, _ = stored
    orphan = data / "storage" / "00" / "11" / "00112233-orphan"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"lost")
    (data / "staging" / "upload-left").write_bytes(b"half")

    completed = run_check_command(data, "--repair")
    assert completed.returncode == 0, completed.stdout
    assert (
        data / "quarantine" / "00" / "11" / "00112233-orphan"
    ).read_bytes() == b"lost"
    assert not orphan.exists()
    # The emptied folders go too, unless a stored file's random UUID shares them.
    if not any(path.name.startswith("0011") for path in storage_files(data)):
        assert not orphan.parent.exists()
    if not any(path.name.startswith("00") for path in storage_files(data)):
        assert not (data / "storage" / "00").exists()
    assert list((data / "staging").iterdir()) == []
    assert "2 problems found, 2 repaired, 0 remain" in completed.stdout


def test_check_repair_keeps_corrupted_file(stored: tuple[Path, list[str]]) -> None:
    data, _ = stored
    target = storage_files(data)[0]
    target.write_bytes(b"corrupted")
    completed = run_check_command(data, "--repair")
    assert completed.returncode == 1
    assert target.read_bytes() == b"corrupted"
    assert "1 remain" in completed.stdout


def copy_into_tree(data: Path, source: Path, uuid: str) -> Path:
    """Copy a stored file into the tree under another UUID, with no row for it."""
    target = data / "storage" / uuid[0:2] / uuid[2:4] / uuid
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, target)
    return target


def test_startup_removes_pending_unindexed_file(stored: tuple[Path, list[str]]) -> None:
    data, _ = stored
    # State left by a crash of an earlier version between the rename into
    # the tree and the index commit: a pending marker and a file without row.
    source = storage_files(data)[0]
    uuid = "aabbccdd-0000-4000-8000-000000000000"
    target = copy_into_tree(data, source, uuid)
    (data / "staging" / f"pending-{uuid}").touch()
    # A marker of an indexed file, as left by a delete that did not commit.
    (data / "staging" / f"pending-{source.name}").touch()

    ServerProcess(data).stop()
    assert not target.exists()
    assert source.exists()
    assert run_check_command(data).returncode == 0


def test_startup_settles_pending_journal(stored: tuple[Path, list[str]]) -> None:
    data, _ = stored
    # A journal left by a killed process: one store that never committed, one
    # delete that rolled back, and one entry that was struck out.
    source = storage_files(data)[0]
    unindexed = "ccddeeff-0000-4000-8000-000000000000"
    target = copy_into_tree(data, source, unindexed)
    closed = "ccddeeff-1111-4000-8000-000000000000"
    closed_file = copy_into_tree(data, source, closed)
    journal = data / "pending" / "4242-0a0b0c0d0e0f.journal"
    journal.parent.mkdir(exist_ok=True)
    journal.write_text(f"+{unindexed}\n+{source.name}\n+{closed}\n-{closed}\n")

    ServerProcess(data).stop()
    assert not target.exists()
    assert source.exists()
    assert not journal.exists()
    # The struck-out entry was not touched: only `check` reports such a file.
    assert closed_file.exists()
    closed_file.unlink()
    assert run_check_command(data).returncode == 0
