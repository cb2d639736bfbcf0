"""Read side of the index: resources, relations, attachments and counts."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, func, select
from sqlalchemy.orm import Session, aliased

from orthanclite.dicom.levels import Level
from orthanclite.index.models import DICOM_ATTACHMENT, Attachment, Metadata, Resource


@dataclass(frozen=True, slots=True)
class AttachmentInfo:
    uuid: str
    size: int
    md5: str


RESOURCES = Resource.__table__
ATTACHMENTS = Attachment.__table__

# Statements of the routes that read one resource, built once: building a
# statement costs more than running it. Lists of identifiers are
# "expanding" parameters.
_RESOURCE_ROW = select(RESOURCES).where(
    RESOURCES.c.public_id == bindparam("public_id"), RESOURCES.c.level == bindparam("level")
)
_CHILDREN = (
    select(RESOURCES.c.parent_id, RESOURCES.c.public_id)
    .where(RESOURCES.c.parent_id.in_(bindparam("ids", expanding=True)))
    .order_by(RESOURCES.c.id)
)
_CHILDREN_MAIN_TAGS = (
    select(RESOURCES.c.parent_id, RESOURCES.c.main_tags)
    .where(RESOURCES.c.parent_id.in_(bindparam("ids", expanding=True)))
    .order_by(RESOURCES.c.id)
)
_PUBLIC_IDS = select(RESOURCES.c.id, RESOURCES.c.public_id).where(
    RESOURCES.c.id.in_(bindparam("ids", expanding=True))
)
_DICOM_ATTACHMENTS = select(
    ATTACHMENTS.c.resource_id,
    ATTACHMENTS.c.uuid,
    ATTACHMENTS.c.uncompressed_size,
    ATTACHMENTS.c.uncompressed_md5,
).where(
    ATTACHMENTS.c.resource_id.in_(bindparam("ids", expanding=True)),
    ATTACHMENTS.c.content_type == DICOM_ATTACHMENT,
)


def find_resource(session: Session, level: Level, public_id: str) -> Resource | None:
    """Return the resource of this level with this public identifier."""
    return session.execute(
        select(Resource).where(Resource.public_id == public_id, Resource.level == int(level))
    ).scalar_one_or_none()


def resource_row(connection: Connection, level: Level, public_id: str) -> Any:
    """Return the row of the resource of this level with this identifier, or None.

    The row has the attributes of a ``Resource``, without the ORM's cost.
    """
    return connection.execute(
        _RESOURCE_ROW, {"public_id": public_id, "level": int(level)}
    ).first()


_LEVEL_OF = select(Resource.__table__.c.level).where(
    Resource.__table__.c.public_id == bindparam("public_id")
)


def level_of(connection: Connection, public_id: str) -> Level | None:
    """Return the level of the resource with this identifier, if any."""
    level = connection.execute(_LEVEL_OF, {"public_id": public_id}).scalar()
    return None if level is None else Level(level)


def list_public_ids(
    session: Session, level: Level, since: int | None = None, limit: int | None = None
) -> list[str]:
    """Return the identifiers of one level in insertion order, optionally paged."""
    query = select(Resource.public_id).where(Resource.level == int(level)).order_by(Resource.id)
    if limit is not None:
        query = query.offset(max(since or 0, 0)).limit(limit)
    return list(session.execute(query).scalars())


def list_resources(
    session: Session, level: Level, since: int | None = None, limit: int | None = None
) -> list[Resource]:
    query = select(Resource).where(Resource.level == int(level)).order_by(Resource.id)
    if limit is not None:
        query = query.offset(max(since or 0, 0)).limit(limit)
    return list(session.execute(query).scalars())


# Identifiers per IN (...) list: SQLite accepts at most 32,766 parameters
# in one statement, and ?expand lists may name every resource of a level.
IN_CHUNK = 5000


def in_chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    """Split identifiers into lists short enough for one IN (...) clause."""
    for start in range(0, len(ids), IN_CHUNK):
        yield ids[start : start + IN_CHUNK]


def children_public_ids(
    session: Session | Connection, parent_ids: Sequence[int]
) -> dict[int, list[str]]:
    """Return the children of several resources, each list in insertion order."""
    children: dict[int, list[str]] = defaultdict(list)
    for chunk in in_chunks(parent_ids):
        for parent_id, public_id in session.execute(_CHILDREN, {"ids": list(chunk)}):
            children[parent_id].append(public_id)
    return children


def children_main_tags(
    session: Session | Connection, parent_ids: Sequence[int]
) -> dict[int, list[dict]]:
    """Return the main tags of the children of several resources."""
    tags: dict[int, list[dict]] = defaultdict(list)
    for chunk in in_chunks(parent_ids):
        for parent_id, main_tags in session.execute(_CHILDREN_MAIN_TAGS, {"ids": list(chunk)}):
            tags[parent_id].append(main_tags)
    return tags


def public_ids_by_id(session: Session | Connection, ids: Sequence[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    for chunk in in_chunks(ids):
        found.update(session.execute(_PUBLIC_IDS, {"ids": list(chunk)}).all())
    return found


def dicom_attachments(
    session: Session | Connection, instance_ids: Sequence[int]
) -> dict[int, AttachmentInfo]:
    """Return the DICOM attachment of several instances, by resource id."""
    found: dict[int, AttachmentInfo] = {}
    for chunk in in_chunks(instance_ids):
        for row in session.execute(_DICOM_ATTACHMENTS, {"ids": list(chunk)}):
            found[row.resource_id] = AttachmentInfo(
                row.uuid, row.uncompressed_size, row.uncompressed_md5
            )
    return found


def descendants(session: Session, resource: Resource, level: Level) -> list[Resource]:
    """Return the resources of ``level`` below ``resource``, in insertion order."""
    current = [resource.id]
    depth = level - resource.level
    query_level = Level(resource.level)
    for _ in range(depth - 1):
        query_level = Level(query_level + 1)
        current = sorted(
            child
            for chunk in in_chunks(current)
            for child in session.execute(
                select(Resource.id).where(Resource.parent_id.in_(chunk))
            ).scalars()
        )
    found = [
        resource
        for chunk in in_chunks(current)
        for resource in session.execute(
            select(Resource).where(Resource.parent_id.in_(chunk))
        ).scalars()
    ]
    return sorted(found, key=lambda resource: resource.id)


def ancestor(session: Session, resource: Resource, level: Level) -> Resource:
    """Return the ancestor of ``resource`` at ``level`` (above it)."""
    current = resource
    while current.level > level:
        parent = session.get(Resource, current.parent_id)
        assert parent is not None, "a resource below the patient level has a parent"
        current = parent
    return current


def count_by_level(session: Session) -> dict[Level, int]:
    counts = dict.fromkeys(Level, 0)
    for level, count in session.execute(
        select(Resource.level, func.count()).group_by(Resource.level)
    ):
        counts[Level(level)] = count
    return counts


def total_sizes(session: Session) -> tuple[int, int]:
    """Return the compressed and uncompressed sizes of all attachments."""
    compressed, uncompressed = session.execute(
        select(
            func.coalesce(func.sum(Attachment.compressed_size), 0),
            func.coalesce(func.sum(Attachment.uncompressed_size), 0),
        )
    ).one()
    return int(compressed), int(uncompressed)


def instance_attachment_sizes(session: Session, resource: Resource) -> tuple[int, int, int]:
    """Return (instance count, compressed size, uncompressed size) below a resource."""
    tree = select(Resource.id, Resource.level).where(Resource.id == resource.id).cte(
        "tree", recursive=True
    )
    child = aliased(Resource)
    tree = tree.union_all(
        select(child.id, child.level).where(child.parent_id == tree.c.id)
    )
    count, compressed, uncompressed = session.execute(
        select(
            func.count(Attachment.id),
            func.coalesce(func.sum(Attachment.compressed_size), 0),
            func.coalesce(func.sum(Attachment.uncompressed_size), 0),
        ).where(Attachment.resource_id.in_(select(tree.c.id)))
    ).one()
    return int(count), int(compressed), int(uncompressed)


@dataclass(frozen=True, slots=True)
class ArchiveInstance:
    """An instance to put in an archive, with its DICOM file."""

    id: int
    public_id: str
    series_id: int
    uuid: str
    size: int
    sop_instance_uid: str
    instance_number: str


@dataclass(frozen=True, slots=True)
class ArchiveParent:
    """A patient, study or series above the instances of an archive."""

    id: int
    level: Level
    public_id: str
    parent_id: int | None
    main_tags: dict[str, Any]
    patient_tags: dict[str, Any] | None


def archive_series(
    session: Session, resource_ids: Sequence[int]
) -> dict[int, set[int] | None]:
    """Return the series that hold the instances of an archive of several resources.

    Each series maps to the ids of the instances chosen in it, or to None
    when all its instances are (a patient, study or series was chosen).
    """
    targets = session.execute(
        select(Resource.id, Resource.level, Resource.parent_id).where(
            Resource.id.in_(resource_ids)
        )
    ).all()
    chosen: dict[int, set[int] | None] = {}
    upper = [row.id for row in targets if row.level < Level.INSTANCE]
    if upper:
        tree = (
            select(Resource.id, Resource.level)
            .where(Resource.id.in_(upper))
            .cte("tree", recursive=True)
        )
        child = aliased(Resource)
        tree = tree.union(
            select(child.id, child.level).where(
                child.parent_id == tree.c.id, child.level <= int(Level.SERIES)
            )
        )
        for series_id in session.execute(
            select(tree.c.id).where(tree.c.level == int(Level.SERIES))
        ).scalars():
            chosen[series_id] = None
    for row in targets:
        if row.level == Level.INSTANCE and row.parent_id is not None:
            instances = chosen.setdefault(row.parent_id, set())
            if instances is not None:
                instances.add(row.id)
    return chosen


def archive_instances(
    session: Session, series_id: int, instance_ids: set[int] | None = None
) -> list[ArchiveInstance]:
    """Return the instances of a series that have a DICOM file, in insertion order.

    ``instance_ids`` keeps only those instances; None keeps them all.
    """
    query = (
        select(
            Resource.id,
            Resource.public_id,
            Resource.parent_id,
            Resource.main_tags,
            Attachment.uuid,
            Attachment.uncompressed_size,
        )
        .join(Attachment, Attachment.resource_id == Resource.id)
        .where(
            Resource.parent_id == series_id,
            Attachment.content_type == DICOM_ATTACHMENT,
        )
        .order_by(Resource.id)
    )
    if instance_ids is not None:
        query = query.where(Resource.id.in_(sorted(instance_ids)))
    return [
        ArchiveInstance(
            row.id,
            row.public_id,
            row.parent_id,
            row.uuid,
            row.uncompressed_size,
            row.main_tags.get("SOPInstanceUID", ""),
            row.main_tags.get("InstanceNumber", ""),
        )
        for row in session.execute(query)
    ]


def archive_parents(
    session: Session, series_ids: Sequence[int]
) -> dict[int, ArchiveParent]:
    """Return the series, studies and patients above some series, by resource id."""
    parents: dict[int, ArchiveParent] = {}
    missing = set(series_ids)
    while missing:
        found = []
        for batch in _batches(sorted(missing)):
            found += session.execute(
                select(
                    Resource.id,
                    Resource.level,
                    Resource.public_id,
                    Resource.parent_id,
                    Resource.main_tags,
                    Resource.patient_tags,
                ).where(Resource.id.in_(batch))
            ).all()
        missing = set()
        for row in found:
            parents[row.id] = ArchiveParent(
                row.id,
                Level(row.level),
                row.public_id,
                row.parent_id,
                row.main_tags,
                row.patient_tags,
            )
            if row.parent_id is not None and row.parent_id not in parents:
                missing.add(row.parent_id)
    return parents


def instance_metadata(
    session: Session, instance_ids: Sequence[int], names: Sequence[str]
) -> dict[int, dict[str, str]]:
    """Return some metadata values of several instances, by resource id."""
    values: dict[int, dict[str, str]] = defaultdict(dict)
    for batch in _batches(instance_ids):
        for resource_id, name, value in session.execute(
            select(Metadata.resource_id, Metadata.name, Metadata.value).where(
                Metadata.resource_id.in_(batch), Metadata.name.in_(names)
            )
        ):
            values[resource_id][name] = value
    return values


def _batches(ids: Sequence[int], size: int = 900) -> Iterator[Sequence[int]]:
    """Split ids into batches that fit the bound parameters of a SQLite query."""
    for start in range(0, len(ids), size):
        yield ids[start : start + size]
