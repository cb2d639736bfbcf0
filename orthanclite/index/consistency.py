"""Index side of the consistency check: attachments and the repair of rows."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from orthanclite.dicom.levels import Level
from orthanclite.index.models import DICOM_ATTACHMENT, Attachment, Resource
from orthanclite.index.updates import delete_resource

# Bound parameters per IN clause; SQLite accepts 32766 since 3.32.
IN_CLAUSE_SIZE = 500


@dataclass(frozen=True, slots=True)
class IndexedAttachment:
    """An attachment row with the resource it belongs to."""

    uuid: str
    size: int
    md5: str
    content_type: int
    level: Level
    public_id: str


def iter_attachments(session: Session) -> Iterator[IndexedAttachment]:
    """Yield every attachment of the index, in row order."""
    query = (
        select(
            Attachment.uuid,
            Attachment.compressed_size,
            Attachment.compressed_md5,
            Attachment.content_type,
            Resource.level,
            Resource.public_id,
        )
        .join(Resource, Resource.id == Attachment.resource_id)
        .order_by(Attachment.id)
    )
    for row in session.execute(query):
        yield IndexedAttachment(
            uuid=row.uuid,
            size=row.compressed_size,
            md5=row.compressed_md5,
            content_type=row.content_type,
            level=Level(row.level),
            public_id=row.public_id,
        )


def indexed_uuids(session: Session, uuids: Sequence[str]) -> set[str]:
    """Return which of these attachment UUIDs the index refers to."""
    found: set[str] = set()
    for start in range(0, len(uuids), IN_CLAUSE_SIZE):
        batch = list(uuids[start : start + IN_CLAUSE_SIZE])
        found.update(
            session.execute(
                select(Attachment.uuid).where(Attachment.uuid.in_(batch))
            ).scalars()
        )
    return found


def remove_attachment(session: Session, attachment: IndexedAttachment) -> list[str]:
    """Remove the row of an attachment whose file is lost.

    An instance without its DICOM file is deleted with its ancestors left
    empty, as a DELETE would do. Returns the UUIDs of the other attachments
    removed with it, whose files still exist.
    """
    if (
        attachment.content_type == DICOM_ATTACHMENT
        and attachment.level == Level.INSTANCE
    ):
        result = delete_resource(session, Level.INSTANCE, attachment.public_id)
        if result is None:
            return []
        return [uuid for uuid in result.removed_uuids if uuid != attachment.uuid]
    session.execute(delete(Attachment).where(Attachment.uuid == attachment.uuid))
    return []
