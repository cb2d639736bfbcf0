"""The change log: paging for ``GET /changes`` and the Stable* events."""

from __future__ import annotations

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from orthanclite.dicom.levels import Level
from orthanclite.index.models import Change, Resource


def list_changes(session: Session, since: int, limit: int) -> tuple[list[Change], bool]:
    """Return up to ``limit`` changes after ``since``, and whether none follow.

    The primary key bounds the scan, so a page costs the same at any depth.
    """
    rows = list(
        session.execute(
            select(Change)
            .where(Change.seq > since)
            .order_by(Change.seq)
            .limit(limit + 1)
        ).scalars()
    )
    return rows[:limit], len(rows) <= limit


def last_change(session: Session) -> Change | None:
    return session.execute(select(Change).order_by(Change.seq.desc()).limit(1)).scalar()


def last_seq(session: Session) -> int:
    return int(
        session.execute(select(func.coalesce(func.max(Change.seq), 0))).scalar_one()
    )


def log_stable_resources(session: Session, cutoff: float, date: str) -> int:
    """Log StableSeries, StableStudy and StablePatient for quiet resources.

    A resource is due when no instance arrived below it after ``cutoff``
    (a time in seconds since the epoch) and
    no Stable* change was logged for its last arrival. Returns the count.
    """
    due = session.execute(
        select(
            Resource.id, Resource.level, Resource.public_id, Resource.last_instance_time
        )
        .where(
            Resource.level < int(Level.INSTANCE),
            Resource.last_instance_time <= cutoff,
            Resource.stable_time != Resource.last_instance_time,
        )
        .order_by(Resource.last_instance_time, Resource.level.desc(), Resource.id)
    ).all()
    if not due:
        return 0
    session.execute(
        insert(Change),
        [
            {
                "change_type": "Stable" + Level(row.level).type_name,
                "resource_id": row.id,
                "level": row.level,
                "public_id": row.public_id,
                "date": date,
            }
            for row in due
        ],
    )
    for row in due:
        session.execute(
            update(Resource)
            .where(Resource.id == row.id)
            .values(stable_time=row.last_instance_time)
        )
    return len(due)
