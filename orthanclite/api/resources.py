"""Routes common to the four levels: list, get, delete, parents and children."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from orthanclite.api.deps import ContextDep, has_flag, paging_arguments
from orthanclite.api.requested_tags import with_requested_tags
from orthanclite.api.responses import OrthancJSONResponse, json_response
from orthanclite.dicom.levels import Level

router = APIRouter(default_response_class=OrthancJSONResponse)


def _list_resources(level: Level) -> Callable[..., Any]:
    async def list_resources(request: Request, context: ContextDep) -> OrthancJSONResponse:
        since, limit = paging_arguments(request)
        answer = await run_in_threadpool(
            context.list_resources,
            level,
            has_flag(request, "expand"),
            since,
            limit,
            has_flag(request, "full"),
        )
        return json_response(await with_requested_tags(request, context, answer))

    list_resources.__doc__ = f"List the {level.plural} in insertion order."
    return list_resources


def _get_single_resource(level: Level) -> Callable[..., Any]:
    async def get_single_resource(
        id: str, request: Request, context: ContextDep
    ) -> OrthancJSONResponse:
        answer = await run_in_threadpool(
            context.get_resource, level, id, has_flag(request, "full")
        )
        return json_response(await with_requested_tags(request, context, answer))

    get_single_resource.__doc__ = f"Get one {level.type_name.lower()} with its main tags."
    return get_single_resource


def _delete_single_resource(level: Level) -> Callable[..., Any]:
    async def delete_single_resource(id: str, context: ContextDep) -> OrthancJSONResponse:
        return json_response(await run_in_threadpool(context.delete, level, id))

    delete_single_resource.__doc__ = (
        f"Delete one {level.type_name.lower()}, everything below it and the "
        "ancestors left empty."
    )
    return delete_single_resource


def _get_relatives(level: Level, relative: Level) -> Callable[..., Any]:
    if relative > level:

        async def get_child_resources(
            id: str, request: Request, context: ContextDep
        ) -> OrthancJSONResponse:
            answer = await run_in_threadpool(
                context.get_descendants, level, id, relative, has_flag(request, "full")
            )
            return json_response(await with_requested_tags(request, context, answer))

        get_child_resources.__doc__ = (
            f"List the {relative.plural} of a {level.type_name.lower()}, expanded."
        )
        return get_child_resources

    async def get_parent_resource(
        id: str, request: Request, context: ContextDep
    ) -> OrthancJSONResponse:
        answer = await run_in_threadpool(
            context.get_ancestor, level, id, relative, has_flag(request, "full")
        )
        return json_response(await with_requested_tags(request, context, answer))

    get_parent_resource.__doc__ = (
        f"Get the {relative.type_name.lower()} of a {level.type_name.lower()}."
    )
    return get_parent_resource


def _relative_segment(level: Level, relative: Level) -> str:
    return relative.plural if relative > level else relative.type_name.lower()


for _level in Level:
    _tag = _level.plural.capitalize()
    router.add_api_route(
        f"/{_level.plural}", _list_resources(_level), methods=["GET"], tags=[_tag]
    )
    router.add_api_route(
        f"/{_level.plural}/{{id}}", _get_single_resource(_level), methods=["GET"], tags=[_tag]
    )
    router.add_api_route(
        f"/{_level.plural}/{{id}}",
        _delete_single_resource(_level),
        methods=["DELETE"],
        tags=[_tag],
    )
    for _relative in Level:
        if _relative == _level:
            continue
        router.add_api_route(
            f"/{_level.plural}/{{id}}/{_relative_segment(_level, _relative)}",
            _get_relatives(_level, _relative),
            methods=["GET"],
            tags=[_tag],
        )
