"""Routes of instances: upload (raw DICOM, ZIP or form) and file download."""

from __future__ import annotations

import asyncio
import logging
import zlib

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect
from starlette.types import Message, Receive

from orthanclite.api.deps import ContextDep
from orthanclite.api.responses import OrthancJSONResponse, json_response
from orthanclite.context import ServerContext, UploadOrigin
from orthanclite.errors import ErrorCode, OrthancError
from orthanclite.storage import StagedFile, StagedWriter

logger = logging.getLogger(__name__)

router = APIRouter(default_response_class=OrthancJSONResponse, tags=["Instances"])

# Bytes gathered in memory before each write to the staging file.
FLUSH_SIZE = 1 << 20
# Limits of a browser form upload.
MAX_FORM_FILES = 10_000
MAX_FORM_FIELDS = 1_000


@router.post("/instances")
async def upload_instances(request: Request) -> OrthancJSONResponse:
    """Store a DICOM file, every DICOM file of a ZIP, or the files of a form.

    A ZIP or a form with several files returns an array with one result per
    stored file.
    """
    # Also served as a plain Starlette route (see orthanclite.app), so it
    # takes no FastAPI dependency.
    context: ServerContext = request.app.state.context
    origin = UploadOrigin(remote_ip=request.client.host if request.client else "")
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        return json_response(await _store_form(request, context, origin))

    staged = await receive_body(request, context)
    answer = await asyncio.get_running_loop().run_in_executor(
        context.upload_executor, context.store_upload, staged, origin
    )
    return json_response(answer)


async def receive_body(request: Request, context: ServerContext) -> StagedFile | bytes:
    """Receive the request body, decompressing it if needed.

    A body smaller than ``FLUSH_SIZE`` is returned as bytes without touching
    the disk or a worker thread; a larger one is streamed into the staging
    folder and returned as a staged file.

    Raises
    ------
    OrthancError
        413 if the body (or its decompressed form) exceeds the size limit,
        408 if the client stops sending for longer than the body timeout.
    """
    settings = context.settings
    limit = settings.max_request_size
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    decompressor = _decompressor(request.headers.get("content-encoding", ""))
    writer: StagedWriter | None = None
    buffer = bytearray()
    received = 0
    chunks = request.stream().__aiter__()
    try:
        while True:
            try:
                # A timer per chunk: asyncio.wait_for would start a task per chunk.
                async with asyncio.timeout(settings.body_timeout):
                    chunk = await chunks.__anext__()
            except StopAsyncIteration:
                break
            except TimeoutError:
                logger.warning("Upload from %s timed out", request.client)
                raise OrthancError(
                    ErrorCode.TIMEOUT,
                    f"No data received for {settings.body_timeout:g} s; the upload was dropped",
                    headers={"Connection": "close"},
                ) from None
            if decompressor is not None:
                chunk = _decompress(decompressor, chunk)
            received += len(chunk)
            if received > limit:
                raise _too_large(limit)
            buffer += chunk
            if len(buffer) >= FLUSH_SIZE:
                if writer is None:
                    writer = await run_in_threadpool(context.new_upload)
                data = bytes(buffer)
                buffer.clear()
                await run_in_threadpool(writer.write, data)
        if decompressor is not None:
            tail = decompressor.flush()
            if not decompressor.eof:
                raise OrthancError(
                    ErrorCode.BAD_REQUEST,
                    "The compressed request body ends before its end marker and checksum",
                )
            received += len(tail)
            if received > limit:
                raise _too_large(limit)
            buffer += tail
        if writer is None:
            return bytes(buffer)
        if buffer:
            await run_in_threadpool(writer.write, bytes(buffer))
        return await run_in_threadpool(writer.finish)
    except ClientDisconnect:
        if writer is not None:
            await run_in_threadpool(writer.abort)
        logger.info("Client disconnected during an upload")
        raise
    except BaseException:
        if writer is not None:
            await run_in_threadpool(writer.abort)
        raise


def _too_large(limit: int) -> OrthancError:
    return OrthancError(
        ErrorCode.BAD_REQUEST,
        f"The request body exceeds the limit of {limit} bytes (setting max_request_size)",
        http_status=413,
        headers={"Connection": "close"},
    )


def _decompressor(encoding: str) -> zlib._Decompress | None:  # type: ignore[name-defined]
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(wbits=31)
    if encoding == "deflate":
        # RFC 9110 "deflate" is zlib-wrapped; 47 also accepts gzip headers.
        return zlib.decompressobj(wbits=47)
    raise OrthancError(
        ErrorCode.BAD_REQUEST,
        f"Unsupported Content-Encoding {encoding!r}; use gzip, deflate or identity",
        http_status=415,
    )


def _decompress(decompressor, chunk: bytes) -> bytes:  # type: ignore[no-untyped-def]
    try:
        return decompressor.decompress(chunk)
    except zlib.error as error:
        raise OrthancError(
            ErrorCode.BAD_REQUEST, f"The compressed request body is invalid: {error}"
        ) from None


async def _store_form(
    request: Request, context: ServerContext, origin: UploadOrigin
) -> dict | list[dict]:
    limit = context.settings.max_request_size
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    # A chunked upload declares no length, so the bytes are counted as they
    # arrive; Starlette spools each file part to a temporary file meanwhile.
    counted = Request(request.scope, _limited_receive(request.receive, limit))
    async with counted.form(max_files=MAX_FORM_FILES, max_fields=MAX_FORM_FIELDS) as form:
        uploads = [value for _, value in form.multi_items() if isinstance(value, UploadFile)]
        if not uploads:
            raise OrthancError(
                ErrorCode.BAD_REQUEST, "The form holds no file; send the DICOM files as file fields"
            )
        answers: list[dict] = []
        for upload in uploads:
            staged = await run_in_threadpool(_stage_upload_file, context, upload)
            answer = await run_in_threadpool(context.store_upload, staged, origin)
            answers.extend(answer if isinstance(answer, list) else [answer])
    return answers[0] if len(uploads) == 1 and len(answers) == 1 else answers


def _limited_receive(receive: Receive, limit: int) -> Receive:
    """Wrap ``receive`` so that a body longer than ``limit`` raises a 413 error."""
    received = 0

    async def receive_limited() -> Message:
        nonlocal received
        message = await receive()
        received += len(message.get("body", b""))
        if received > limit:
            raise _too_large(limit)
        return message

    return receive_limited


def _stage_upload_file(context: ServerContext, upload: UploadFile) -> StagedFile:
    writer: StagedWriter = context.new_upload()
    try:
        upload.file.seek(0)
        while chunk := upload.file.read(FLUSH_SIZE):
            writer.write(chunk)
        return writer.finish()
    except BaseException:
        writer.abort()
        raise


@router.get("/instances/{id}/file", response_class=FileResponse)
async def get_instance_file(id: str, context: ContextDep) -> FileResponse:
    """Download the DICOM file of an instance, as it was stored."""
    path, uuid = await run_in_threadpool(context.instance_file, id)
    return FileResponse(
        path,
        media_type="application/dicom",
        headers={"Content-Disposition": f'filename="{uuid}.dcm"'},
    )
