"""/tools/find and /tools/lookup: parse the request, query the index, respond.

Constraints on main tags run in SQL (``index.find``); case-sensitive checks
and tags that are not main tags are then checked in Python, the latter by
reading one file per candidate resource, as Orthanc does.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pydicom
from pydicom.datadict import keyword_for_tag, tag_for_keyword

from orthanclite.context import ServerContext
from orthanclite.dicom.charset import python_encodings
from orthanclite.dicom.levels import Level
from orthanclite.dicom.main_tags import MAIN_TAGS
from orthanclite.dicom.matching import InvalidPattern, ValuePattern, parse_pattern
from orthanclite.dicom.values import element_string
from orthanclite.errors import ErrorCode, OrthancError
from orthanclite.expansion import expand_resources
from orthanclite.index import find as index_find
from orthanclite.index import queries
from orthanclite.index.labels import check_label
from orthanclite.index.models import Resource
from orthanclite.index.statistics import subtree_statistics

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

logger = logging.getLogger(__name__)

# Files that one /tools/find may read to match tags that are not main tags.
MAX_FILES_READ = 10_000
LABELS_CONSTRAINTS = ("All", "Any", "None")
_HEX_TAG = re.compile(r"^([0-9A-Fa-f]{4})[,-]([0-9A-Fa-f]{4})$")


@dataclass(slots=True)
class FindRequest:
    """A validated body of ``POST /tools/find``."""

    level: Level
    main_constraints: list[index_find.MainTagConstraint] = field(default_factory=list)
    file_constraints: list[ValuePattern] = field(default_factory=list)
    # True when a tag of a level below the requested one makes every match fail.
    matches_nothing: bool = False
    labels: index_find.LabelConstraint | None = None
    case_sensitive: bool = False
    expand: bool = False
    full: bool = False
    short: bool = False
    since: int = 0
    limit: int | None = None
    requested_tags: list[int] = field(default_factory=list)


def parse_tag(name: str) -> int:
    """Return the tag of a keyword or of ``gggg,eeee`` / ``gggg-eeee``."""
    hex_match = _HEX_TAG.match(name)
    if hex_match:
        return int(hex_match.group(1) + hex_match.group(2), 16)
    tag = tag_for_keyword(name)
    if tag is None:
        raise OrthancError(ErrorCode.UNKNOWN_DICOM_TAG, f"Unknown DICOM tag: {name!r}")
    return tag


def main_tag_level(keyword: str, level: Level) -> Level | None:
    """Return the level at or above ``level`` whose main tags hold ``keyword``."""
    for candidate in range(level, Level.PATIENT - 1, -1):
        if keyword in MAIN_TAGS[Level(candidate)]:
            return Level(candidate)
    return None


def _is_lower_level_tag(keyword: str, level: Level) -> bool:
    return any(
        keyword in MAIN_TAGS[Level(lower)]
        for lower in range(level + 1, Level.INSTANCE + 1)
    )


def _field(body: dict, name: str, kind: type, default: Any) -> Any:
    value = body.get(name, default)
    if kind is bool and not isinstance(value, bool):
        raise OrthancError(ErrorCode.BAD_REQUEST, f'Field "{name}" should be a Boolean')
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise OrthancError(
                ErrorCode.BAD_REQUEST, f'Field "{name}" should be an integer'
            )
        if value < 0:
            raise OrthancError(
                ErrorCode.PARAMETER_OUT_OF_RANGE,
                f'Field "{name}" should be a positive integer',
            )
    return value


def _string_list(body: dict, name: str) -> list[str]:
    value = body.get(name, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise OrthancError(
            ErrorCode.BAD_REQUEST, f'Field "{name}" should be a list of strings'
        )
    return value


def parse_find_request(body: Any) -> FindRequest:
    """Validate a /tools/find body; errors carry Orthanc's messages."""
    if not isinstance(body, dict):
        raise OrthancError(ErrorCode.BAD_REQUEST, "The body must contain a JSON object")
    level_name = body.get("Level")
    if not isinstance(level_name, str):
        raise OrthancError(
            ErrorCode.BAD_REQUEST, 'Field "Level" is missing, or should be a string'
        )
    try:
        level = Level.from_name(level_name)
    except KeyError:
        raise OrthancError(
            ErrorCode.PARAMETER_OUT_OF_RANGE,
            f"Unknown resource level {level_name!r}: "
            "use Patient, Study, Series or Instance",
        ) from None
    query = body.get("Query")
    if not isinstance(query, dict):
        raise OrthancError(
            ErrorCode.BAD_REQUEST,
            'Field "Query" is missing, or should be a JSON object',
        )

    request = FindRequest(level=level)
    request.case_sensitive = _field(body, "CaseSensitive", bool, False)
    request.expand = _field(body, "Expand", bool, False)
    request.full = _field(body, "Full", bool, False)
    request.short = _field(body, "Short", bool, False)
    request.since = _field(body, "Since", int, 0)
    if "Limit" in body:
        request.limit = _field(body, "Limit", int, 0)
    request.requested_tags = [
        parse_tag(name) for name in _string_list(body, "RequestedTags")
    ]

    labels = _string_list(body, "Labels")
    mode = body.get("LabelsConstraint", "All")
    if mode not in LABELS_CONSTRAINTS:
        raise OrthancError(
            ErrorCode.PARAMETER_OUT_OF_RANGE,
            f'Field "LabelsConstraint" must be "All", "Any" or "None", got {mode!r}',
        )
    if labels:
        for label in labels:
            check_label(label)
        request.labels = index_find.LabelConstraint(tuple(labels), mode)

    for name, pattern_text in query.items():
        if not isinstance(pattern_text, str):
            raise OrthancError(
                ErrorCode.BAD_REQUEST,
                f'Tag "{name}" should be associated with a string',
            )
        tag = parse_tag(name)
        try:
            pattern = parse_pattern(tag, pattern_text, request.case_sensitive)
        except InvalidPattern as error:
            raise OrthancError(ErrorCode.PARAMETER_OUT_OF_RANGE, str(error)) from None
        if pattern is None:
            continue
        keyword = keyword_for_tag(tag)
        tag_level = main_tag_level(keyword, level) if keyword else None
        if tag_level == Level.PATIENT and level >= Level.STUDY:
            # Orthanc matches patient tags on the study's own copy of them.
            request.main_constraints.append(
                index_find.MainTagConstraint(
                    Level.STUDY, keyword, pattern, patient_copy=True
                )
            )
        elif tag_level is not None:
            request.main_constraints.append(
                index_find.MainTagConstraint(tag_level, keyword, pattern)
            )
        elif keyword and _is_lower_level_tag(keyword, level):
            # Orthanc matches nothing for a main tag of a level below the
            # requested one, such as Modality at the study level.
            request.matches_nothing = True
        else:
            request.file_constraints.append(pattern)
    return request


