"""``?requestedTags=`` on resource routes (Orthanc 1.11 and later)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from orthanclite.context import ServerContext
from orthanclite.search import Finder


async def with_requested_tags(
    request: Request, context: ServerContext, answer: Any
) -> Any:
    """Add ``RequestedTags`` to expanded resources when the request names tags."""
    names = request.query_params.get("requestedTags")
    if not names:
        return answer
    return await run_in_threadpool(Finder(context).add_requested_tags, answer, names)
