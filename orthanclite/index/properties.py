"""Metadata of resources and server-wide properties in the index."""

from __future__ import annotations

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from orthanclite.index.models import GlobalProperty, Metadata, Resource


def list_metadata(session: Session, resource_id: int) -> dict[str, str]:
    """Return the metadata of a resource, in insertion order."""
    rows = session.execute(
        select(Metadata.name, Metadata.value)
        .where(Metadata.resource_id == resource_id)
        .order_by(Metadata.id)
    )
    return {name: value for name, value in rows}


def set_metadata(session: Session, resource_id: int, name: str, value: str) -> None:
    """Create or replace one metadata value."""
    updated = session.execute(
        update(Metadata)
        .where(Metadata.resource_id == resource_id, Metadata.name == name)
        .values(value=value)
    )
    if updated.rowcount == 0:
        session.execute(
            insert(Metadata).values(resource_id=resource_id, name=name, value=value)
        )


def delete_metadata(session: Session, resource_id: int, name: str) -> bool:
    """Delete one metadata value; return False when there was none."""
    deleted = session.execute(
        delete(Metadata).where(
            Metadata.resource_id == resource_id, Metadata.name == name
        )
    )
    return bool(deleted.rowcount)


def newest_child_metadata(session: Session, parent_id: int, name: str) -> str | None:
    """Return a metadata value of the most recently added child of a resource."""
    return session.execute(
        select(Metadata.value)
        .join(Resource, Resource.id == Metadata.resource_id)
        .where(Resource.parent_id == parent_id, Metadata.name == name)
        .order_by(Resource.id.desc())
        .limit(1)
    ).scalar()


def get_property(session: Session, name: str) -> str | None:
    return session.execute(
        select(GlobalProperty.value).where(GlobalProperty.name == name)
    ).scalar()


def set_property(session: Session, name: str, value: str) -> None:
    updated = session.execute(
        update(GlobalProperty).where(GlobalProperty.name == name).values(value=value)
    )
    if updated.rowcount == 0:
        session.execute(insert(GlobalProperty).values(name=name, value=value))
