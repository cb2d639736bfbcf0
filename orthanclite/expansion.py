"""Orthanc's JSON form of resources, built from index rows.

``expand_resources`` builds the responses of ``GET /{level}/{id}`` and ``?expand`` lists with
a fixed number of queries, whatever the number of resources.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from pydicom.datadict import tag_for_keyword
from sqlalchemy import Connection, Row
from sqlalchemy.orm import Session

from orthanclite.dicom.levels import Level
from orthanclite.dicom.main_tags import expected_instance_count, index_in_series
from orthanclite.index import queries
from orthanclite.index.labels import labels_by_resource
from orthanclite.index.models import Resource


def expand_resources(
    session: Session | Connection,
    resources: Sequence[Resource | Row],
    stable_age: float,
    full: bool = False,
    with_labels: bool = False,
) -> list[dict[str, Any]]:
    """Return the Orthanc JSON object of each resource, in the same order.

    ``with_labels`` adds ``Labels``, which Orthanc shows from release 1.12.0.
    """
    if not resources:
        return []
    ids = [resource.id for resource in resources]
    parent_ids = [resource.parent_id for resource in resources if resource.parent_id]
    parents = queries.public_ids_by_id(session, parent_ids) if parent_ids else {}
    with_children = [r.id for r in resources if r.level != Level.INSTANCE]
    children = queries.children_public_ids(session, with_children) if with_children else {}
    instance_ids = [r.id for r in resources if r.level == Level.INSTANCE]
    attachments = queries.dicom_attachments(session, instance_ids) if instance_ids else {}
    series_ids = [r.id for r in resources if r.level == Level.SERIES]
    instance_tags = queries.children_main_tags(session, series_ids) if series_ids else {}
    labels = labels_by_resource(session, ids) if with_labels else {}
    now = time.time()

    answers = []
    for resource in resources:
        level = Level(resource.level)
        answer: dict[str, Any] = {
            "ID": resource.public_id,
            "Type": level.type_name,
            "MainDicomTags": format_main_tags(resource.main_tags, full),
        }
        if level != Level.PATIENT:
            answer[level.parent_key] = parents.get(resource.parent_id)
        if level == Level.INSTANCE:
            attachment = attachments.get(resource.id)
            answer["FileSize"] = attachment.size if attachment else 0
            answer["FileUuid"] = attachment.uuid if attachment else None
            answer["IndexInSeries"] = index_in_series(resource.main_tags)
        else:
            answer[level.children_key] = children.get(resource.id, [])
            answer["IsStable"] = now - resource.last_instance_time >= stable_age
            answer["LastUpdate"] = resource.last_update
        if level == Level.STUDY:
            answer["PatientMainDicomTags"] = format_main_tags(
                resource.patient_tags or {}, full
            )
        if level == Level.SERIES:
            expected = expected_instance_count(resource.main_tags)
            answer["ExpectedNumberOfInstances"] = expected
            answer["Status"] = series_status(expected, instance_tags.get(resource.id, []))
        if with_labels:
            answer["Labels"] = labels.get(resource.id, [])
        answers.append(answer)
    return answers


def format_main_tags(tags: dict[str, str], full: bool) -> dict[str, Any]:
    """Return main tags by keyword, or in the ``/tags`` form when ``full``."""
    if not full:
        return dict(tags)
    formatted = {}
    for keyword, value in tags.items():
        tag = tag_for_keyword(keyword)
        if tag is None:
            continue
        key = f"{tag >> 16:04x},{tag & 0xFFFF:04x}"
        formatted[key] = {"Name": keyword, "Type": "String", "Value": value}
    return formatted


def series_status(expected: int | None, instances: list[dict[str, str]]) -> str:
    """Return Orthanc's completeness of a series: Unknown, Missing, Complete, ...

    A series is Complete when its instances carry each index from 1 to the
    expected count once, Inconsistent when an index is out of range or
    repeated, and Missing otherwise.
    """
    if expected is None:
        return "Unknown"
    seen: set[int] = set()
    for tags in instances:
        index = index_in_series(tags)
        if index is None:
            return "Unknown"
        if index < 1 or index > expected or index in seen:
            return "Inconsistent"
        seen.add(index)
    return "Complete" if len(seen) == expected else "Missing"
