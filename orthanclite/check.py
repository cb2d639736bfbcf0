"""Consistency check of the index against the storage area, and its repair.

``orthanclite check`` compares every attachment row with its file (present,
same size, same MD5), lists the files of the storage tree that no row refers
to, and the leftovers of the staging folder. ``--repair`` fixes what it can
without losing a valid file. It moves the files that no row refers to into
the ``quarantine`` folder of the data folder. It removes the rows whose file
is missing, deleting an instance with the ancestors it leaves empty. It
empties the staging folder. A file whose size or MD5 differs from its row is
only reported.

Run it while the server is stopped: uploads in progress would show up as
staging leftovers and as files without a row.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from orthanclite.config import Settings
from orthanclite.index.consistency import (
    IndexedAttachment,
    iter_attachments,
    remove_attachment,
)
from orthanclite.index.session import create_index_engine, create_session_factory
from orthanclite.locks import FileLock
from orthanclite.storage import FileStorage

logger = logging.getLogger(__name__)

MISSING_FILE = "missing file"
WRONG_SIZE = "wrong size"
WRONG_MD5 = "wrong MD5"
ORPHAN_FILE = "file not in the index"
STAGING_LEFTOVER = "staging leftover"


@dataclass(slots=True)
class Problem:
    """One inconsistency, and what the repair did about it."""

    kind: str
    description: str
    repair: str | None = None


@dataclass(slots=True)
class CheckReport:
    problems: list[Problem] = field(default_factory=list)

    @property
    def remaining(self) -> list[Problem]:
        """The problems that no repair fixed."""
        return [problem for problem in self.problems if problem.repair is None]


def settle_pending_files(
    storage: FileStorage, is_indexed: Callable[[list[str]], set[str]]
) -> int:
    """Remove the files that a crash left in the tree without an index row.

    Only the files left pending by the journals (and the markers of earlier
    versions) are looked at, so start-up stays as cheap with a million files
    as with ten. A pending UUID that is in the index belongs to a store that
    committed, or to a delete that rolled back: its file stays. Returns the
    number of files removed.
    """
    pending = storage.pending_uuids()
    indexed = is_indexed(pending) if pending else set()
    removed = 0
    for uuid in pending:
        if uuid not in indexed and storage.path(uuid).exists():
            storage.remove(uuid)
            removed += 1
    storage.forget_pending()
    return removed


def file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fp:
        while chunk := fp.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class ConsistencyCheck:
    """Compares one data folder's index and storage area, and repairs them."""

    def __init__(self, settings: Settings) -> None:
        self.data = settings.data
        self.storage_dir = settings.storage_dir
        self.staging_dir = settings.staging_dir
        self.quarantine_dir = settings.data / "quarantine"
        self.engine = create_index_engine(settings.effective_database_url)
        self.sessions = create_session_factory(self.engine)
        self.report = CheckReport()
        self._lost: list[tuple[Problem, IndexedAttachment]] = []
        self._orphans: list[tuple[Problem, Path]] = []
        self._leftovers: list[tuple[Problem, Path]] = []

    def close(self) -> None:
        self.engine.dispose()

    def _path(self, uuid: str) -> Path:
        return self.storage_dir / uuid[0:2] / uuid[2:4] / uuid

    def _relative(self, path: Path) -> str:
        return str(path.relative_to(self.data))

    def _add(self, kind: str, description: str) -> Problem:
        problem = Problem(kind, description)
        self.report.problems.append(problem)
        return problem

    def run(self, repair: bool) -> CheckReport:
        referenced = self._check_attachments()
        self._check_tree(referenced)
        self._check_staging()
        if repair:
            self._repair()
        return self.report

    def _check_attachments(self) -> set[str]:
        """Check the file of every attachment row; return the expected paths."""
        referenced: set[str] = set()
        with self.sessions() as session:
            for attachment in iter_attachments(session):
                path = self._path(attachment.uuid)
                referenced.add(str(path))
                owner = f"{attachment.level.type_name.lower()} {attachment.public_id}"
                try:
                    size = path.stat().st_size
                except FileNotFoundError:
                    problem = self._add(
                        MISSING_FILE,
                        f"{self._relative(path)}, attachment of {owner}, is missing",
                    )
                    self._lost.append((problem, attachment))
                    continue
                if size != attachment.size:
                    self._add(
                        WRONG_SIZE,
                        f"{self._relative(path)}, attachment of {owner}, has "
                        f"{size} bytes where the index records {attachment.size}",
                    )
                elif file_md5(path) != attachment.md5:
                    self._add(
                        WRONG_MD5,
                        f"{self._relative(path)}, attachment of {owner}, has "
                        f"another MD5 than the index records ({attachment.md5})",
                    )
        return referenced

    def _check_tree(self, referenced: set[str]) -> None:
        for folder, _, names in os.walk(self.storage_dir):
            for name in sorted(names):
                path = Path(folder) / name
                if str(path) not in referenced:
                    problem = self._add(
                        ORPHAN_FILE,
                        f"{self._relative(path)} ({path.stat().st_size} bytes) is not "
                        "referenced by the index",
                    )
                    self._orphans.append((problem, path))

    def _check_staging(self) -> None:
        if not self.staging_dir.is_dir():
            return
        for path in sorted(self.staging_dir.iterdir()):
            problem = self._add(
                STAGING_LEFTOVER,
                f"{self._relative(path)} is left from an unfinished upload",
            )
            self._leftovers.append((problem, path))

    def _repair(self) -> None:
        for problem, attachment in self._lost:
            with self.sessions.begin() as session:
                others = remove_attachment(session, attachment)
            owner = f"{attachment.level.type_name.lower()} {attachment.public_id}"
            problem.repair = f"removed the index rows of {owner}"
            for uuid in others:
                path = self._path(uuid)
                if path.exists():
                    orphan = self._add(
                        ORPHAN_FILE,
                        f"{self._relative(path)} belonged to the rows of {owner}",
                    )
                    self._orphans.append((orphan, path))
        for problem, path in self._orphans:
            target = self._quarantine(path)
            problem.repair = f"moved to {self._relative(target)}"
        for problem, path in self._leftovers:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
            problem.repair = "removed"

    def _quarantine(self, path: Path) -> Path:
        """Move a file of the storage tree to the same place below ``quarantine``."""
        target = self.quarantine_dir / path.relative_to(self.storage_dir)
        suffix = 0
        while target.exists():
            suffix += 1
            target = target.with_name(f"{path.name}.{suffix}")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, target)
        for folder in (path.parent, path.parent.parent):
            if folder == self.storage_dir:
                break
            try:
                folder.rmdir()
            except OSError:
                break
        return target


