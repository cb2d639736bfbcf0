"""Counts and sizes below one resource, for ``/{level}/{id}/statistics``."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, aliased

from orthanclite.dicom.levels import Level
from orthanclite.index.models import Attachment, Resource


def subtree_statistics(
    session: Session, resource: Resource
) -> tuple[dict[Level, int], int, int]:
    """Return the descendants per level and the compressed and uncompressed sizes."""
    tree = (
        select(Resource.id, Resource.level)
        .where(Resource.id == resource.id)
        .cte("tree", recursive=True)
    )
    child = aliased(Resource)
    tree = tree.union_all(
        select(child.id, child.level).where(child.parent_id == tree.c.id)
    )
    counts = dict.fromkeys(Level, 0)
    for level, count in session.execute(
        select(tree.c.level, func.count()).group_by(tree.c.level)
    ):
        counts[Level(level)] = count
    compressed, uncompressed = session.execute(
        select(
            func.coalesce(func.sum(Attachment.compressed_size), 0),
            func.coalesce(func.sum(Attachment.uncompressed_size), 0),
        ).where(Attachment.resource_id.in_(select(tree.c.id)))
    ).one()
    return counts, int(compressed), int(uncompressed)


def set_protected(session: Session, resource_id: int, protected: bool) -> None:
    session.execute(
        update(Resource)
        .where(Resource.id == resource_id)
        .values(is_protected=protected)
    )
