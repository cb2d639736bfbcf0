"""Streaming ZIP writer: ZIP64 only when needed, compression, missing files."""

from __future__ import annotations

import io
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from orthanclite.archive.zip import ZipMember, stream_zip

ZIP64_END_RECORD = b"PK\x06\x06"
# One more member than a plain ZIP end record can count.
ZIP64_MEMBER_COUNT = 65_536


def _empty_member(name: str) -> ZipMember:
    return ZipMember(name, content=lambda: (io.BytesIO(b""), 0))


def _file_members(tmp_path: Path, count: int) -> list[ZipMember]:
    members = []
    for number in range(count):
        path = tmp_path / f"file{number}"
        path.write_bytes(bytes([number]) * (1000 + number))
        members.append(ZipMember(f"dir/file{number}.dcm", path, path.stat().st_size))
    return members


def test_zip64_many_members(tmp_path: Path) -> None:
    members = (_empty_member(f"IMAGES/IM{n}") for n in range(ZIP64_MEMBER_COUNT))
    archive = tmp_path / "many.zip"
    with open(archive, "wb") as output:
        for chunk in stream_zip(members):
            output.write(chunk)

    assert ZIP64_END_RECORD in archive.read_bytes()[-200:]
    with zipfile.ZipFile(archive) as opened:
        names = opened.namelist()
    assert len(names) == ZIP64_MEMBER_COUNT
    assert names[-1] == f"IMAGES/IM{ZIP64_MEMBER_COUNT - 1}"


@pytest.mark.skipif(shutil.which("unzip") is None, reason="unzip is not installed")
def test_zip64_passes_unzip_test(tmp_path: Path) -> None:
    members = (_empty_member(f"IM{n}") for n in range(ZIP64_MEMBER_COUNT))
    archive = tmp_path / "many.zip"
    archive.write_bytes(b"".join(stream_zip(members, compression="stored")))
    result = subprocess.run(
        ["unzip", "-tq", str(archive)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_small_archive_is_plain_zip(tmp_path: Path) -> None:
    data = b"".join(stream_zip(_file_members(tmp_path, 3)))
    assert ZIP64_END_RECORD not in data


def test_members_are_byte_identical(tmp_path: Path) -> None:
    members = _file_members(tmp_path, 3)
    data = b"".join(stream_zip(members))
    with zipfile.ZipFile(io.BytesIO(data)) as opened:
        for member in members:
            assert member.path is not None
            assert opened.read(member.arcname) == member.path.read_bytes()


@pytest.mark.parametrize(
    ("compression", "method"),
    [("deflated", zipfile.ZIP_DEFLATED), ("stored", zipfile.ZIP_STORED)],
)
def test_compression_setting(tmp_path: Path, compression: str, method: int) -> None:
    data = b"".join(stream_zip(_file_members(tmp_path, 1), compression=compression))
    with zipfile.ZipFile(io.BytesIO(data)) as opened:
        assert opened.infolist()[0].compress_type == method


def test_missing_file_is_left_out(tmp_path: Path) -> None:
    members = _file_members(tmp_path, 3)
    assert members[1].path is not None
    members[1].path.unlink()
    written: list[str] = []
    data = b"".join(stream_zip(members, on_written=lambda m: written.append(m.arcname)))
    with zipfile.ZipFile(io.BytesIO(data)) as opened:
        assert opened.namelist() == [members[0].arcname, members[2].arcname]
        assert opened.testzip() is None
    assert written == [members[0].arcname, members[2].arcname]


def test_comment_is_written(tmp_path: Path) -> None:
    data = b"".join(stream_zip(_file_members(tmp_path, 1), comment=b"hello"))
    with zipfile.ZipFile(io.BytesIO(data)) as opened:
        assert opened.comment == b"hello"


def test_closing_early_closes_file(tmp_path: Path) -> None:
    path = tmp_path / "big"
    path.write_bytes(b"\x01" * (4 << 20))
    chunks = stream_zip([ZipMember("big", path, 4 << 20)], compression="stored")
    next(chunks)
    chunks.close()
    open_files = {Path(link).resolve() for link in _open_fd_targets()}
    assert path.resolve() not in open_files


def _open_fd_targets() -> list[str]:
    fd_folder = Path("/proc/self/fd")
    targets = []
    for entry in fd_folder.iterdir():
        try:
            targets.append(str(entry.readlink()))
        except OSError:
            continue
    return targets
