"""File storage area: one file per attachment, named by a random UUID.

Files sit in two levels of folders named after the first four hex digits of
their UUID (``ab/cd/abcd...``), as in Orthanc's storage area. A small upload
held in memory is written straight to its place in the tree; a large one is
streamed into the staging folder and renamed into place. The staging folder
is emptied at start-up, which removes what a crash left half-written.

A file whose index row is not committed yet (being stored) or not removed
yet (being deleted) is pending: its UUID is appended to the pending journal
of the process before the file enters the tree or its row leaves the index,
and appended again, struck out, once both agree. After a crash, the journals
tell which files of the tree may lack an index row (or be half-written), so
start-up settles them without scanning the tree.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import shutil
import threading
import uuid as uuid_module
from dataclasses import dataclass
from pathlib import Path

from orthanclite.errors import ErrorCode, OrthancError

logger = logging.getLogger(__name__)

# Pending markers of earlier versions: one empty file per UUID in the
# staging folder. They are still read at start-up.
PENDING_PREFIX = "pending-"
JOURNAL_SUFFIX = ".journal"
# A journal larger than this is rewritten with its open entries only.
JOURNAL_ROTATE_SIZE = 1 << 20
NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
# Attempts at creating a file whose folder a concurrent delete may remove.
CREATE_ATTEMPTS = 3
# errno values meaning that the disk, a quota or the file size limit is reached.
FULL_STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})


def write_error(error: OSError) -> OrthancError:
    """Build the error returned to the client when writing to the storage area fails."""
    if error.errno in FULL_STORAGE_ERRNOS:
        return OrthancError(
            ErrorCode.FULL_STORAGE, f"The storage area is full: {error.strerror}"
        )
    return OrthancError(
        ErrorCode.CANNOT_WRITE_FILE, f"Cannot write to the storage area: {error.strerror}"
    )


class PendingJournal:
    """The UUIDs of the pending files of one process, in an append-only file.

    ``+uuid`` lines open an entry and ``-uuid`` lines close it. Appends are
    not flushed to disk: they cover a crash of the process, not a power
    failure. Each process writes its own journal, opened at its first entry,
    and rewrites it with the open entries alone once it grows large.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._pid = 0
        self._path: Path | None = None
        self._size = 0
        self._open_entries: set[str] = set()

    def add(self, uuids: list[str]) -> None:
        if uuids:
            self._append("+", uuids)

    def remove(self, uuids: list[str]) -> None:
        if uuids:
            self._append("-", uuids)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None and self._pid == os.getpid():
                os.close(self._fd)
            self._fd = None

    def _append(self, sign: str, uuids: list[str]) -> None:
        data = "".join(f"{sign}{uuid}\n" for uuid in uuids).encode()
        with self._lock:
            if self._fd is None or self._pid != os.getpid():
                self._open()
            assert self._fd is not None
            os.write(self._fd, data)
            self._size += len(data)
            if sign == "+":
                self._open_entries.update(uuids)
            else:
                self._open_entries.difference_update(uuids)
            if self._size > JOURNAL_ROTATE_SIZE:
                self._rotate()

    def _open(self) -> None:
        # A process forked from one that had a journal starts its own.
        self._pid = os.getpid()
        self._open_entries = set()
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{self._pid}-{uuid_module.uuid4().hex[:12]}{JOURNAL_SUFFIX}"
        self._path = self.folder / name
        self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._size = 0

    def _rotate(self) -> None:
        assert self._path is not None and self._fd is not None
        data = "".join(f"+{uuid}\n" for uuid in self._open_entries).encode()
        fresh = self._path.with_suffix(".rotating")
        fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        try:
            os.write(fd, data)
            os.replace(fresh, self._path)
        except BaseException:
            os.close(fd)
            raise
        os.close(self._fd)
        self._fd = fd
        self._size = len(data)


def read_journals(folder: Path) -> set[str]:
    """Return the UUIDs left open in the pending journals of ``folder``."""
    pending: set[str] = set()
    if not folder.is_dir():
        return pending
    for path in folder.iterdir():
        if path.suffix not in (JOURNAL_SUFFIX, ".rotating"):
            continue
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("+"):
                pending.add(line[1:])
            elif line.startswith("-"):
                pending.discard(line[1:])
    return pending