class Finder:
    """Runs /tools/find and /tools/lookup against a server context."""

    def __init__(self, context: ServerContext) -> None:
        self.context = context

    def find(self, request: FindRequest) -> list[Any]:
        if request.matches_nothing:
            return []
        with self.context.read_session() as session:
            ids = self._matching_ids(session, request)
            if not request.expand:
                return index_find.public_ids(session, ids)
            resources = index_find.resources_by_id(session, ids)
            settings = self.context.settings
            answers = expand_resources(
                session,
                resources,
                settings.stable_age,
                request.full,
                with_labels=settings.reports_labels,
            )
            if request.short:
                answers = [_short_tags(answer) for answer in answers]
            if request.requested_tags:
                self._add_requested_tags(
                    session, resources, answers, request.requested_tags
                )
            return answers

    def _matching_ids(self, session: Session, request: FindRequest) -> list[int]:
        needs_check = bool(request.file_constraints) or (
            request.case_sensitive and bool(request.main_constraints)
        )
        candidates = index_find.find_candidates(
            session,
            request.level,
            request.main_constraints,
            request.labels,
            with_tags=needs_check,
            since=request.since,
            limit=request.limit,
        )
        if not needs_check:
            return [candidate.id for candidate in candidates]

        matched: list[int] = []
        files_read = 0
        skipped = 0
        for batch_start in range(0, len(candidates), 500):
            batch = candidates[batch_start : batch_start + 500]
            batch = [c for c in batch if self._matches_main_tags(c, request)]
            files = {}
            if request.file_constraints:
                files = index_find.first_instance_files(
                    session, [c.id for c in batch], request.level
                )
            for candidate in batch:
                if request.file_constraints:
                    files_read += 1
                    if files_read > MAX_FILES_READ:
                        raise OrthancError(
                            ErrorCode.BAD_REQUEST,
                            f"This query needs more than {MAX_FILES_READ} DICOM files "
                            "to be read because it constrains tags that are not main "
                            "tags: add a constraint on a main tag or a smaller Limit",
                        )
                    uuid = files.get(candidate.id)
                    if uuid is None or not self._file_matches(
                        uuid, request.file_constraints
                    ):
                        continue
                if skipped < request.since:
                    skipped += 1
                    continue
                matched.append(candidate.id)
                if request.limit is not None and len(matched) >= request.limit:
                    return matched
        return matched

    @staticmethod
    def _matches_main_tags(
        candidate: index_find.Candidate, request: FindRequest
    ) -> bool:
        for constraint in request.main_constraints:
            tags = candidate.tags_by_source.get(constraint.source, {})
            if not constraint.pattern.matches(tags.get(constraint.keyword)):
                return False
        return True

    def _file_matches(self, uuid: str, patterns: list[ValuePattern]) -> bool:
        values = self._read_tags(uuid, [pattern.tag for pattern in patterns])
        return all(pattern.matches(values.get(pattern.tag)) for pattern in patterns)

    def _read_tags(self, uuid: str, tags: list[int]) -> dict[int, str]:
        """Return the text values of some tags of a stored file (absent: no key)."""
        path: Path = self.context.storage.path(uuid)
        try:
            dataset = pydicom.dcmread(path, stop_before_pixels=True, force=True)
        except (OSError, ValueError, EOFError) as error:
            logger.warning(
                "Cannot read stored file %s for /tools/find: %s", uuid, error
            )
            return {}
        encodings = python_encodings(dataset.get("SpecificCharacterSet"))
        values: dict[int, str] = {}
        for tag in tags:
            element = dataset.get_item(tag)
            if element is None:
                continue
            text = element_string(element, encodings)
            if text is not None:
                values[tag] = text
        return values

    def _add_requested_tags(
        self,
        session: Session,
        resources: list[Resource],
        answers: list[dict[str, Any]],
        tags: list[int],
    ) -> None:
        """Add ``RequestedTags`` from main tags, computed counts, then file tags."""
        by_level = {resource.id: resource for resource in resources}
        files = {}
        for level in Level:
            ids = [r.id for r in resources if r.level == level]
            if ids:
                files.update(index_find.first_instance_files(session, ids, level))
        for resource, answer in zip(resources, answers, strict=True):
            known = index_find.inherited_main_tags(session, by_level[resource.id])
            requested: dict[str, str] = {}
            missing = []
            for tag in tags:
                keyword = keyword_for_tag(tag) or f"{tag >> 16:04x},{tag & 0xFFFF:04x}"
                if keyword in known:
                    requested[keyword] = known[keyword]
                else:
                    missing.append((tag, keyword))
            if missing:
                computed = _computed_tags(
                    session, resource, [keyword for _, keyword in missing]
                )
                requested |= computed
                missing = [
                    (tag, keyword)
                    for tag, keyword in missing
                    if keyword not in computed
                ]
            if missing and resource.id in files:
                values = self._read_tags(
                    files[resource.id], [tag for tag, _ in missing]
                )
                for tag, keyword in missing:
                    if tag in values:
                        requested[keyword] = values[tag]
            answer["RequestedTags"] = requested

    def add_requested_tags(self, answers: Any, names: str) -> Any:
        """Add ``RequestedTags`` to expanded resources, for ``?requestedTags=A;B``.

        Responses that are not expanded resources (lists of IDs) are returned
        unchanged, as Orthanc does.
        """
        tags = [parse_tag(name.strip()) for name in names.split(";") if name.strip()]
        single = isinstance(answers, dict)
        items = [answers] if single else answers
        if not tags or not all(
            isinstance(item, dict) and "ID" in item for item in items
        ):
            return answers
        with self.context.read_session() as session:
            resources = index_find.resources_by_public_id(
                session, [item["ID"] for item in items]
            )
            self._add_requested_tags(session, resources, items, tags)
        return items[0] if single else items

    def lookup(self, value: str) -> list[dict[str, str]]:
        value = value.strip()
        if not value:
            return []
        with self.context.read_session() as session:
            found = index_find.lookup(session, value)
        return [
            {
                "ID": public_id,
                "Path": f"/{level.plural}/{public_id}",
                "Type": level.type_name,
            }
            for level, public_id in found
        ]


