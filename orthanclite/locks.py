"""Locks on files of the data folder, shared by the server's worker processes.

``flock`` locks belong to an open file, so each process opens the lock file
itself, and a thread lock orders the threads of one process before they
take the file lock. The kernel releases the lock of a process that dies.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class FileLock:
    """An exclusive lock held by one thread of one process at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread_lock = threading.Lock()
        self._fd: int | None = None

    def _file(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        return self._fd

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Wait for the lock and hold it for the duration of the block."""
        with self._thread_lock:
            fd = self._file()
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def try_acquire(self) -> bool:
        """Take the lock for good if no other process holds it; tell whether it did."""
        fd = self._file()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def close(self) -> None:
        """Close the lock file, which releases a lock taken with ``try_acquire``."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