class FileStorage:
    """The storage area below one root folder, independent of DICOM."""

    def __init__(
        self, root: Path, staging: Path, pending: Path, fsync: bool = True
    ) -> None:
        self.root = root
        self.staging = staging
        self.fsync = fsync
        self.root.mkdir(parents=True, exist_ok=True)
        self.staging.mkdir(parents=True, exist_ok=True)
        self.journal = PendingJournal(pending)

    def clear_staging(self) -> int:
        """Remove the files left in the staging folder; return how many."""
        count = 0
        for entry in self.staging.iterdir():
            try:
                if entry.is_dir():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
                count += 1
            except OSError as error:
                logger.error("Cannot remove staged file %s: %s", entry, error)
        return count

    def new_staged_file(self) -> tuple[Path, int]:
        """Create an empty file in the staging folder; return its path and fd."""
        path = self.staging / f"upload-{uuid_module.uuid4().hex}"
        try:
            fd = os.open(path, NEW_FILE_FLAGS, 0o600)
        except OSError as error:
            raise write_error(error) from None
        return path, fd

    def mark_pending(self, uuids: list[str]) -> None:
        """Record that the index rows of these files may change."""
        self.journal.add(uuids)

    def clear_pending(self, uuids: list[str]) -> None:
        try:
            self.journal.remove(uuids)
        except OSError as error:
            # The entries stay open: the next start-up checks these files.
            logger.error("Cannot close pending entries %s: %s", uuids, error)

    def pending_uuids(self) -> list[str]:
        """Return the UUIDs that the journals and markers left pending."""
        pending = read_journals(self.journal.folder)
        pending.update(
            entry.name.removeprefix(PENDING_PREFIX)
            for entry in self.staging.iterdir()
            if entry.name.startswith(PENDING_PREFIX)
        )
        return sorted(pending)

    def forget_pending(self) -> None:
        """Delete the journals once start-up has settled their entries."""
        self.journal.close()
        if not self.journal.folder.is_dir():
            return
        for path in self.journal.folder.iterdir():
            try:
                path.unlink()
            except OSError as error:
                logger.error("Cannot remove pending journal %s: %s", path, error)

    def path(self, uuid: str) -> Path:
        """Return where the attachment ``uuid`` is stored."""
        return self.root / uuid[0:2] / uuid[2:4] / uuid

    def write(self, content: bytes) -> str:
        """Write a new attachment from memory straight into the tree; return its UUID.

        The file is flushed to disk (unless disabled) before this returns, so
        that the index never refers to a file that a power failure could
        leave empty. It is pending until the caller clears it.
        """
        uuid = str(uuid_module.uuid4())
        target = self.path(uuid)
        self.mark_pending([uuid])
        fd = -1
        try:
            fd = self._create(target)
            view = memoryview(content)
            while view:
                view = view[os.write(fd, view) :]
            if self.fsync:
                os.fsync(fd)
        except BaseException as error:
            if fd >= 0:
                os.close(fd)
                fd = -1
                target.unlink(missing_ok=True)
            self.clear_pending([uuid])
            if isinstance(error, OSError):
                logger.error("Cannot write attachment %s: %s", uuid, error)
                raise write_error(error) from None
            raise
        finally:
            if fd >= 0:
                os.close(fd)
        return uuid

    def _create(self, target: Path) -> int:
        for attempt in range(CREATE_ATTEMPTS):
            try:
                return os.open(target, NEW_FILE_FLAGS, 0o600)
            except FileNotFoundError:
                # The two-level folder does not exist yet, or a delete of its
                # last file removed it meanwhile.
                if attempt == CREATE_ATTEMPTS - 1:
                    raise
                target.parent.mkdir(parents=True, exist_ok=True)
        raise AssertionError("unreachable")

    def commit(self, staged: Path) -> str:
        """Move a complete staged file into the storage tree; return its UUID.

        ``StagedWriter`` has flushed the file to disk already. The file is
        pending before it enters the tree: the caller clears it once the
        index row is committed or the file removed.
        """
        uuid = str(uuid_module.uuid4())
        target = self.path(uuid)
        self.mark_pending([uuid])
        try:
            for attempt in range(CREATE_ATTEMPTS):
                try:
                    os.rename(staged, target)
                    break
                except FileNotFoundError:
                    if attempt == CREATE_ATTEMPTS - 1 or not os.path.exists(staged):
                        raise
                    target.parent.mkdir(parents=True, exist_ok=True)
        except BaseException:
            self.clear_pending([uuid])
            raise
        return uuid

    def remove(self, uuid: str) -> None:
        """Delete an attachment; a missing file is logged, not raised."""
        target = self.path(uuid)
        try:
            target.unlink()
        except FileNotFoundError:
            logger.warning("Attachment %s was already missing from the storage area", uuid)
            return
        for folder in (target.parent, target.parent.parent):
            try:
                folder.rmdir()
            except OSError:
                break

    def discard(self, staged: Path) -> None:
        """Delete a staged file that will not be stored."""
        try:
            staged.unlink()
        except FileNotFoundError:
            pass
        except OSError as error:
            logger.error("Cannot remove staged file %s: %s", staged, error)


class StagedWriter:
    """Writes an incoming file into the staging folder and hashes it.

    Call ``write`` with successive chunks (from a worker thread: it blocks on
    disk I/O), then ``finish`` to get the staged file, flushed to disk unless
    the storage area's ``fsync`` is off.
    """

    def __init__(self, storage: FileStorage) -> None:
        self.path, fd = storage.new_staged_file()
        self._file = os.fdopen(fd, "wb")
        self._fsync = storage.fsync
        self._md5 = hashlib.md5()
        self.size = 0
        self._first_chunk = b""

    def write(self, chunk: bytes) -> None:
        if self.size == 0:
            self._first_chunk = chunk
        try:
            self._file.write(chunk)
        except OSError as error:
            logger.error("Cannot write staged file %s: %s", self.path.name, error)
            raise write_error(error) from None
        self._md5.update(chunk)
        self.size += len(chunk)

    def finish(self) -> StagedFile:
        try:
            self._file.flush()
            if self._fsync:
                os.fsync(self._file.fileno())
            self._file.close()
        except OSError as error:
            logger.error("Cannot write staged file %s: %s", self.path.name, error)
            self.abort()
            raise write_error(error) from None
        # A file written in one chunk is also kept in memory, so that parsing
        # it does not read it back from disk.
        content = self._first_chunk if len(self._first_chunk) == self.size else None
        return StagedFile(self.path, self.size, self._md5.hexdigest(), content)

    def abort(self) -> None:
        try:
            self._file.close()
        except OSError:
            # Closing flushes the buffer, which fails again on a full disk.
            pass
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


@dataclass(frozen=True, slots=True)
class StagedFile:
    """A complete file in the staging folder, with its size and MD5."""

    path: Path
    size: int
    md5: str
    content: bytes | None = None
