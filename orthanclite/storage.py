"""File storage area: one file per attachment, named by a random UUID.

Files sit in two levels of folders named after the first four hex digits of
their UUID (``ab/cd/abcd...``), as in Orthanc's storage area. New files are
written in a staging folder and renamed into place, so a file in the storage
tree is always complete. The staging folder is emptied at start-up, which
removes what a crash left half-written.

A file whose index row is not committed yet (being stored) or not removed
yet (being deleted) has a pending marker in the staging folder, named after
its UUID. After a crash, the markers tell which files of the storage tree
may lack an index row, so start-up settles them without scanning the tree.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import shutil
import tempfile
import uuid as uuid_module
from dataclasses import dataclass
from pathlib import Path

from orthanclite.errors import ErrorCode, OrthancError

logger = logging.getLogger(__name__)

PENDING_PREFIX = "pending-"
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


class FileStorage:
    """The storage area below one root folder, independent of DICOM."""

    def __init__(self, root: Path, staging: Path, fsync: bool = True) -> None:
        self.root = root
        self.staging = staging
        self.fsync = fsync
        self.root.mkdir(parents=True, exist_ok=True)
        self.staging.mkdir(parents=True, exist_ok=True)

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
        try:
            fd, name = tempfile.mkstemp(dir=self.staging, prefix="upload-")
        except OSError as error:
            raise write_error(error) from None
        return Path(name), fd

    def mark_pending(self, uuids: list[str]) -> None:
        """Create the pending markers of files whose index rows may change.

        The markers are not flushed to disk: they cover a crash of the
        process, not a power failure.
        """
        for uuid in uuids:
            (self.staging / (PENDING_PREFIX + uuid)).touch()

    def clear_pending(self, uuids: list[str]) -> None:
        for uuid in uuids:
            try:
                (self.staging / (PENDING_PREFIX + uuid)).unlink()
            except FileNotFoundError:
                pass
            except OSError as error:
                logger.error("Cannot remove pending marker of %s: %s", uuid, error)

    def pending_uuids(self) -> list[str]:
        """Return the UUIDs of the pending markers left in the staging folder."""
        return [
            entry.name.removeprefix(PENDING_PREFIX)
            for entry in self.staging.iterdir()
            if entry.name.startswith(PENDING_PREFIX)
        ]

    def path(self, uuid: str) -> Path:
        """Return where the attachment ``uuid`` is stored."""
        return self.root / uuid[0:2] / uuid[2:4] / uuid

    def commit(self, staged: Path) -> str:
        """Move a complete staged file into the storage tree; return its UUID.

        The file is flushed to disk first (unless disabled), so that the index
        never refers to a file that a power failure could leave empty. The
        file is marked pending before it enters the tree: the caller clears
        the marker once the index row is committed or the file removed.
        """
        if self.fsync:
            fd = os.open(staged, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        uuid = str(uuid_module.uuid4())
        target = self.path(uuid)
        self.mark_pending([uuid])
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.rename(staged, target)
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
    disk I/O), then ``finish`` to get the staged file.
    """

    def __init__(self, storage: FileStorage) -> None:
        self.path, fd = storage.new_staged_file()
        self._file = os.fdopen(fd, "wb")
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
            self._file.close()
        except OSError as error:
            logger.error("Cannot write staged file %s: %s", self.path.name, error)
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
