"""Server context: stores, reads and deletes resources, one transaction each.

Route handlers call the context, the context calls the index (SQL) and the
storage area (files). Every method here blocks on disk or database I/O, so
the HTTP layer calls it from worker threads.
"""

from __future__ import annotations

import hashlib
import io
import logging
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from orthanclite.check import settle_pending_files
from orthanclite.config import Settings
from orthanclite.dicom.levels import Level
from orthanclite.dicom.parsing import (
    DicomParseError,
    ParsedInstance,
    parse_instance,
    part10_header,
)
from orthanclite.errors import ErrorCode, OrthancError, unknown_resource
from orthanclite.expansion import expand_resources
from orthanclite.index import consistency, properties, queries, updates
from orthanclite.index.models import Resource
from orthanclite.index.session import create_index_engine, create_session_factory, upgrade_schema
from orthanclite.locks import FileLock
from orthanclite.shared import SharedSettings
from orthanclite.storage import FileStorage, StagedFile, StagedWriter, write_error
from orthanclite.zip_limits import ZIP_READ_ERRORS, ZipBudget

logger = logging.getLogger(__name__)

ZIP_MAGIC = b"PK\x03\x04"
# Attempts of a write transaction that conflicts with a concurrent one.
WRITE_ATTEMPTS = 5
# Uploads stored at the same time by one worker process. Storing is mostly
# CPU work under the GIL, plus waits for the disk flush and the index lock.
UPLOAD_THREADS = 8
# Smaller files are hashed at once: handing them to another thread costs more.
OVERLAPPED_HASH_SIZE = 64 * 1024


@dataclass(frozen=True, slots=True)
class UploadOrigin:
    """Origin of an uploaded instance, recorded in its metadata."""

    remote_ip: str = ""
    username: str = ""
    origin: str = "RestApi"


