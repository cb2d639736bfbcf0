"""Dependencies shared by the routers: the server context and query flags."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from orthanclite.context import ServerContext
from orthanclite.errors import ErrorCode, OrthancError


async def get_context(request: Request) -> ServerContext:
    # A coroutine, so that FastAPI does not hand this lookup to a worker thread.
    return request.app.state.context


ContextDep = Annotated[ServerContext, Depends(get_context)]


def has_flag(request: Request, name: str) -> bool:
    """Tell whether a flag argument is present; Orthanc ignores its value."""
    return name in request.query_params


def integer_argument(request: Request, name: str) -> int | None:
    value = request.query_params.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise OrthancError(
            ErrorCode.PARAMETER_OUT_OF_RANGE,
            f'Argument "{name}" must be an integer, got {value!r}',
        ) from None


def paging_arguments(request: Request) -> tuple[int | None, int | None]:
    """Return ``since`` and ``limit``, which Orthanc requires together."""
    since = integer_argument(request, "since")
    limit = integer_argument(request, "limit")
    uri = request.url.path.rstrip("/") + "/"
    if limit is not None and since is None:
        raise OrthancError(
            ErrorCode.BAD_REQUEST, f'Missing "since" argument for GET request against: {uri}'
        )
    if since is not None and limit is None:
        raise OrthancError(
            ErrorCode.BAD_REQUEST, f'Missing "limit" argument for GET request against: {uri}'
        )
    if limit is not None and limit < 0:
        raise OrthancError(ErrorCode.PARAMETER_OUT_OF_RANGE, f'Invalid "limit": {limit}')
    return since, limit
