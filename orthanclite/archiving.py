"""Archives and media of resources: what goes in them, then their bytes.

``plan_archive`` resolves the requested resources and lists the series to
archive, sorted as Orthanc sorts them. ``archive_chunks`` then reads the
instances of one series at a time from the index, in a short read
transaction, and their files from the storage area while the ZIP is sent.
So memory keeps one series' list of instances, never the whole study's.

A resource deleted during the download loses its instances and files: the
members not sent yet are left out of the archive (and of its DICOMDIR).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from orthanclite.archive.layout import ArchiveLayout, Branch, media_name
from orthanclite.archive.media import DicomDirWriter, MediaInstance
from orthanclite.archive.zip import ZipMember, stream_zip
from orthanclite.context import ServerContext
from orthanclite.dicom.levels import Level
from orthanclite.errors import ErrorCode, OrthancError, unknown_resource
from orthanclite.index import queries

logger = logging.getLogger(__name__)

ZIP_COMMENT = b"Created by orthanclite"
# Transfer syntax recorded when an instance has no TransferSyntax metadata.
DEFAULT_TRANSFER_SYNTAX = "1.2.840.10008.1.2.1"
# Orthanc IDs named in log lines, at most.
LOGGED_IDS = 3


@dataclass(frozen=True, slots=True)
class PlannedSeries:
    """A series of an archive: its index row, chosen instances and parents."""

    row: int
    instance_rows: frozenset[int] | None
    branch: Branch


@dataclass(frozen=True, slots=True)
class ArchivePlan:
    """Series of one archive, in archive order, and how to write it."""

    description: str
    series: list[PlannedSeries]
    media: bool = False
    extended: bool = False


def plan_archive(
    context: ServerContext,
    targets: Sequence[tuple[Level | None, str]],
    media: bool = False,
    extended: bool = False,
) -> ArchivePlan:
    """List the series below ``targets`` in archive order.

    A target is a level and an Orthanc ID; a level of None accepts an ID of
    any level. An unknown ID raises OrthancError (404).
    """
    with context.read_session() as session:
        resource_rows = [
            _resolve(session, level, public_id) for level, public_id in targets
        ]
        chosen = queries.archive_series(session, resource_rows) if resource_rows else {}
        parents = queries.archive_parents(session, sorted(chosen))

    series = [
        PlannedSeries(
            row,
            frozenset(instances) if instances is not None else None,
            _branch(parents, row),
        )
        for row, instances in chosen.items()
    ]
    # Sibling folders are sorted by Orthanc ID, as Orthanc 1.10.1 sorts them.
    series.sort(
        key=lambda s: (s.branch.patient_id, s.branch.study_id, s.branch.series_id)
    )
    series = _name_patients_after_first_study(series)
    return ArchivePlan(_describe(targets), series, media, extended)


def archive_chunks(context: ServerContext, plan: ArchivePlan) -> Iterator[bytes]:
    """Yield the bytes of the archive; the DICOMDIR of a media comes last."""
    settings = context.settings
    options: dict[str, Any] = {
        "compression": settings.archive_compression,
        "level": settings.archive_compression_level,
        "comment": ZIP_COMMENT,
    }
    if not plan.media:
        yield from stream_zip(_members(context, plan), **options)
        return

    dicomdir = DicomDirWriter(extended=plan.extended)

    def add_record(member: ZipMember) -> None:
        if isinstance(member.extra, MediaInstance):
            dicomdir.add(member.extra)

    members = _media_members(context, plan, dicomdir)
    try:
        yield from stream_zip(members, on_written=add_record, **options)
    finally:
        dicomdir.close()


def _members(context: ServerContext, plan: ArchivePlan) -> Iterator[ZipMember]:
    layout = ArchiveLayout()
    for series, instance in _instances(context, plan):
        name = layout.member_name(series.branch)
        yield ZipMember(name, context.storage.path(instance.uuid), instance.size)


def _media_members(
    context: ServerContext, plan: ArchivePlan, dicomdir: DicomDirWriter
) -> Iterator[ZipMember]:
    number = 0
    for series, instance, values in _instances_with_metadata(context, plan):
        name = media_name(number)
        number += 1
        branch = series.branch
        record = MediaInstance(
            file_id=tuple(name.split("/")),
            patient_key=branch.patient_id,
            patient_tags=branch.patient_tags,
            study_key=branch.study_id,
            study_tags=branch.study_tags,
            series_key=branch.series_id,
            series_tags=branch.series_tags,
            sop_instance_uid=instance.sop_instance_uid,
            instance_number=instance.instance_number,
            sop_class_uid=values.get("SopClassUid", ""),
            transfer_syntax_uid=values.get("TransferSyntax", DEFAULT_TRANSFER_SYNTAX),
        )
        path = context.storage.path(instance.uuid)
        yield ZipMember(name, path, instance.size, extra=record)
    yield ZipMember("DICOMDIR", content=dicomdir.finish)


def _instances(
    context: ServerContext, plan: ArchivePlan
) -> Iterator[tuple[PlannedSeries, queries.ArchiveInstance]]:
    for series in plan.series:
        with context.read_session() as session:
            instances = queries.archive_instances(
                session, series.row, series.instance_rows
            )
        for instance in instances:
            yield series, instance


def _instances_with_metadata(
    context: ServerContext, plan: ArchivePlan
) -> Iterator[tuple[PlannedSeries, queries.ArchiveInstance, dict[str, str]]]:
    for series in plan.series:
        with context.read_session() as session:
            instances = queries.archive_instances(
                session, series.row, series.instance_rows
            )
            metadata = queries.instance_metadata(
                session, [i.id for i in instances], ("SopClassUid", "TransferSyntax")
            )
        for instance in instances:
            yield series, instance, metadata.get(instance.id, {})


def _resolve(session: Any, level: Level | None, public_id: str) -> int:
    levels = [level] if level is not None else list(Level)
    for candidate in levels:
        resource = queries.find_resource(session, candidate, public_id)
        if resource is not None:
            return resource.id
    if level is None:
        raise OrthancError(
            ErrorCode.UNKNOWN_RESOURCE, f"No resource with ID {public_id!r}"
        )
    raise unknown_resource(level.type_name, public_id)


def _branch(parents: dict[int, queries.ArchiveParent], series_row: int) -> Branch:
    series = parents[series_row]
    assert series.parent_id is not None, "a series has a study"
    study = parents[series.parent_id]
    assert study.parent_id is not None, "a study has a patient"
    patient = parents[study.parent_id]
    return Branch(
        patient_id=patient.public_id,
        patient_tags=study.patient_tags or patient.main_tags,
        study_id=study.public_id,
        study_tags=study.main_tags,
        series_id=series.public_id,
        series_tags=series.main_tags,
    )


def _name_patients_after_first_study(
    series: list[PlannedSeries],
) -> list[PlannedSeries]:
    """Give every series of a patient the patient tags of its first study.

    Two people can share a PatientID, so the patient resource may carry the
    name of another person. Each study keeps the patient tags of its own
    files, and the patient folder is named after the first study.
    """
    first: dict[str, Any] = {}
    renamed = []
    for planned in series:
        branch = planned.branch
        tags = first.setdefault(branch.patient_id, branch.patient_tags)
        if tags is not branch.patient_tags:
            branch = Branch(
                branch.patient_id,
                tags,
                branch.study_id,
                branch.study_tags,
                branch.series_id,
                branch.series_tags,
            )
            planned = PlannedSeries(planned.row, planned.instance_rows, branch)
        renamed.append(planned)
    return renamed


def _describe(targets: Sequence[tuple[Level | None, str]]) -> str:
    ids = [public_id for _, public_id in targets]
    if not ids:
        return "no resource"
    if len(ids) > LOGGED_IDS:
        return ", ".join(ids[:LOGGED_IDS]) + f" and {len(ids) - LOGGED_IDS} more"
    return ", ".join(ids)
