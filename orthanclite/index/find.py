"""SQL side of /tools/find and /tools/lookup.

Each constraint on a main tag becomes ``ancestor.id IN (rows of
dicom_identifiers matching the pattern)``, where ``ancestor`` is the
resource of the level whose main tags hold the tag, reached from the
requested level through ``parent_id`` joins. Values are stored case-folded,
so the SQL result is exact for case-insensitive queries and a superset for
case-sensitive ones, which the caller narrows with the raw values returned
by ``find_candidates``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from orthanclite.dicom.levels import Level
from orthanclite.dicom.matching import Alternative, ValuePattern, fold_case
from orthanclite.index.models import (
    DICOM_ATTACHMENT,
    Attachment,
    DicomIdentifier,
    Label,
    Resource,
)

# Tags that /tools/lookup searches, with their level.
LOOKUP_TAGS = {
    0x00100020: Level.PATIENT,  # PatientID
    0x0020000D: Level.STUDY,  # StudyInstanceUID
    0x0020000E: Level.SERIES,  # SeriesInstanceUID
    0x00080018: Level.INSTANCE,  # SOPInstanceUID
}
# Above every character that a DICOM value can hold, to bound a prefix scan.
_MAX_CHARACTER = "\U0010ffff"


@dataclass(frozen=True, slots=True)
class MainTagConstraint:
    """A pattern on a main tag of ``level`` (the requested level or above).

    ``patient_copy`` marks a patient tag matched on a study's own copy.
    """

    level: Level
    keyword: str
    pattern: ValuePattern
    patient_copy: bool = False

    @property
    def source(self) -> tuple[Level, bool]:
        return self.level, self.patient_copy


@dataclass(frozen=True, slots=True)
class LabelConstraint:
    labels: tuple[str, ...]
    mode: str  # "All", "Any" or "None"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A resource found by SQL, with the raw main tags needed to check it."""

    id: int
    tags_by_source: dict[tuple[Level, bool], dict[str, str]]


def find_candidates(
    session: Session,
    level: Level,
    constraints: Sequence[MainTagConstraint],
    labels: LabelConstraint | None,
    with_tags: bool,
    since: int = 0,
    limit: int | None = None,
) -> list[Candidate]:
    """Return the resources of ``level`` that match in SQL, in insertion order.

    With ``with_tags``, the main tags of the constrained levels come along
    and ``since``/``limit`` are left to the caller, who filters further.
    """
    chain = {level: aliased(Resource, name="found")}
    for upper in range(
        level - 1, min((c.level for c in constraints), default=level) - 1, -1
    ):
        chain[Level(upper)] = aliased(Resource, name=f"up{upper}")

    columns: list = [chain[level].id]
    sources = sorted({c.source for c in constraints}) if with_tags else []
    columns += [
        chain[tag_level].patient_tags if copy else chain[tag_level].main_tags
        for tag_level, copy in sources
    ]
    query: Select = select(*columns).where(chain[level].level == int(level))
    for upper in range(level - 1, min(chain) - 1, -1):
        query = query.join(
            chain[Level(upper)],
            chain[Level(upper)].id == chain[Level(upper + 1)].parent_id,
        )
    for constraint in constraints:
        query = query.where(chain[constraint.level].id.in_(_matching_ids(constraint)))
    if labels is not None:
        query = query.where(_label_condition(chain[level].id, labels))
    query = query.order_by(chain[level].id)
    if not with_tags:
        if since:
            query = query.offset(since)
        if limit is not None:
            query = query.limit(limit)

    candidates = []
    for row in session.execute(query):
        tags = {source: row[index + 1] or {} for index, source in enumerate(sources)}
        candidates.append(Candidate(row[0], tags))
    return candidates


def _matching_ids(constraint: MainTagConstraint) -> Select:
    pattern = constraint.pattern
    conditions = [_alternative_condition(a, pattern) for a in pattern.alternatives]
    return select(DicomIdentifier.resource_id).where(
        DicomIdentifier.tag == pattern.tag, or_(*conditions)
    )


def _alternative_condition(
    alternative: Alternative, pattern: ValuePattern
) -> ColumnElement:
    value = DicomIdentifier.value

    def fold(text: str) -> str:
        # Case-sensitive patterns keep their case; the stored values do not.
        return fold_case(pattern.vr, text) if pattern.case_sensitive else text

    if alternative.kind == "equal":
        return value == fold(alternative.text)
    if alternative.kind == "range":
        bounds = []
        if alternative.low:
            bounds.append(value >= fold(alternative.low))
        if alternative.high:
            bounds.append(value <= fold(alternative.high))
        return and_(*bounds) if bounds else value.is_not(None)

    text = fold(alternative.text)
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    condition = value.like(escaped.replace("*", "%").replace("?", "_"), escape="\\")
    prefix = fold(alternative.prefix)
    if prefix:
        # SQLite does not use an index for LIKE with ESCAPE; the range does.
        condition = and_(value >= prefix, value < prefix + _MAX_CHARACTER, condition)
    return condition