def run_check(settings: Settings, repair: bool) -> int:
    """Print the inconsistencies of a data folder; return the exit status.

    The status is 0 when the data folder is consistent (or was fully
    repaired), 1 when problems remain, 2 when there is no index to check or
    a server is using the data folder.
    """
    if not settings.database_url and not (settings.data / "index.sqlite").is_file():
        print(f"No index in {settings.data}: check the --data folder")
        return 2
    # Uploads in progress would show up as problems, and a repair would move
    # their files away, so the check holds the lock that a server holds.
    settings.data.mkdir(parents=True, exist_ok=True)
    folder_lock = FileLock(settings.data / "server.lock")
    try:
        if not folder_lock.try_acquire():
            print(f"A server is using {settings.data}: stop it, then run the check")
            return 2
        check = ConsistencyCheck(settings)
        try:
            report = check.run(repair)
        finally:
            check.close()
    finally:
        folder_lock.close()
    for problem in report.problems:
        line = f"{problem.kind}: {problem.description}"
        if problem.repair:
            line += f"; repaired: {problem.repair}"
        print(line)
    remaining = len(report.remaining)
    repaired = len(report.problems) - remaining
    if not report.problems:
        print("The index and the storage area are consistent")
    elif repair:
        found = len(report.problems)
        print(f"{_problems(found)} found, {repaired} repaired, {remaining} remain")
    else:
        print(f"{_problems(len(report.problems))} found; run with --repair to fix them")
    return 1 if remaining else 0


def _problems(count: int) -> str:
    return "1 problem" if count == 1 else f"{count} problems"
