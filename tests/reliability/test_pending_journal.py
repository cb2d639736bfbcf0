"""The pending journal of the storage area: entries, rotation, reading back."""

from __future__ import annotations

import os
from pathlib import Path

from orthanclite import storage
from orthanclite.storage import FileStorage, PendingJournal, read_journals


def test_open_entries_are_read_back(tmp_path: Path) -> None:
    journal = PendingJournal(tmp_path / "pending")
    journal.add(["a", "b"])
    journal.remove(["a"])
    journal.add(["c"])
    assert read_journals(tmp_path / "pending") == {"b", "c"}
    journal.close()


def test_rotation_keeps_only_open_entries(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(storage, "JOURNAL_ROTATE_SIZE", 200)
    folder = tmp_path / "pending"
    journal = PendingJournal(folder)
    journal.add(["kept"])
    for number in range(100):
        journal.add([f"file-{number}"])
        journal.remove([f"file-{number}"])
    files = list(folder.iterdir())
    assert len(files) == 1
    assert files[0].stat().st_size < 250
    assert read_journals(folder) == {"kept"}
    journal.close()


def test_each_process_writes_its_own_journal(tmp_path: Path) -> None:
    folder = tmp_path / "pending"
    journal = PendingJournal(folder)
    journal.add(["parent"])
    child = os.fork()
    if child == 0:
        journal.add(["child"])
        os._exit(0)
    os.waitpid(child, 0)
    journal.add(["parent-again"])
    assert len(list(folder.iterdir())) == 2
    assert read_journals(folder) == {"parent", "child", "parent-again"}
    journal.close()


def test_write_creates_missing_folders_and_marks_pending(tmp_path: Path) -> None:
    area = FileStorage(tmp_path / "tree", tmp_path / "staging", tmp_path / "pending")
    uuid = area.write(b"content")
    assert area.path(uuid).read_bytes() == b"content"
    assert area.pending_uuids() == [uuid]
    area.clear_pending([uuid])
    assert area.pending_uuids() == []
    area.remove(uuid)
    assert list((tmp_path / "tree").iterdir()) == []
    area.forget_pending()
    assert list((tmp_path / "pending").iterdir()) == []