def _label_condition(
    resource_id: ColumnElement, labels: LabelConstraint
) -> ColumnElement:
    if labels.mode == "All":
        return and_(
            *(
                resource_id.in_(select(Label.resource_id).where(Label.label == label))
                for label in labels.labels
            )
        )
    tagged = select(Label.resource_id).where(Label.label.in_(labels.labels))
    if labels.mode == "Any":
        return resource_id.in_(tagged)
    return resource_id.not_in(tagged)


# Row ids per IN (...) list, below SQLite's limit of bound parameters.
_CHUNK = 5000


def resources_by_id(session: Session, ids: Sequence[int]) -> list[Resource]:
    """Return the resources with these row ids, in the order given."""
    found: dict[int, Resource] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        for resource in session.execute(
            select(Resource).where(Resource.id.in_(chunk))
        ).scalars():
            found[resource.id] = resource
    return [found[resource_id] for resource_id in ids if resource_id in found]


def first_instance_files(
    session: Session, resource_ids: Sequence[int], level: Level
) -> dict[int, str]:
    """Return the attachment UUID of the first instance below each resource."""
    chain = [
        aliased(Resource, name=f"down{depth}")
        for depth in range(Level.INSTANCE - level + 1)
    ]
    query = select(chain[0].id, func.min(chain[-1].id)).where(
        chain[0].id.in_(resource_ids)
    )
    for parent, child in zip(chain, chain[1:], strict=False):
        query = query.join(child, child.parent_id == parent.id)
    first = dict(session.execute(query.group_by(chain[0].id)).all())
    uuids = dict(
        session.execute(
            select(Attachment.resource_id, Attachment.uuid).where(
                Attachment.resource_id.in_(first.values()),
                Attachment.content_type == DICOM_ATTACHMENT,
            )
        ).all()
    )
    return {
        resource_id: uuids[instance]
        for resource_id, instance in first.items()
        if instance in uuids
    }


def lookup(session: Session, value: str) -> list[tuple[Level, str]]:
    """Find the resources whose PatientID or UID equals ``value``, ignoring case."""
    folded = value.upper()
    rows = session.execute(
        select(Resource.level, Resource.public_id, DicomIdentifier.tag)
        .join(DicomIdentifier, DicomIdentifier.resource_id == Resource.id)
        .where(DicomIdentifier.tag.in_(LOOKUP_TAGS), DicomIdentifier.value == folded)
        .order_by(Resource.level, Resource.id)
    )
    # Studies also index a copy of PatientID, which lookup ignores.
    return [
        (Level(level), public_id)
        for level, public_id, tag in rows
        if LOOKUP_TAGS[tag] == level
    ]


def resources_by_public_id(
    session: Session, public_ids: Sequence[str]
) -> list[Resource]:
    """Return the resources with these public identifiers, in the order given."""
    found: dict[str, Resource] = {}
    for start in range(0, len(public_ids), _CHUNK):
        chunk = public_ids[start : start + _CHUNK]
        query = select(Resource).where(Resource.public_id.in_(chunk))
        for resource in session.execute(query).scalars():
            found[resource.public_id] = resource
    return [found[public_id] for public_id in public_ids]


def public_ids(session: Session, ids: Sequence[int]) -> list[str]:
    """Return the public identifiers of these row ids, in the order given."""
    found: dict[int, str] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        found.update(
            session.execute(
                select(Resource.id, Resource.public_id).where(Resource.id.in_(chunk))
            ).all()
        )
    return [found[resource_id] for resource_id in ids if resource_id in found]


def inherited_main_tags(session: Session, resource: Resource) -> dict[str, str]:
    """Return the main tags of a resource merged with those of its ancestors."""
    tags: dict[str, str] = {}
    current: Resource | None = resource
    while current is not None:
        tags = dict(current.main_tags) | tags
        if current.level == Level.STUDY:
            # The study's copy of the patient tags wins, as in its JSON form.
            return dict(current.patient_tags or {}) | tags
        current = (
            session.get(Resource, current.parent_id) if current.parent_id else None
        )
    return tags
