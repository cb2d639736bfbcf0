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


# Largest integer argument: the index stores 64-bit signed integers.
MAX_INTEGER = 2**63 - 1


def has_flag(request: Request, name: str) -> bool:
    """Tell whether a flag argument is present; Orthanc ignores its value."""
    return name in request.query_params


def integer_argument(request: Request, name: str) -> int | None:
    value = request.query_params.get(name)
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise OrthancError(
            ErrorCode.PARAMETER_OUT_OF_RANGE,
            f'Argument "{name}" must be an integer, got {value!r}',
        ) from None
    if not -MAX_INTEGER <= number <= MAX_INTEGER:
        raise OrthancError(
            ErrorCode.PARAMETER_OUT_OF_RANGE,
            f'Argument "{name}" is out of range: {value}',
        )
    return number


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
