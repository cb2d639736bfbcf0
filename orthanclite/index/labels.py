"""Labels of resources (Orthanc 1.12): add, remove, list."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import Connection, bindparam, delete, insert, select
from sqlalchemy.orm import Session

from orthanclite.errors import ErrorCode, OrthancError
from orthanclite.index.models import Label
from orthanclite.index.queries import in_chunks

# Orthanc 1.12 accepts letters, digits, "_" and "-", up to 64 characters.
_LABEL = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def check_label(label: str) -> None:
    """Raise a 400 error unless ``label`` is a valid label."""
    if not _LABEL.match(label):
        raise OrthancError(
            ErrorCode.PARAMETER_OUT_OF_RANGE,
            f"Invalid label {label!r}: use 1 to 64 letters, digits, '_' or '-'",
        )


def add_label(session: Session, resource_id: int, label: str) -> None:
    """Attach a label; attaching it twice has no effect."""
    exists = session.execute(
        select(Label.label).where(
            Label.resource_id == resource_id, Label.label == label
        )
    ).first()
    if exists is None:
        session.execute(insert(Label).values(resource_id=resource_id, label=label))


def remove_label(session: Session, resource_id: int, label: str) -> None:
    session.execute(
        delete(Label).where(Label.resource_id == resource_id, Label.label == label)
    )


def resource_labels(session: Session, resource_id: int) -> list[str]:
    """Return the labels of one resource, sorted."""
    return list(
        session.execute(
            select(Label.label)
            .where(Label.resource_id == resource_id)
            .order_by(Label.label)
        ).scalars()
    )


def all_labels(session: Session) -> list[str]:
    """Return every label in use, sorted."""
    return list(
        session.execute(select(Label.label).distinct().order_by(Label.label)).scalars()
    )


LABELS = Label.__table__
# Built once, as the statements of queries.py.
_LABELS_OF = (
    select(LABELS.c.resource_id, LABELS.c.label)
    .where(LABELS.c.resource_id.in_(bindparam("ids", expanding=True)))
    .order_by(LABELS.c.label)
)


def labels_by_resource(
    session: Session | Connection, resource_ids: Sequence[int]
) -> dict[int, list[str]]:
    """Return the sorted labels of several resources, by resource id."""
    found: dict[int, list[str]] = defaultdict(list)
    for chunk in in_chunks(resource_ids):
        for resource_id, label in session.execute(_LABELS_OF, {"ids": list(chunk)}):
            found[resource_id].append(label)
    return found
