"""Routes of DICOM content: tags, header, raw values, metadata, attachments.

Tag routes accept Orthanc's ``?simplify`` (names as keys) and ``?short``
(tags as keys, values only) flags.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response
from starlette.concurrency import run_in_threadpool

from orthanclite import metadata as operations
from orthanclite.api.deps import ContextDep, has_flag
from orthanclite.api.responses import OrthancJSONResponse, json_response
from orthanclite.content import instance_content
from orthanclite.dicom.levels import Level
from orthanclite.errors import ErrorCode, OrthancError

router = APIRouter(default_response_class=OrthancJSONResponse)

# Largest body accepted by PUT on metadata and on the default encoding.
MAX_TEXT_BODY = 1 << 20


def text_response(text: str, etag: bool = False) -> Response:
    """Build a plain text response as Orthanc sends it (``text/plain``, no charset)."""
    body = text.encode("utf-8")
    headers = {"content-type": "text/plain"}
    if etag:
        headers["etag"] = f'"0-{hashlib.md5(body).hexdigest()}"'
    return Response(body, headers=headers)


def forms(request: Request) -> tuple[bool, bool]:
    return has_flag(request, "simplify"), has_flag(request, "short")


async def read_text_body(request: Request) -> str:
    body = await request.body()
    if len(body) > MAX_TEXT_BODY:
        raise OrthancError(
            ErrorCode.BAD_REQUEST,
            f"The body is too large ({len(body)} bytes); send plain text",
        )
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise OrthancError(
            ErrorCode.BAD_REQUEST, "The body must be UTF-8 text"
        ) from None


# -- instance tags ---------------------------------------------------------


@router.get("/instances/{id}/tags", tags=["Instances"])
async def get_instance_tags(
    id: str, request: Request, context: ContextDep
) -> OrthancJSONResponse:
    """Get every element of an instance; ``?simplify`` or ``?short`` change the form."""
    simplified, short = forms(request)
    service = instance_content(context)
    return json_response(
        await run_in_threadpool(service.instance_tags, id, simplified, short)
    )


@router.get("/instances/{id}/simplified-tags", tags=["Instances"])
async def get_simplified_tags(id: str, context: ContextDep) -> OrthancJSONResponse:
    """Get every element of an instance as ``{keyword: value}``."""
    service = instance_content(context)
    return json_response(
        await run_in_threadpool(service.instance_tags, id, True, False)
    )


@router.get("/instances/{id}/header", tags=["Instances"])
async def get_instance_header(
    id: str, request: Request, context: ContextDep
) -> OrthancJSONResponse:
    """Get the File Meta Information (group 0002) of an instance."""
    simplified, short = forms(request)
    service = instance_content(context)
    return json_response(await run_in_threadpool(service.header, id, simplified, short))


@router.get("/instances/{id}/content", tags=["Instances"])
async def list_instance_content(id: str, context: ContextDep) -> OrthancJSONResponse:
    """List the top-level elements of an instance as ``gggg-eeee``."""
    service = instance_content(context)
    return json_response(await run_in_threadpool(service.content, id, []))


@router.get("/instances/{id}/content/{path:path}", tags=["Instances"])
async def get_instance_content(id: str, path: str, context: ContextDep) -> Response:
    """Get a raw value, or the items of a sequence, along a path of tags and indexes."""
    service = instance_content(context)
    segments = [segment for segment in path.split("/") if segment]
    answer = await run_in_threadpool(service.content, id, segments)
    if isinstance(answer, bytes):
        return Response(answer, media_type="application/octet-stream")
    return json_response(answer)


# -- tags of several instances ---------------------------------------------


def _shared_tags(level: Level) -> Callable[..., Any]:
    async def get_shared_tags(
        id: str, request: Request, context: ContextDep
    ) -> OrthancJSONResponse:
        simplified, short = forms(request)
        service = instance_content(context)
        answer = await run_in_threadpool(
            service.shared_tags, level, id, simplified, short
        )
        return json_response(answer)

    get_shared_tags.__doc__ = (
        "Get the elements whose value is the same in every instance of a "
        f"{level.type_name.lower()}."
    )
    return get_shared_tags


def _instances_tags(level: Level) -> Callable[..., Any]:
    async def get_instances_tags(
        id: str, request: Request, context: ContextDep
    ) -> OrthancJSONResponse:
        simplified, short = forms(request)
        service = instance_content(context)
        answer = await run_in_threadpool(
            service.instances_tags, level, id, simplified, short
        )
        return json_response(answer)

    get_instances_tags.__doc__ = (
        f"Get the tags of every instance of a {level.type_name.lower()}, by ID."
    )
    return get_instances_tags


def _module(level: Level, module_level: Level) -> Callable[..., Any]:
    async def get_module(
        id: str, request: Request, context: ContextDep
    ) -> OrthancJSONResponse:
        simplified, short = forms(request)
        service = instance_content(context)
        answer = await run_in_threadpool(
            service.module, level, id, module_level, simplified, short
        )
        return json_response(answer)

    get_module.__doc__ = (
        f"Get the {module_level.type_name} module of a {level.type_name.lower()}, "
        "read from its first instance."
    )
    return get_module


# -- metadata ----------------------------------------------------------------


def _list_metadata(level: Level) -> Callable[..., Any]:
    async def list_metadata(
        id: str, request: Request, context: ContextDep
    ) -> OrthancJSONResponse:
        values = await run_in_threadpool(
            operations.resource_metadata, context, level, id
        )
        if has_flag(request, "expand"):
            return json_response(values)
        return json_response(list(values))

    list_metadata.__doc__ = "List the metadata names; ``?expand`` gives the values too."
    return list_metadata


def _get_metadata(level: Level) -> Callable[..., Any]:
    async def get_metadata(id: str, name: str, context: ContextDep) -> Response:
        value = await run_in_threadpool(
            operations.get_metadata, context, level, id, name
        )
        return text_response(value, etag=True)

    get_metadata.__doc__ = "Get one metadata value as plain text."
    return get_metadata


def _set_metadata(level: Level) -> Callable[..., Any]:
    async def set_metadata(
        id: str, name: str, request: Request, context: ContextDep
    ) -> Response:
        value = await read_text_body(request)
        await run_in_threadpool(
            operations.set_metadata, context, level, id, name, value
        )
        return text_response("")

    set_metadata.__doc__ = "Set a user metadata (declared in the UserMetadata setting)."
    return set_metadata


def _delete_metadata(level: Level) -> Callable[..., Any]:
    async def delete_metadata(id: str, name: str, context: ContextDep) -> Response:
        await run_in_threadpool(operations.delete_metadata, context, level, id, name)
        return text_response("")

    delete_metadata.__doc__ = "Delete a user metadata."
    return delete_metadata


# -- attachments ---------------------------------------------------------------


def _list_attachments(level: Level) -> Callable[..., Any]:
    async def list_attachments(id: str, context: ContextDep) -> OrthancJSONResponse:
        return json_response(
            await run_in_threadpool(operations.list_attachments, context, level, id)
        )

    list_attachments.__doc__ = "List the attachments (``dicom`` for instances)."
    return list_attachments


def _attachment_operations(level: Level) -> Callable[..., Any]:
    async def list_attachment_operations(
        id: str, name: str, context: ContextDep
    ) -> OrthancJSONResponse:
        await run_in_threadpool(operations.attachment_info, context, level, id, name)
        return json_response(operations.ATTACHMENT_ROUTES)

    list_attachment_operations.__doc__ = "List the routes of one attachment."
    return list_attachment_operations


def _attachment_value(level: Level, field: str) -> Callable[..., Any]:
    async def get_attachment_value(id: str, name: str, context: ContextDep) -> Response:
        info = await run_in_threadpool(
            operations.attachment_info, context, level, id, name
        )
        if field == "info":
            return json_response(info)
        return text_response(str(info[field]), etag=True)

    get_attachment_value.__doc__ = f"Get the {field} of an attachment."
    return get_attachment_value


def _attachment_data(level: Level) -> Callable[..., Any]:
    async def get_attachment_data(
        id: str, name: str, context: ContextDep
    ) -> FileResponse:
        info = await run_in_threadpool(
            operations.attachment_info, context, level, id, name
        )
        path, uuid = await run_in_threadpool(context.instance_file, id)
        return FileResponse(
            path,
            media_type="application/dicom",
            headers={
                "Content-Disposition": f'filename="{uuid}.dcm"',
                "ETag": f'"0-{info["UncompressedMD5"]}"',
            },
        )

    get_attachment_data.__doc__ = "Download the content of an attachment."
    return get_attachment_data


def _verify_md5(level: Level) -> Callable[..., Any]:
    async def verify_attachment_md5(
        id: str, name: str, context: ContextDep
    ) -> OrthancJSONResponse:
        await run_in_threadpool(
            operations.verify_attachment_md5, context, level, id, name
        )
        return json_response({})

    verify_attachment_md5.__doc__ = (
        "Check the stored file against the MD5 taken at store time."
    )
    return verify_attachment_md5


def _is_compressed(level: Level) -> Callable[..., Any]:
    async def is_attachment_compressed(
        id: str, name: str, context: ContextDep
    ) -> Response:
        await run_in_threadpool(operations.attachment_info, context, level, id, name)
        return text_response("0")

    is_attachment_compressed.__doc__ = (
        "Tell whether an attachment is compressed (never)."
    )
    return is_attachment_compressed


# -- default encoding ----------------------------------------------------------


@router.get("/tools/default-encoding", tags=["System"])
async def get_default_encoding(context: ContextDep) -> Response:
    """Get the character set assumed for files without Specific Character Set."""
    return text_response(context.default_encoding)


@router.put("/tools/default-encoding", tags=["System"])
async def set_default_encoding(request: Request, context: ContextDep) -> Response:
    """Set the default character set; it applies to reading and to later uploads."""
    name = await read_text_body(request)
    encoding = await run_in_threadpool(operations.set_default_encoding, context, name)
    return text_response(encoding)


def _register() -> None:
    for level in Level:
        tag = level.plural.capitalize()
        base = f"/{level.plural}/{{id}}"
        if level != Level.INSTANCE:
            router.add_api_route(
                f"{base}/shared-tags", _shared_tags(level), methods=["GET"], tags=[tag]
            )
            router.add_api_route(
                f"{base}/instances-tags",
                _instances_tags(level),
                methods=["GET"],
                tags=[tag],
            )
        router.add_api_route(
            f"{base}/module", _module(level, level), methods=["GET"], tags=[tag]
        )
        router.add_api_route(
            f"{base}/metadata", _list_metadata(level), methods=["GET"], tags=[tag]
        )
        name_route = f"{base}/metadata/{{name}}"
        router.add_api_route(
            name_route, _get_metadata(level), methods=["GET"], tags=[tag]
        )
        router.add_api_route(
            name_route, _set_metadata(level), methods=["PUT"], tags=[tag]
        )
        router.add_api_route(
            name_route, _delete_metadata(level), methods=["DELETE"], tags=[tag]
        )

        attachments = f"{base}/attachments"
        router.add_api_route(
            attachments, _list_attachments(level), methods=["GET"], tags=[tag]
        )
        attachment = f"{attachments}/{{name}}"
        router.add_api_route(
            attachment, _attachment_operations(level), methods=["GET"], tags=[tag]
        )
        router.add_api_route(
            f"{attachment}/info",
            _attachment_value(level, "info"),
            methods=["GET"],
            tags=[tag],
        )
        for route, field in (
            ("size", "UncompressedSize"),
            ("compressed-size", "CompressedSize"),
            ("md5", "UncompressedMD5"),
            ("compressed-md5", "CompressedMD5"),
        ):
            router.add_api_route(
                f"{attachment}/{route}",
                _attachment_value(level, field),
                methods=["GET"],
                tags=[tag],
            )
        router.add_api_route(
            f"{attachment}/is-compressed",
            _is_compressed(level),
            methods=["GET"],
            tags=[tag],
        )
        for route in ("data", "compressed-data"):
            router.add_api_route(
                f"{attachment}/{route}",
                _attachment_data(level),
                methods=["GET"],
                tags=[tag],
            )
        router.add_api_route(
            f"{attachment}/verify-md5", _verify_md5(level), methods=["POST"], tags=[tag]
        )

    router.add_api_route(
        "/studies/{id}/module-patient",
        _module(Level.STUDY, Level.PATIENT),
        methods=["GET"],
        tags=["Studies"],
    )


_register()