def orthanc_date(moment: datetime | None = None) -> str:
    """Format a UTC time as Orthanc does: ``YYYYMMDDTHHMMSS``."""
    return (moment or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%S")


class ServerContext:
    """Everything one server process shares between requests."""

    def __init__(self, settings: Settings, shared: SharedSettings | None = None) -> None:
        self.settings = settings
        settings.data.mkdir(parents=True, exist_ok=True)
        if settings.database_url is None and settings.index_directory is not None:
            settings.index_directory.mkdir(parents=True, exist_ok=True)
        self.storage = FileStorage(
            settings.storage_dir, settings.staging_dir, settings.pending_dir, settings.fsync
        )
        self.engine = create_index_engine(settings.effective_database_url)
        self.sessions = create_session_factory(self.engine)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        # SQLite has one writer at a time: serializing the writers of every
        # worker process here keeps "database is locked" away from clients.
        self._index_lock = FileLock(settings.data / "index.lock")
        self.quota = updates.Quota(
            max_bytes=settings.maximum_storage_size * 1024 * 1024,
            max_patients=settings.maximum_patient_count,
            recycle=settings.maximum_storage_mode == "Recycle",
        )
        self.shared = shared or SharedSettings(settings.default_encoding)
        self._hashing = ThreadPoolExecutor(max_workers=2, thread_name_prefix="md5")
        # Threads that store uploads: handing work to a plain executor costs
        # less than Starlette's thread pool, on the busiest route.
        self.upload_executor = ThreadPoolExecutor(
            max_workers=UPLOAD_THREADS, thread_name_prefix="upload"
        )

    @property
    def default_encoding(self) -> str:
        """Character set of files without Specific Character Set."""
        return self.shared.default_encoding

    @default_encoding.setter
    def default_encoding(self, name: str) -> None:
        self.shared.default_encoding = name

    def prepare_data_folder(self) -> None:
        """Bring the data folder to a consistent state before serving.

        Runs once per server, before the worker processes start: upgrades the
        index schema, loads the persisted default encoding and settles what a
        crash left pending.
        """
        upgrade_schema(self.engine)
        with self.read_session() as session:
            stored_encoding = properties.get_property(session, "DefaultEncoding")
        if stored_encoding:
            self.default_encoding = stored_encoding
        # Start-up reads only the pending journals, which name the files a
        # crash may have left without an index row. Comparing the whole
        # storage tree with the index takes as long as the archive is big, so
        # it is left to `orthanclite check`.
        settled = settle_pending_files(self.storage, self._indexed_uuids)
        if settled:
            logger.warning("Removed %d files that a crash left without an index row", settled)
        removed = self.storage.clear_staging()
        if removed:
            logger.warning("Removed %d incomplete uploads left by a previous run", removed)

    def close(self) -> None:
        self.upload_executor.shutdown()
        self._hashing.shutdown()
        self.storage.journal.close()
        self._index_lock.close()
        self.engine.dispose()

    def _indexed_uuids(self, uuids: list[str]) -> set[str]:
        with self.read_session() as session:
            return consistency.indexed_uuids(session, uuids)

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        with self.sessions() as session:
            yield session

    def _writers_turn(self) -> AbstractContextManager[None]:
        """Wait for this writer's turn: SQLite takes one writer at a time."""
        return self._index_lock.hold() if self.is_sqlite else nullcontext()

    @contextmanager
    def _write_session(self) -> Iterator[Session]:
        with self._writers_turn(), self.sessions.begin() as session:
            yield session

    @contextmanager
    def _write_connection(self) -> Iterator[Connection]:
        """Open a write transaction without the ORM session, for the upload path."""
        with self._writers_turn(), self.engine.begin() as connection:
            yield connection

    # -- storing -----------------------------------------------------------

    def new_upload(self) -> StagedWriter:
        """Start receiving a file into the staging folder."""
        return StagedWriter(self.storage)

    def store_upload(
        self, upload: StagedFile | bytes, origin: UploadOrigin
    ) -> dict | list[dict]:
        """Store a DICOM file or every DICOM file of a ZIP archive.

        ``upload`` is a staged file, or a small body still in memory, which
        is parsed before anything is written and then written straight into
        the storage tree, so that a small upload costs one worker-thread call.
        """
        if isinstance(upload, bytes):
            if not upload.startswith(ZIP_MAGIC):
                return self.store_content(upload, origin)
            staged = self._stage(upload)
        else:
            staged = upload
        if staged.content is not None:
            is_zip = staged.content.startswith(ZIP_MAGIC)
        else:
            with open(staged.path, "rb") as fp:
                is_zip = fp.read(4) == ZIP_MAGIC
        if is_zip:
            try:
                return self.store_zip(staged, origin)
            finally:
                self.storage.discard(staged.path)
        return self.store(staged, origin)

    def _stage(self, content: bytes) -> StagedFile:
        writer = self.new_upload()
        try:
            writer.write(content)
        except BaseException:
            writer.abort()
            raise
        return writer.finish()

    def store_content(self, content: bytes, origin: UploadOrigin) -> dict[str, str]:
        """Parse, write and index one DICOM file received in memory."""
        parsed = self._parse(io.BytesIO(content), len(content))
        if not parsed.has_file_meta:
            sop_uid = parsed.main_tags[Level.INSTANCE]["SOPInstanceUID"]
            content = part10_header(parsed, sop_uid) + content
            logger.info("Added a File Meta header to instance %s", parsed.ids.instance)
        if len(content) < OVERLAPPED_HASH_SIZE:
            md5 = hashlib.md5(content).hexdigest()
            uuid = self.storage.write(content)
        else:
            # Hashing and writing both release the GIL, so they overlap on two cores.
            digest = self._hashing.submit(hashlib.md5, content)
            try:
                uuid = self.storage.write(content)
            finally:
                md5 = digest.result().hexdigest()
        return self._index_file(parsed, updates.StoredFile(uuid, len(content), md5), origin)

    def store(self, staged: StagedFile, origin: UploadOrigin) -> dict[str, str]:
        """Parse, write and index one staged DICOM file.

        The staged file is consumed: moved into the storage area or deleted.
        """
        try:
            if staged.content is not None:
                parsed = self._parse(io.BytesIO(staged.content), staged.size)
            else:
                with open(staged.path, "rb") as fp:
                    parsed = self._parse(fp, staged.size)
        except OrthancError:
            self.storage.discard(staged.path)
            raise
        if not parsed.has_file_meta:
            staged = self._add_file_meta(staged, parsed)
        try:
            uuid = self.storage.commit(staged.path)
        except OSError as error:
            self.storage.discard(staged.path)
            logger.error(
                "Cannot move instance %s into the storage area: %s", parsed.ids.instance, error
            )
            raise write_error(error) from None
        return self._index_file(parsed, updates.StoredFile(uuid, staged.size, staged.md5), origin)

    def _parse(self, fp: BinaryIO, size: int) -> ParsedInstance:
        try:
            return parse_instance(fp, size, self.default_encoding)
        except DicomParseError as error:
            raise OrthancError(ErrorCode.BAD_FILE_FORMAT, str(error)) from None

    def _index_file(
        self, parsed: ParsedInstance, stored: updates.StoredFile, origin: UploadOrigin
    ) -> dict[str, str]:
        """Index an instance whose pending file is in the tree; return the upload result.

        The file is removed when the instance is already stored or the
        transaction fails.
        """
        ids = parsed.ids
        answer = {
            "ID": ids.instance,
            "ParentPatient": ids.patient,
            "ParentStudy": ids.study,
            "ParentSeries": ids.series,
            "Path": f"/instances/{ids.instance}",
            "Status": "Success",
        }
        now = datetime.now(timezone.utc)
        date = orthanc_date(now)
        metadata = {
            "ReceptionDate": date,
            "RemoteAET": "",
            "Origin": origin.origin,
            "TransferSyntax": parsed.transfer_syntax,
            "SopClassUid": parsed.sop_class_uid,
            "RemoteIP": origin.remote_ip,
            "HttpUsername": origin.username,
        }
        if parsed.index_in_series is not None:
            metadata = {"IndexInSeries": str(parsed.index_in_series)} | metadata
        if parsed.pixel_data_offset is not None:
            metadata["PixelDataOffset"] = str(parsed.pixel_data_offset)

        # The new file and the files an overwrite replaces stay pending until
        # the index and the tree agree again (see settle_pending_files).
        uuid = stored.uuid
        pending = [uuid]

        def index(connection: Connection) -> updates.AddResult:
            result = updates.add_instance(
                connection,
                parsed,
                stored,
                metadata,
                date,
                now.timestamp(),
                overwrite=self.settings.overwrite_instances,
            )
            if self.quota.is_limited and not result.already_stored:
                result.obsolete_uuids += updates.enforce_quota(
                    connection, self.quota, ids.patient
                )
            self.storage.mark_pending(result.obsolete_uuids)
            pending[1:] = result.obsolete_uuids
            return result

        try:
            result = self._run_write(index, self._write_connection)
        except updates.QuotaExceededError as error:
            self.storage.remove(uuid)
            self.storage.clear_pending(pending)
            logger.warning("Rejected instance %s: %s", ids.instance, error)
            raise OrthancError(ErrorCode.FULL_STORAGE, str(error)) from None
        except BaseException:
            self.storage.remove(uuid)
            self.storage.clear_pending(pending)
            raise
        if result.already_stored:
            self.storage.remove(uuid)
            self.storage.clear_pending(pending)
            logger.info("Instance %s already stored", ids.instance)
            return answer | {"Status": "AlreadyStored"}
        for obsolete in result.obsolete_uuids:
            self.storage.remove(obsolete)
        self.storage.clear_pending(pending)
        logger.info("New instance stored: %s", ids.instance)
        return answer

    def _add_file_meta(self, staged: StagedFile, parsed: ParsedInstance) -> StagedFile:
        """Rewrite a bare dataset as a Part 10 file: header first, same dataset bytes."""
        header = part10_header(parsed, parsed.main_tags[Level.INSTANCE]["SOPInstanceUID"])
        writer = self.new_upload()
        try:
            writer.write(header)
            with open(staged.path, "rb") as source:
                while chunk := source.read(1 << 20):
                    writer.write(chunk)
            completed = writer.finish()
        except BaseException:
            writer.abort()
            self.storage.discard(staged.path)
            raise
        self.storage.discard(staged.path)
        logger.info("Added a File Meta header to instance %s", parsed.ids.instance)
        return completed

    def store_zip(self, staged: StagedFile, origin: UploadOrigin) -> list[dict]:
        """Store every DICOM member of a ZIP archive; skip the other members."""
        try:
            archive = zipfile.ZipFile(staged.path)
        except ZIP_READ_ERRORS as error:
            raise OrthancError(
                ErrorCode.BAD_FILE_FORMAT, f"Cannot open ZIP archive: {error}"
            ) from None
        answers: list[dict] = []
        budget = ZipBudget(self.settings)
        with archive:
            members = archive.infolist()
            budget.check_archive(members)
            for index, member in enumerate(members):
                if member.is_dir():
                    continue
                writer = self.new_upload()
                try:
                    with archive.open(member) as source:
                        while chunk := source.read(1 << 20):
                            budget.count(member, index, writer.size + len(chunk), len(answers))
                            writer.write(chunk)
                except ZIP_READ_ERRORS as error:
                    writer.abort()
                    logger.warning("Skipped unreadable ZIP member #%d: %s", index, error)
                    continue
                except BaseException:
                    writer.abort()
                    raise
                budget.add(writer.size)
                try:
                    answers.append(self.store(writer.finish(), origin))
                except OrthancError as error:
                    if error.code != ErrorCode.BAD_FILE_FORMAT:
                        raise
                    logger.info("Skipped ZIP member #%d, not a DICOM instance: %s", index, error.details)
        return answers

    def _run_write(self, operation, begin=None):  # type: ignore[no-untyped-def]
        """Run a write transaction, retrying when a concurrent writer conflicts.

        ``operation`` receives an ORM session, or what ``begin`` yields.
        """
        begin = begin or self._write_session
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                with begin() as session:
                    return operation(session)
            except (IntegrityError, OperationalError) as error:
                if "disk is full" in str(error):
                    logger.error("Cannot write to the index: %s", error)
                    raise OrthancError(
                        ErrorCode.FULL_STORAGE, "Cannot write to the index: the disk is full"
                    ) from None
                if attempt == WRITE_ATTEMPTS:
                    logger.error("Write transaction failed %d times: %s", attempt, error)
                    raise OrthancError(
                        ErrorCode.DATABASE_CANNOT_SERIALIZE, "The index is busy, retry later"
                    ) from None
                logger.warning("Write transaction conflicted (attempt %d): %s", attempt, error)
                time.sleep(0.01 * attempt)
        raise AssertionError("unreachable")

    def resource_level(self, public_id: str) -> Level | None:
        """Return the level of a resource, or None if it does not exist."""
        with self.engine.connect() as connection:
            return queries.level_of(connection, public_id)

    # -- reading -----------------------------------------------------------

    def _get(self, session: Session, level: Level, public_id: str) -> Resource:
        resource = queries.find_resource(session, level, public_id)
        if resource is None:
            raise unknown_resource(level.type_name, public_id)
        return resource

    def get_resource(self, level: Level, public_id: str, full: bool = False) -> dict[str, Any]:
        # A plain connection and rows: the ORM would cost more than the queries.
        with self.engine.connect() as connection:
            row = queries.resource_row(connection, level, public_id)
            if row is None:
                raise unknown_resource(level.type_name, public_id)
            return self._expand(connection, [row], full)[0]

    def list_resources(
        self,
        level: Level,
        expand: bool,
        since: int | None,
        limit: int | None,
        full: bool = False,
    ) -> list[Any]:
        with self.read_session() as session:
            if not expand:
                return queries.list_public_ids(session, level, since, limit)
            resources = queries.list_resources(session, level, since, limit)
            return self._expand(session, resources, full)

    def get_descendants(
        self, level: Level, public_id: str, child_level: Level, full: bool = False
    ) -> list[dict[str, Any]]:
        with self.read_session() as session:
            resource = self._get(session, level, public_id)
            found = queries.descendants(session, resource, child_level)
            return self._expand(session, found, full)

    def get_ancestor(
        self, level: Level, public_id: str, parent_level: Level, full: bool = False
    ) -> dict[str, Any]:
        with self.read_session() as session:
            resource = self._get(session, level, public_id)
            found = queries.ancestor(session, resource, parent_level)
            return self._expand(session, [found], full)[0]

    def _expand(
        self, session: Session | Connection, resources: list[Any], full: bool
    ) -> list[dict]:
        return expand_resources(
            session,
            resources,
            self.settings.stable_age,
            full,
            with_labels=self.settings.reports_labels,
        )

    def instance_file(self, public_id: str) -> tuple[Path, str]:
        """Return the path and UUID of an instance's DICOM file."""
        with self.engine.connect() as connection:
            row = queries.resource_row(connection, Level.INSTANCE, public_id)
            if row is None:
                raise unknown_resource(Level.INSTANCE.type_name, public_id)
            attachment = queries.dicom_attachments(connection, [row.id]).get(row.id)
        if attachment is None:
            raise OrthancError(ErrorCode.INEXISTENT_FILE, f"Instance {public_id} has no file")
        path = self.storage.path(attachment.uuid)
        if not path.is_file():
            logger.error("File %s of instance %s is missing", attachment.uuid, public_id)
            raise OrthancError(
                ErrorCode.INEXISTENT_FILE,
                f"The file of instance {public_id} is missing from the storage area",
            )
        return path, attachment.uuid

    # -- deleting ----------------------------------------------------------

    def delete(self, level: Level, public_id: str) -> dict[str, Any]:
        """Delete a resource; files are removed after the transaction commits.

        The files are marked pending before the commit, so that a crash
        between the commit and their removal leaves nothing behind.
        """
        pending: list[str] = []

        def remove_rows(session: Session) -> updates.DeleteResult | None:
            result = updates.delete_resource(session, level, public_id)
            if result is not None:
                self.storage.mark_pending(result.removed_uuids)
                pending[:] = result.removed_uuids
            return result

        try:
            result = self._run_write(remove_rows)
        except BaseException:
            self.storage.clear_pending(pending)
            raise
        if result is None:
            raise unknown_resource(level.type_name, public_id)
        for uuid in result.removed_uuids:
            try:
                self.storage.remove(uuid)
            except OSError as error:
                # The marker stays, so the next start-up removes the file.
                pending.remove(uuid)
                logger.error("Cannot remove file %s of deleted %s: %s", uuid, public_id, error)
        self.storage.clear_pending(pending)
        logger.info(
            "Deleted %s %s (%d files)", level.type_name.lower(), public_id, len(result.removed_uuids)
        )
        if result.remaining_ancestor is None:
            return {"RemainingAncestor": None}
        ancestor_level, ancestor_id = result.remaining_ancestor
        return {
            "RemainingAncestor": {
                "ID": ancestor_id,
                "Path": f"/{ancestor_level.plural}/{ancestor_id}",
                "Type": ancestor_level.type_name,
            }
        }

    # -- system ------------------------------------------------------------

    def statistics(self) -> dict[str, Any]:
        with self.read_session() as session:
            counts = queries.count_by_level(session)
            compressed, uncompressed = queries.total_sizes(session)
        return {
            "CountInstances": counts[Level.INSTANCE],
            "CountPatients": counts[Level.PATIENT],
            "CountSeries": counts[Level.SERIES],
            "CountStudies": counts[Level.STUDY],
            "TotalDiskSize": str(compressed),
            "TotalDiskSizeMB": compressed // (1024 * 1024),
            "TotalUncompressedSize": str(uncompressed),
            "TotalUncompressedSizeMB": uncompressed // (1024 * 1024),
        }