# Tags that Orthanc computes from the resources below a patient, study or series.
_COUNT_TAGS = {
    "NumberOfPatientRelatedStudies": (Level.PATIENT, Level.STUDY),
    "NumberOfPatientRelatedSeries": (Level.PATIENT, Level.SERIES),
    "NumberOfPatientRelatedInstances": (Level.PATIENT, Level.INSTANCE),
    "NumberOfStudyRelatedSeries": (Level.STUDY, Level.SERIES),
    "NumberOfStudyRelatedInstances": (Level.STUDY, Level.INSTANCE),
    "NumberOfSeriesRelatedInstances": (Level.SERIES, Level.INSTANCE),
}


def _computed_tags(
    session: Session, resource: Resource, keywords: list[str]
) -> dict[str, str]:
    """Return the counts and ModalitiesInStudy that ``keywords`` ask for."""
    level = Level(resource.level)
    wanted = [k for k in keywords if _COUNT_TAGS.get(k, (None,))[0] == level]
    values: dict[str, str] = {}
    if wanted:
        counts, _, _ = subtree_statistics(session, resource)
        for keyword in wanted:
            values[keyword] = str(counts[_COUNT_TAGS[keyword][1]])
    if "ModalitiesInStudy" in keywords and level == Level.STUDY:
        modalities = {
            series.main_tags.get("Modality", "")
            for series in queries.descendants(session, resource, Level.SERIES)
        }
        values["ModalitiesInStudy"] = "\\".join(sorted(m for m in modalities if m))
    return values


def _short_tags(answer: dict[str, Any]) -> dict[str, Any]:
    """Replace keywords by ``gggg,eeee`` keys in the main tags, as ``Short`` requests."""
    for key in ("MainDicomTags", "PatientMainDicomTags"):
        if key in answer:
            answer[key] = {
                f"{tag >> 16:04x},{tag & 0xFFFF:04x}": value
                for keyword, value in answer[key].items()
                if (tag := tag_for_keyword(keyword)) is not None
            }
    return answer
