"""Per-resource routes: statistics, protection, labels and ordered slices."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from orthanclite.api.deps import ContextDep
from orthanclite.api.responses import OrthancJSONResponse, json_response
from orthanclite.api.tools import plain_text
from orthanclite.dicom.levels import Level
from orthanclite.errors import ErrorCode, OrthancError
from orthanclite.resource_info import ResourceInfo

router = APIRouter(default_response_class=OrthancJSONResponse)

_BOOLEANS = {"0": False, "false": False, "1": True, "true": True}


def _unknown_patient(public_id: str) -> OrthancError:
    # Orthanc returns 400 "Parameter out of range" here, not 404.
    return OrthancError(
        ErrorCode.PARAMETER_OUT_OF_RANGE, f"No patient with ID {public_id!r}"
    )


@router.get("/patients/{id}/protected", tags=["Patients"])
async def get_protected(id: str, context: ContextDep) -> Response:
    """Return ``1`` if the patient is protected from recycling, else ``0``."""
    protected = await run_in_threadpool(ResourceInfo(context).is_protected, id)
    if protected is None:
        raise _unknown_patient(id)
    return plain_text("1" if protected else "0")


@router.put("/patients/{id}/protected", tags=["Patients"])
async def set_protected(id: str, request: Request, context: ContextDep) -> Response:
    """Protect (body ``1``) or unprotect (body ``0``) a patient."""
    text = (await request.body()).decode("utf-8", errors="replace").strip().lower()
    if text not in _BOOLEANS:
        raise OrthancError(
            ErrorCode.BAD_FILE_FORMAT,
            f"Boolean value expected (0, 1, true or false), got {text!r}",
        )
    if not await run_in_threadpool(
        ResourceInfo(context).set_protected, id, _BOOLEANS[text]
    ):
        raise _unknown_patient(id)
    return plain_text("")


@router.get("/series/{id}/ordered-slices", tags=["Series"])
async def get_ordered_slices(id: str, context: ContextDep) -> OrthancJSONResponse:
    """List the frames of a series in spatial order, or by instance number."""
    return json_response(
        await run_in_threadpool(ResourceInfo(context).ordered_slices, id)
    )


def _statistics(level: Level) -> Callable[..., Any]:
    async def get_resource_statistics(
        id: str, context: ContextDep
    ) -> OrthancJSONResponse:
        answer = await run_in_threadpool(ResourceInfo(context).statistics, level, id)
        return json_response(answer)

    get_resource_statistics.__doc__ = f"Count what one {level.type_name.lower()} holds."
    return get_resource_statistics


def _labels(level: Level) -> Callable[..., Any]:
    async def get_labels(id: str, context: ContextDep) -> OrthancJSONResponse:
        return json_response(
            await run_in_threadpool(ResourceInfo(context).labels, level, id)
        )

    get_labels.__doc__ = f"List the labels of one {level.type_name.lower()}."
    return get_labels


def _change_label(level: Level, attach: bool) -> Callable[..., Any]:
    async def change_label(id: str, label: str, context: ContextDep) -> Response:
        await run_in_threadpool(
            ResourceInfo(context).change_label, level, id, label, attach
        )
        return plain_text("")

    verb = "Attach a label to" if attach else "Detach a label from"
    change_label.__doc__ = f"{verb} one {level.type_name.lower()}."
    return change_label


for _level in Level:
    _tag = _level.plural.capitalize()
    _base = f"/{_level.plural}/{{id}}"
    router.add_api_route(
        f"{_base}/statistics", _statistics(_level), methods=["GET"], tags=[_tag]
    )
    router.add_api_route(
        f"{_base}/labels", _labels(_level), methods=["GET"], tags=[_tag]
    )
    router.add_api_route(
        f"{_base}/labels/{{label}}",
        _change_label(_level, True),
        methods=["PUT"],
        tags=[_tag],
    )
    router.add_api_route(
        f"{_base}/labels/{{label}}",
        _change_label(_level, False),
        methods=["DELETE"],
        tags=[_tag],
    )
