"""Routes of ZIP archives and DICOMDIR media, streamed while they are built.

``/{patients|studies|series}/{id}/archive|media`` and
``/tools/create-archive|create-media`` send a ZIP that is produced while it
is sent (chunked transfer encoding). The download starts at once, and the
server keeps one buffer in memory whatever the size of the study.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from urllib.parse import quote

import anyio
import orjson
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from orthanclite.api.deps import ContextDep, has_flag
from orthanclite.archiving import ArchivePlan, archive_chunks, plan_archive
from orthanclite.context import ServerContext
from orthanclite.dicom.levels import Level
from orthanclite.errors import ErrorCode, OrthancError

logger = logging.getLogger(__name__)

router = APIRouter(tags=["Archives"])

ARCHIVE_LEVELS = (Level.PATIENT, Level.STUDY, Level.SERIES)
_FORBIDDEN_IN_FILENAME = set('"\\/') | {chr(code) for code in range(32)} | {"\x7f"}


async def _read_options(request: Request) -> dict[str, Any]:
    """Read the JSON object of a POST; an empty body counts as ``{}``."""
    if request.method != "POST":
        return {}
    body = await request.body()
    if not body.strip():
        return {}
    try:
        options = orjson.loads(body)
    except orjson.JSONDecodeError:
        options = None
    if not isinstance(options, dict):
        raise OrthancError(
            ErrorCode.BAD_FILE_FORMAT,
            'The body must be a JSON object, such as {} or {"Resources": [...]}',
        )
    return options


def _check_options(request: Request, options: dict[str, Any]) -> None:
    """Reject the options that orthanclite does not implement yet."""
    if "transcode" in request.query_params or options.get("Transcode"):
        raise OrthancError(
            ErrorCode.BAD_REQUEST,
            'Transcoding archives is not supported yet; omit "transcode" to get '
            "the stored files",
        )
    if options.get("Asynchronous") is True or options.get("Synchronous") is False:
        raise OrthancError(
            ErrorCode.NOT_IMPLEMENTED,
            'Asynchronous archives (jobs) are not supported; omit "Asynchronous" '
            "to download the archive directly",
        )


def _content_disposition(request: Request, default: str) -> str:
    """Build Content-Disposition from ``?filename=`` or the default name."""
    name = request.query_params.get("filename", default)
    if not name or any(character in _FORBIDDEN_IN_FILENAME for character in name):
        raise OrthancError(
            ErrorCode.PARAMETER_OUT_OF_RANGE,
            f"Invalid filename {name!r}: it must be non-empty, without quotes, "
            "slashes, backslashes or control characters",
        )
    if name.isascii():
        return f'filename="{name}"'
    fallback = name.encode("ascii", "replace").decode().replace("?", "_")
    return f"filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}"


def _resources_argument(request: Request, options: dict[str, Any]) -> list[str]:
    if request.method == "GET":
        value = request.query_params.get("resources")
        if not value:
            raise OrthancError(
                ErrorCode.BAD_REQUEST,
                'Missing "resources" argument: give Orthanc IDs separated by commas',
            )
        return [part.strip() for part in value.split(",") if part.strip()]
    if "Resources" not in options:
        raise OrthancError(
            ErrorCode.BAD_FILE_FORMAT, "Missing field Resources in the JSON body"
        )
    resources = options["Resources"]
    if not isinstance(resources, list) or not all(
        isinstance(r, str) for r in resources
    ):
        raise OrthancError(
            ErrorCode.BAD_FILE_FORMAT,
            '"Resources" must be a list of Orthanc IDs (strings)',
        )
    return resources


def _is_extended(request: Request, options: dict[str, Any]) -> bool:
    return has_flag(request, "extended") or options.get("Extended") is True


class _GuardedIterator:
    """A generator that a worker thread advances and another thread may close."""

    def __init__(self, generator: Iterator[bytes]) -> None:
        self._generator = generator
        self._lock = threading.Lock()

    def next_chunk(self) -> bytes | None:
        with self._lock:
            return next(self._generator, None)

    def close(self) -> None:
        with self._lock:
            self._generator.close()


async def _stream(context: ServerContext, plan: ArchivePlan) -> AsyncIterator[bytes]:
    """Run the archive generator in worker threads and close it however it ends.

    When the client disconnects, Starlette cancels this generator; the file
    being read is then closed right away, not at garbage collection.
    """
    source = _GuardedIterator(archive_chunks(context, plan))
    started = time.monotonic()
    sent = 0
    finished = False
    try:
        while (chunk := await run_in_threadpool(source.next_chunk)) is not None:
            sent += len(chunk)
            yield chunk
        finished = True
        logger.info(
            "Sent archive of %s: %d bytes in %.1f s",
            plan.description,
            sent,
            time.monotonic() - started,
        )
    except Exception:
        logger.exception("Archive of %s failed after %d bytes", plan.description, sent)
        raise
    finally:
        if not finished:
            logger.info("Archive of %s stopped after %d bytes", plan.description, sent)
        with anyio.CancelScope(shield=True):
            await run_in_threadpool(source.close)


async def _archive_response(
    request: Request,
    context: ServerContext,
    targets: list[tuple[Level | None, str]],
    media: bool,
    default_name: str,
    options: dict[str, Any],
) -> StreamingResponse:
    _check_options(request, options)
    disposition = _content_disposition(request, default_name)
    plan = await run_in_threadpool(
        plan_archive, context, targets, media, _is_extended(request, options)
    )
    logger.info(
        "Sending %s of %s: %d series",
        "media" if media else "archive",
        plan.description,
        len(plan.series),
    )
    return StreamingResponse(
        _stream(context, plan),
        media_type="application/zip",
        headers={"Content-Disposition": disposition},
    )


def _resource_archive(level: Level, media: bool) -> Callable[..., Any]:
    async def create_resource_archive(
        id: str, request: Request, context: ContextDep
    ) -> StreamingResponse:
        options = await _read_options(request)
        return await _archive_response(
            request, context, [(level, id)], media, f"{id}.zip", options
        )

    kind = "a DICOMDIR media (IMAGES/IM0... and DICOMDIR)" if media else "a ZIP archive"
    create_resource_archive.__doc__ = (
        f"Download {kind} of one {level.type_name.lower()}, streamed as it is built."
    )
    return create_resource_archive


def _tools_archive(media: bool) -> Callable[..., Any]:
    async def create_archive_of_resources(
        request: Request, context: ContextDep
    ) -> StreamingResponse:
        options = await _read_options(request)
        resources = _resources_argument(request, options)
        targets: list[tuple[Level | None, str]] = [
            (None, public_id) for public_id in resources
        ]
        return await _archive_response(
            request, context, targets, media, "Archive.zip", options
        )

    kind = "DICOMDIR media" if media else "ZIP archive"
    create_archive_of_resources.__doc__ = (
        f"Download one {kind} of several resources of any level "
        '(POST {"Resources": [...]} or GET ?resources=a,b).'
    )
    return create_archive_of_resources


for _level in ARCHIVE_LEVELS:
    for _segment, _media in (("archive", False), ("media", True)):
        router.add_api_route(
            f"/{_level.plural}/{{id}}/{_segment}",
            _resource_archive(_level, _media),
            methods=["GET", "POST"],
            response_class=StreamingResponse,
        )
for _segment, _media in (("create-archive", False), ("create-media", True)):
    router.add_api_route(
        f"/tools/{_segment}",
        _tools_archive(_media),
        methods=["GET", "POST"],
        response_class=StreamingResponse,
    )
