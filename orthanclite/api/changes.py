"""Routes of the change log (/changes) and of the export log (/exports)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from starlette.concurrency import run_in_threadpool

from orthanclite.api.deps import ContextDep, has_flag, integer_argument
from orthanclite.api.responses import OrthancJSONResponse, json_response
from orthanclite.context import ServerContext
from orthanclite.dicom.levels import Level
from orthanclite.errors import ErrorCode, OrthancError
from orthanclite.index import changes
from orthanclite.index.models import Change
from orthanclite.stability import StabilityMonitor

DEFAULT_LIMIT = 100
# NOTE: a larger "limit" is reduced to this many changes per page.
MAX_LIMIT = 10_000


@asynccontextmanager
async def stability_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Run the Stable* monitor while the server runs (after the context opens)."""
    monitor = StabilityMonitor(app.state.context)
    monitor.start()
    try:
        yield
    finally:
        await run_in_threadpool(monitor.stop)


router = APIRouter(
    default_response_class=OrthancJSONResponse,
    tags=["Changes"],
    lifespan=stability_lifespan,
)


def _change_json(change: Change) -> dict[str, Any]:
    level = Level(change.level)
    return {
        "ChangeType": change.change_type,
        "Date": change.date,
        "ID": change.public_id,
        "Path": f"/{level.plural}/{change.public_id}",
        "ResourceType": level.type_name,
        "Seq": change.seq,
    }


def read_changes(
    context: ServerContext, since: int, limit: int, last: bool
) -> dict[str, Any]:
    """Return one page of the change log in Orthanc's form."""
    with context.read_session() as session:
        if last:
            change = changes.last_change(session)
            if change is None:
                return {"Changes": [], "Done": True, "Last": 0}
            return {"Changes": [_change_json(change)], "Done": True, "Last": change.seq}
        if limit == 0:
            # Orthanc reports no change and "Done": false for a zero limit.
            return {"Changes": [], "Done": False, "Last": changes.last_seq(session)}
        rows, done = changes.list_changes(session, since, limit)
        last_seq = rows[-1].seq if rows else changes.last_seq(session)
        return {
            "Changes": [_change_json(row) for row in rows],
            "Done": done,
            "Last": last_seq,
        }


@router.get("/changes")
async def get_changes(request: Request, context: ContextDep) -> OrthancJSONResponse:
    """List the changes after ``since``, ``limit`` at most (100 by default).

    With ``?last``, list only the last change.
    """
    since = integer_argument(request, "since") or 0
    limit = integer_argument(request, "limit")
    if limit is None:
        limit = DEFAULT_LIMIT
    if limit < 0:
        raise OrthancError(
            ErrorCode.PARAMETER_OUT_OF_RANGE,
            f'Argument "limit" must not be negative, got {limit}',
        )
    answer = await run_in_threadpool(
        read_changes, context, since, min(limit, MAX_LIMIT), has_flag(request, "last")
    )
    return json_response(answer)


@router.get("/exports")
async def get_exports() -> OrthancJSONResponse:
    """List exported resources: always empty, because nothing is sent to modalities."""
    return json_response({"Done": True, "Exports": [], "Last": 0})
