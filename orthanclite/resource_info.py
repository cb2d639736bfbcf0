"""Per-resource extras: statistics, protection, labels and ordered slices."""

from __future__ import annotations

from typing import Any

from orthanclite.context import ServerContext
from orthanclite.dicom.levels import Level
from orthanclite.errors import unknown_resource
from orthanclite.index import labels as index_labels
from orthanclite.index import queries, statistics
from orthanclite.index.models import Resource


def _size_fields(prefix: str, size: int) -> dict[str, Any]:
    return {f"{prefix}Size": str(size), f"{prefix}SizeMB": size // (1024 * 1024)}


class ResourceInfo:
    """Reads and changes the per-resource state that is not DICOM content."""

    def __init__(self, context: ServerContext) -> None:
        self.context = context

    def _require(self, session, level: Level, public_id: str) -> Resource:  # type: ignore[no-untyped-def]
        resource = queries.find_resource(session, level, public_id)
        if resource is None:
            raise unknown_resource(level.type_name, public_id)
        return resource

    def statistics(self, level: Level, public_id: str) -> dict[str, Any]:
        """Count the resources below one resource and add up their file sizes."""
        with self.context.read_session() as session:
            resource = self._require(session, level, public_id)
            counts, compressed, uncompressed = statistics.subtree_statistics(
                session, resource
            )
        answer: dict[str, Any] = {}
        for lower in range(level + 1, Level.INSTANCE + 1):
            answer["Count" + Level(lower).plural.capitalize()] = counts[Level(lower)]
        # Only DICOM files are stored, so every size is also the DICOM size.
        for prefix, size in (
            ("Disk", compressed),
            ("Uncompressed", uncompressed),
            ("DicomDisk", compressed),
            ("DicomUncompressed", uncompressed),
        ):
            answer |= _size_fields(prefix, size)
        return answer

    def is_protected(self, public_id: str) -> bool | None:
        """Return the protection flag of a patient, or None if it does not exist."""
        with self.context.read_session() as session:
            resource = queries.find_resource(session, Level.PATIENT, public_id)
            return None if resource is None else resource.is_protected

    def set_protected(self, public_id: str, protected: bool) -> bool:
        """Set the protection flag of a patient; return False if it does not exist."""

        def operation(session) -> bool:  # type: ignore[no-untyped-def]
            resource = queries.find_resource(session, Level.PATIENT, public_id)
            if resource is None:
                return False
            statistics.set_protected(session, resource.id, protected)
            return True

        return self.context._run_write(operation)

    def labels(self, level: Level, public_id: str) -> list[str]:
        with self.context.read_session() as session:
            resource = self._require(session, level, public_id)
            return index_labels.resource_labels(session, resource.id)

    def all_labels(self) -> list[str]:
        with self.context.read_session() as session:
            return index_labels.all_labels(session)

    def change_label(
        self, level: Level, public_id: str, label: str, attach: bool
    ) -> None:
        """Attach or detach a label; detaching a missing label is no error."""
        index_labels.check_label(label)

        def operation(session) -> None:  # type: ignore[no-untyped-def]
            resource = self._require(session, level, public_id)
            if attach:
                index_labels.add_label(session, resource.id, label)
            else:
                index_labels.remove_label(session, resource.id, label)

        self.context._run_write(operation)

    def ordered_slices(self, public_id: str) -> dict[str, Any]:
        """Order the instances of a series along the normal of their planes.

        Instances that all have a position and an orientation are sorted by
        the projection of the position on the normal ("Volume"); otherwise
        they are sorted by IndexInSeries ("Sequence").
        """
        with self.context.read_session() as session:
            series = self._require(session, Level.SERIES, public_id)
            instances = queries.descendants(session, series, Level.INSTANCE)
            rows = [(r.public_id, dict(r.main_tags)) for r in instances]
        ordered, kind = _order_slices(rows)
        answer: dict[str, Any] = {
            "Dicom": [],
            "Slices": [],
            "SlicesShort": [],
            "Type": kind,
        }
        for instance_id, tags in ordered:
            frames = _frame_count(tags)
            answer["Dicom"].append(f"/instances/{instance_id}/file")
            answer["Slices"] += [
                f"/instances/{instance_id}/frames/{n}" for n in range(frames)
            ]
            answer["SlicesShort"].append([instance_id, 0, frames])
        return answer


def _frame_count(tags: dict[str, str]) -> int:
    try:
        return max(int(tags.get("NumberOfFrames", "1") or "1"), 1)
    except ValueError:
        return 1


def _numbers(text: str | None, count: int) -> list[float] | None:
    if not text:
        return None
    try:
        values = [float(part) for part in text.split("\\")]
    except ValueError:
        return None
    return values if len(values) == count else None


def _order_slices(rows: list[tuple[str, dict[str, str]]]) -> tuple[list, str]:
    from orthanclite.dicom.main_tags import index_in_series

    projections = []
    normal = None
    for _, tags in rows:
        position = _numbers(tags.get("ImagePositionPatient"), 3)
        orientation = _numbers(tags.get("ImageOrientationPatient"), 6)
        if position is None or orientation is None:
            projections = []
            break
        row, column = orientation[:3], orientation[3:]
        current = [
            row[1] * column[2] - row[2] * column[1],
            row[2] * column[0] - row[0] * column[2],
            row[0] * column[1] - row[1] * column[0],
        ]
        normal = normal or current
        if any(abs(a - b) > 1e-4 for a, b in zip(normal, current, strict=True)):
            projections = []
            break
        projections.append(sum(p * n for p, n in zip(position, normal, strict=True)))
    if projections and len(set(projections)) == len(projections):
        order = sorted(range(len(rows)), key=lambda i: projections[i])
        return [rows[i] for i in order], "Volume"
    indexed = [(index_in_series(tags), i) for i, (_, tags) in enumerate(rows)]
    if all(index is not None for index, _ in indexed):
        return [rows[i] for _, i in sorted(indexed)], "Sequence"
    return rows, "Sequence"
