"""Archives and media of resources: what goes in them, then their bytes.

``plan_archive`` reads the index once, in one read transaction, and returns
the list of members. ``archive_chunks`` then reads the files of the storage
area one at a time while the ZIP is sent, without touching the index again.
A resource deleted in between loses its files, and those members are left
out of the archive (and of its DICOMDIR).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from orthanclite.archive.layout import Branch, archive_names, archive_order, media_names
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


@dataclass(slots=True)
class ArchivePlan:
    """Members of one archive, in order, with what its DICOMDIR needs."""

    description: str
    members: list[ZipMember]
    media: bool = False
    extended: bool = False


def plan_archive(
    context: ServerContext,
    targets: Sequence[tuple[Level | None, str]],
    media: bool = False,
    extended: bool = False,
) -> ArchivePlan:
    """List the instances below ``targets`` and name their ZIP members.

    A target is a level and an Orthanc ID; a level of None accepts an ID of
    any level. An unknown ID raises OrthancError (404).
    """
    with context.read_session() as session:
        resource_ids = [
            _resolve(session, level, public_id) for level, public_id in targets
        ]
        instances = (
            queries.archive_instances(session, resource_ids) if resource_ids else []
        )
        parents = queries.archive_parents(
            session, sorted({i.series_id for i in instances})
        )
        metadata = (
            queries.instance_metadata(
                session, [i.id for i in instances], ("SopClassUid", "TransferSyntax")
            )
            if media
            else {}
        )

    branches = [_branch(parents, instance.series_id) for instance in instances]
    order = archive_order(
        (branch, instance.id)
        for branch, instance in zip(branches, instances, strict=True)
    )
    branches = _name_patients_after_first_study([branches[i] for i in order])
    instances = [instances[i] for i in order]
    names = media_names(len(instances)) if media else archive_names(branches)

    description = ", ".join(public_id for _, public_id in targets) or "no resource"
    plan = ArchivePlan(description, [], media, extended)
    for instance, branch, name in zip(instances, branches, names, strict=True):
        member = ZipMember(name, context.storage.path(instance.uuid), instance.size)
        plan.members.append(member)
        if media:
            values = metadata.get(instance.id, {})
            member.extra = MediaInstance(
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
                transfer_syntax_uid=values.get(
                    "TransferSyntax", DEFAULT_TRANSFER_SYNTAX
                ),
            )
    return plan


def archive_chunks(context: ServerContext, plan: ArchivePlan) -> Iterator[bytes]:
    """Yield the bytes of the archive; the DICOMDIR of a media comes last."""
    settings = context.settings
    options: dict[str, Any] = {
        "compression": settings.archive_compression,
        "level": settings.archive_compression_level,
        "comment": ZIP_COMMENT,
    }
    if not plan.media:
        yield from stream_zip(plan.members, **options)
        return

    dicomdir = DicomDirWriter(extended=plan.extended)

    def add_record(member: ZipMember) -> None:
        if isinstance(member.extra, MediaInstance):
            dicomdir.add(member.extra)

    members = [*plan.members, ZipMember("DICOMDIR", content=dicomdir.finish)]
    try:
        yield from stream_zip(members, on_written=add_record, **options)
    finally:
        dicomdir.close()


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


def _branch(parents: dict[int, queries.ArchiveParent], series_id: int) -> Branch:
    series = parents[series_id]
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


def _name_patients_after_first_study(branches: list[Branch]) -> list[Branch]:
    """Give every branch of a patient the patient tags of its first study.

    Two people can share a PatientID, so the patient resource may carry the
    name of another person: each study keeps the patient tags of its own
    files, and the patient folder is named after the first study.
    """
    first: dict[str, Any] = {}
    renamed = []
    for branch in branches:
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
        renamed.append(branch)
    return renamed
