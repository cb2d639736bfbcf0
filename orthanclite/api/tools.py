"""Routes under /tools: find, lookup, labels, bulk delete, clock and UIDs."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import datetime

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydicom.uid import generate_uid
from starlette.concurrency import run_in_threadpool

from orthanclite.api.deps import ContextDep
from orthanclite.api.responses import OrthancJSONResponse, json_response
from orthanclite.context import ServerContext
from orthanclite.errors import ErrorCode, OrthancError
from orthanclite.resource_info import ResourceInfo
from orthanclite.search import Finder, parse_find_request

logger = logging.getLogger(__name__)

router = APIRouter(default_response_class=OrthancJSONResponse, tags=["Tools"])

# UID roots of DCMTK, which Orthanc uses for the UIDs it generates.
UID_ROOTS = {
    "study": "1.2.276.0.7230010.3.1.2.",
    "series": "1.2.276.0.7230010.3.1.3.",
    "instance": "1.2.276.0.7230010.3.1.4.",
}


def plain_text(text: str) -> Response:
    """Build a ``text/plain`` response without a charset, as Orthanc sends."""
    return Response(text.encode(), headers={"Content-Type": "text/plain"})


async def _json_body(request: Request) -> object:
    body = await request.body()
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise OrthancError(
            ErrorCode.BAD_REQUEST, "The body must contain a JSON object"
        ) from None


def _route_paths(routes: list) -> Iterator[str]:
    for route in routes:
        # FastAPI keeps each included router whole, as ``original_router``.
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _route_paths(included.routes)
        elif isinstance(getattr(route, "path", None), str):
            yield route.path


@router.get("/tools")
async def list_tools(request: Request) -> OrthancJSONResponse:
    """List the routes under /tools."""
    names = {
        path.split("/")[2]
        for path in _route_paths(request.app.router.routes)
        if path.startswith("/tools/")
    }
    return json_response(sorted(names))


@router.post("/tools/find")
async def find_resources(request: Request, context: ContextDep) -> OrthancJSONResponse:
    """Find the resources of one level whose tags match a query."""
    find_request = parse_find_request(await _json_body(request))
    return json_response(await run_in_threadpool(Finder(context).find, find_request))


@router.post("/tools/lookup")
async def lookup_identifier(
    request: Request, context: ContextDep
) -> OrthancJSONResponse:
    """Find the resources whose PatientID or UID equals the body, ignoring case."""
    value = (await request.body()).decode("utf-8", errors="replace")
    return json_response(await run_in_threadpool(Finder(context).lookup, value))


@router.get("/tools/now")
async def get_now() -> Response:
    """Return the current UTC time as ``YYYYMMDDTHHMMSS``."""
    return plain_text(datetime.utcnow().strftime("%Y%m%dT%H%M%S"))


@router.get("/tools/now-local")
async def get_now_local() -> Response:
    """Return the current local time of the server as ``YYYYMMDDTHHMMSS``."""
    return plain_text(datetime.now().strftime("%Y%m%dT%H%M%S"))


@router.get("/tools/generate-uid")
async def generate_identifier(request: Request) -> Response:
    """Generate a patient ID (UUID) or a study, series or instance UID.

    Any other ``level``, capitalized ones included, gets an empty 404 as in Orthanc.
    """
    level = request.query_params.get("level")
    if level == "patient":
        return plain_text(str(uuid.uuid4()))
    if level in UID_ROOTS:
        return plain_text(generate_uid(prefix=UID_ROOTS[level]))
    return Response(status_code=404)


@router.get("/tools/labels")
async def list_labels(context: ContextDep) -> OrthancJSONResponse:
    """List every label attached to a resource, sorted."""
    return json_response(await run_in_threadpool(ResourceInfo(context).all_labels))


def _delete_many(context: ServerContext, public_ids: list[str]) -> None:
    skipped = 0
    for public_id in dict.fromkeys(public_ids):
        level = context.resource_level(public_id)
        if level is None:
            skipped += 1
            continue
        try:
            context.delete(level, public_id)
        except OrthancError as error:
            # Deleted meanwhile, or with an ancestor named earlier in the list.
            if error.code != ErrorCode.UNKNOWN_RESOURCE:
                raise
            skipped += 1
    if skipped:
        logger.info("Bulk delete skipped %d unknown resources", skipped)


@router.post("/tools/bulk-delete")
async def bulk_delete(request: Request, context: ContextDep) -> OrthancJSONResponse:
    """Delete several resources of any level; unknown identifiers are skipped."""
    body = await _json_body(request)
    resources = body.get("Resources") if isinstance(body, dict) else None
    if not isinstance(resources, list) or not all(
        isinstance(item, str) for item in resources
    ):
        raise OrthancError(
            ErrorCode.BAD_REQUEST,
            'Field "Resources" is missing, or should be a list of strings',
        )
    await run_in_threadpool(_delete_many, context, resources)
    return json_response({})
