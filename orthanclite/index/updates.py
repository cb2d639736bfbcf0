"""Write side of the index: add instances, delete resources, set metadata."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from orthanclite.dicom.levels import Level
from orthanclite.dicom.parsing import ParsedInstance
from orthanclite.index.driver import DriverStatement
from orthanclite.index.models import (
    DICOM_ATTACHMENT,
    Attachment,
    Change,
    DicomIdentifier,
    Metadata,
    Resource,
)
from orthanclite.index.search_values import identifier_rows

# Core tables: inserting through them skips the ORM's bulk-insert machinery,
# which costs more than the SQL itself on the upload path.
RESOURCES = Resource.__table__
ATTACHMENTS = Attachment.__table__
METADATA = Metadata.__table__
CHANGES = Change.__table__
IDENTIFIERS = DicomIdentifier.__table__


def _values(*names: str) -> dict[str, Any]:
    return {name: bindparam(name) for name in names}


# Statements of the upload path, rendered once and run on the driver's
# cursor (see orthanclite.index.driver). Four fixed parameters rather than an
# "expanding" list, which would be rendered again at every execution.
_SELECT_IDS = DriverStatement(
    select(RESOURCES.c.public_id, RESOURCES.c.id).where(
        RESOURCES.c.public_id.in_(
            [bindparam("patient"), bindparam("study"), bindparam("series"), bindparam("instance")]
        )
    )
)
_INSERT_RESOURCE = DriverStatement(
    insert(RESOURCES)
    .values(
        _values(
            "level",
            "public_id",
            "parent_id",
            "main_tags",
            "patient_tags",
            "last_update",
            "last_instance_time",
            "is_protected",
            "stable_time",
        )
    )
    .returning(RESOURCES.c.id),
    json_columns=("main_tags", "patient_tags"),
)
_INSERT_ATTACHMENT = DriverStatement(
    insert(ATTACHMENTS).values(
        _values(
            "resource_id",
            "content_type",
            "uuid",
            "compressed_size",
            "uncompressed_size",
            "compression",
            "compressed_md5",
            "uncompressed_md5",
        )
    )
)
_INSERT_METADATA = DriverStatement(insert(METADATA).values(_values("resource_id", "name", "value")))
_INSERT_CHANGE = DriverStatement(
    insert(CHANGES).values(_values("change_type", "resource_id", "level", "public_id", "date"))
)
_INSERT_IDENTIFIER = DriverStatement(
    insert(IDENTIFIERS).values(_values("resource_id", "tag", "value"))
)
_TOUCH_ANCESTORS = DriverStatement(
    update(RESOURCES)
    .where(
        RESOURCES.c.id.in_([bindparam("patient_id"), bindparam("study_id"), bindparam("series_id")])
    )
    .values(last_update=bindparam("new_date"), last_instance_time=bindparam("new_time"))
)


@dataclass(frozen=True, slots=True)
class StoredFile:
    """The attachment written to the storage area for a new instance."""

    uuid: str
    size: int
    md5: str


@dataclass(slots=True)
class AddResult:
    """Outcome of adding an instance to the index."""

    already_stored: bool
    # Attachments that an overwritten instance no longer needs.
    obsolete_uuids: list[str] = field(default_factory=list)


@dataclass(slots=True)
class DeleteResult:
    """Outcome of deleting a resource: files to remove after commit."""

    removed_uuids: list[str]
    remaining_ancestor: tuple[Level, str] | None


def add_instance(
    connection: Connection,
    parsed: ParsedInstance,
    stored: StoredFile,
    metadata: dict[str, str],
    date: str,
    timestamp: float,
    overwrite: bool = False,
) -> AddResult:
    """Index a new instance, creating the patient, study and series it lacks.

    Returns ``already_stored`` when the instance exists and ``overwrite`` is
    false; nothing is written then.
    """
    ids = parsed.ids
    known = dict(
        _SELECT_IDS.run(
            connection,
            {
                "patient": ids.patient,
                "study": ids.study,
                "series": ids.series,
                "instance": ids.instance,
            },
        )
    )
    obsolete: list[str] = []
    existing = known.get(ids.instance)
    if existing is not None:
        if not overwrite:
            return AddResult(already_stored=True)
        obsolete = _delete_subtree(connection, existing)

    changes: list[tuple[Level, int, str]] = []
    parent_id: int | None = None
    ancestors: list[int] = []
    for level, public_id in (
        (Level.PATIENT, ids.patient),
        (Level.STUDY, ids.study),
        (Level.SERIES, ids.series),
    ):
        if public_id in known:
            parent_id = known[public_id]
        else:
            parent_id = _insert_resource(connection, parsed, level, public_id, parent_id, date)
            changes.append((level, parent_id, public_id))
        ancestors.append(parent_id)

    instance_id = _insert_resource(
        connection, parsed, Level.INSTANCE, ids.instance, parent_id, date
    )
    _INSERT_ATTACHMENT.run(
        connection,
        {
            "resource_id": instance_id,
            "content_type": DICOM_ATTACHMENT,
            "uuid": stored.uuid,
            "compressed_size": stored.size,
            "uncompressed_size": stored.size,
            "compression": 0,
            "compressed_md5": stored.md5,
            "uncompressed_md5": stored.md5,
        },
    )
    _INSERT_METADATA.run_many(
        connection,
        (
            {"resource_id": instance_id, "name": name, "value": value}
            for name, value in metadata.items()
        ),
    )
    _TOUCH_ANCESTORS.run(
        connection,
        {
            "patient_id": ancestors[0],
            "study_id": ancestors[1],
            "series_id": ancestors[2],
            "new_date": date,
            "new_time": timestamp,
        },
    )

    # Orthanc logs the new instance first, then the new levels from the bottom up.
    events = [(Level.INSTANCE, instance_id, ids.instance)] + changes[::-1]
    _INSERT_CHANGE.run_many(
        connection,
        (
            {
                "change_type": "New" + level.type_name,
                "resource_id": resource_id,
                "level": int(level),
                "public_id": public_id,
                "date": date,
            }
            for level, resource_id, public_id in events
        ),
    )
    return AddResult(already_stored=False, obsolete_uuids=obsolete)


def _insert_resource(
    connection: Connection,
    parsed: ParsedInstance,
    level: Level,
    public_id: str,
    parent_id: int | None,
    date: str,
) -> int:
    tags = parsed.main_tags[level]
    patient_tags = parsed.main_tags[Level.PATIENT] if level == Level.STUDY else None
    rows = _INSERT_RESOURCE.run(
        connection,
        {
            "level": int(level),
            "public_id": public_id,
            "parent_id": parent_id,
            "main_tags": tags,
            "patient_tags": patient_tags,
            "last_update": date,
            "last_instance_time": 0.0,
            "is_protected": False,
            "stable_time": 0.0,
        },
    )
    resource_id = int(rows[0][0])
    _INSERT_IDENTIFIER.run_many(
        connection, identifier_rows(level, resource_id, tags, patient_tags)
    )
    return resource_id


class QuotaExceededError(Exception):
    """The new instance does not fit within the storage quotas."""


@dataclass(frozen=True, slots=True)
class Quota:
    """Storage limits; zero means no limit."""

    max_bytes: int = 0
    max_patients: int = 0
    recycle: bool = True

    @property
    def is_limited(self) -> bool:
        return self.max_bytes > 0 or self.max_patients > 0


def enforce_quota(session: Session | Connection, quota: Quota, keep_patient: str) -> list[str]:
    """Delete the oldest unprotected patients until the index fits the quota.

    Patients are ordered by the time they last received an instance; the
    patient ``keep_patient`` that has just received one is never deleted.
    Returns the attachments to remove after commit.

    Raises
    ------
    QuotaExceededError
        If recycling is off, or nothing more can be deleted.
    """
    removed: list[str] = []
    while _over_quota(session, quota):
        if not quota.recycle:
            raise QuotaExceededError("The storage quota is reached")
        oldest = session.execute(
            select(Resource.public_id)
            .where(
                Resource.level == int(Level.PATIENT),
                Resource.is_protected.is_(False),
                Resource.public_id != keep_patient,
            )
            .order_by(Resource.last_instance_time, Resource.id)
            .limit(1)
        ).scalar()
        if oldest is None:
            raise QuotaExceededError(
                "The storage quota is reached and every other patient is protected"
            )
        result = delete_resource(session, Level.PATIENT, oldest)
        assert result is not None, "the patient was just selected"
        removed += result.removed_uuids
    return removed


def _over_quota(session: Session | Connection, quota: Quota) -> bool:
    if quota.max_patients:
        patients = session.execute(
            select(func.count()).where(Resource.level == int(Level.PATIENT))
        ).scalar_one()
        if patients > quota.max_patients:
            return True
    if quota.max_bytes:
        size = session.execute(
            select(func.coalesce(func.sum(Attachment.compressed_size), 0))
        ).scalar_one()
        if size > quota.max_bytes:
            return True
    return False


def delete_resource(
    session: Session | Connection, level: Level, public_id: str) -> DeleteResult | None:
    """Delete a resource, its descendants and the ancestors left empty.

    Returns None when the resource does not exist. The attachments of the
    deleted rows are returned so that their files are removed after commit.
    """
    row = session.execute(
        select(Resource.id, Resource.parent_id).where(
            Resource.public_id == public_id, Resource.level == int(level)
        )
    ).first()
    if row is None:
        return None
    removed = _delete_subtree(session, row.id)

    remaining: tuple[Level, str] | None = None
    parent_id = row.parent_id
    while parent_id is not None:
        has_child = session.execute(
            select(Resource.id).where(Resource.parent_id == parent_id).limit(1)
        ).first()
        parent = session.execute(
            select(Resource.level, Resource.public_id, Resource.parent_id).where(
                Resource.id == parent_id
            )
        ).one()
        if has_child is not None:
            remaining = (Level(parent.level), parent.public_id)
            break
        removed += _delete_subtree(session, parent_id)
        parent_id = parent.parent_id

    # The changes of the deleted rows went away with them, as in Orthanc
    # 1.10.1; later Orthanc versions also log the deletion itself.
    session.execute(
        insert(Change).values(
            change_type="Deleted",
            resource_id=None,
            level=int(level),
            public_id=public_id,
            date=datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S"),
        )
    )
    return DeleteResult(removed_uuids=removed, remaining_ancestor=remaining)


def _delete_subtree(session: Session | Connection, resource_id: int) -> list[str]:
    """Delete a resource row (its descendants follow by cascade); return UUIDs."""
    tree = select(Resource.id).where(Resource.id == resource_id).cte("tree", recursive=True)
    tree = tree.union_all(select(Resource.id).where(Resource.parent_id == tree.c.id))
    uuids = list(
        session.execute(
            select(Attachment.uuid).where(Attachment.resource_id.in_(select(tree.c.id)))
        ).scalars()
    )
    session.execute(delete(Resource).where(Resource.id == resource_id))
    return uuids
