"""Routes of instance images: preview, rendered, image-*, raw frames, numpy, pdf.

The image format follows the ``Accept`` header as in Orthanc 1.10.1: PNG by
default and for ``*/*`` or ``image/*``, JPEG for ``image/jpeg``, PAM for
``image/x-portable-arbitrarymap``; any other image type gets 404.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, get_args

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from orthanclite.api.deps import ContextDep, has_flag
from orthanclite.api.responses import OrthancJSONResponse, json_response
from orthanclite.errors import ErrorCode, OrthancError
from orthanclite.images import (
    ImageFormat,
    Mode,
    RenderOptions,
    image_service,
    unsupported_placeholder_png,
)

router = APIRouter(default_response_class=OrthancJSONResponse, tags=["Instances"])

MODES: tuple[str, ...] = get_args(Mode)
# Routes that Orthanc 1.10.1 lists for one frame.
FRAME_ROUTES = [
    "image-int16",
    "image-uint16",
    "image-uint8",
    "matlab",
    "numpy",
    "preview",
    "raw",
    "raw.gz",
    "rendered",
]
ACCEPTED_TYPES: dict[str, ImageFormat] = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/x-portable-arbitrarymap": "pam",
    "image/*": "png",
    "*/*": "png",
}
UNSUPPORTED_IMAGE_PATH = "app/images/unsupported.png"
DEFAULT_QUALITY = 90


def negotiate_format(accept: str | None) -> ImageFormat:
    """Pick the image format from an ``Accept`` header, by quality value.

    Raises OrthancError with status 404, as Orthanc does, when no listed type
    is one that can be produced.
    """
    if not accept or not accept.strip():
        return "png"
    best: tuple[float, int, ImageFormat] | None = None
    for position, item in enumerate(accept.split(",")):
        media_type, *parameters = (part.strip() for part in item.split(";"))
        weight = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        image_format = ACCEPTED_TYPES.get(media_type.lower())
        if image_format is None or weight <= 0:
            continue
        # Among equal weights, the first listed type wins.
        candidate = (weight, -position, image_format)
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    if best is None:
        raise OrthancError(
            ErrorCode.NOT_ACCEPTABLE,
            f"Cannot produce an image of the accepted types {accept!r}; "
            "accept image/png, image/jpeg or image/x-portable-arbitrarymap",
            http_status=404,
        )
    return best[2]


def _quality(request: Request) -> int:
    value = request.query_params.get("quality")
    if value is None:
        return DEFAULT_QUALITY
    try:
        quality = int(value)
    except ValueError:
        quality = 0
    if not 1 <= quality <= 100:
        # Orthanc 1.10.1 responds 415 to an invalid quality.
        raise OrthancError(
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            f'Argument "quality" must be an integer from 1 to 100, got {value!r}',
        )
    return quality


def _number(request: Request, name: str, minimum: float | None = None) -> float | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    try:
        number: float | None = float(value)
    except ValueError:
        number = None
    if number is not None and not math.isfinite(number):
        number = None
    if number is None or (minimum is not None and number < minimum):
        # Orthanc 1.10.1 responds 404 to invalid arguments of /rendered.
        raise OrthancError(
            ErrorCode.PARAMETER_OUT_OF_RANGE,
            f'Invalid argument "{name}": {value!r}',
            http_status=404,
        )
    return number


def _window_width(request: Request) -> float | None:
    width = _number(request, "window-width")
    # A zero width would divide by zero; one unit is the narrowest window.
    return None if width is None else max(width, 1.0)


def _size(request: Request, name: str) -> int:
    value = _number(request, name, minimum=0)
    if value is None:
        return 0
    if value != int(value):
        raise OrthancError(
            ErrorCode.PARAMETER_OUT_OF_RANGE,
            f'Argument "{name}" must be a whole number of pixels, got {value}',
            http_status=404,
        )
    return int(value)


def render_options(request: Request, mode: Mode) -> RenderOptions:
    """Read the format and the rendering arguments of an image request."""
    image_format = negotiate_format(request.headers.get("accept"))
    quality = _quality(request)
    if mode != "rendered":
        return RenderOptions(mode=mode, image_format=image_format, quality=quality)
    return RenderOptions(
        mode=mode,
        image_format=image_format,
        quality=quality,
        window_center=_number(request, "window-center"),
        window_width=_window_width(request),
        width=_size(request, "width"),
        height=_size(request, "height"),
        smooth=_enabled(request, "smooth", default=False),
    )


def _enabled(request: Request, name: str, default: bool) -> bool:
    """Read a boolean argument: absent gives ``default``, ``0`` or ``false`` is off."""
    value = request.query_params.get(name)
    if value is None:
        return default
    return value.strip().lower() not in ("0", "false")


def frame_index(frame: str) -> int:
    """Parse the frame of a URI; a non-integer is an unknown route, as in Orthanc."""
    try:
        return int(frame)
    except ValueError:
        raise OrthancError(
            ErrorCode.UNKNOWN_RESOURCE, f"Frame numbers are integers, got {frame!r}"
        ) from None


async def _render(
    request: Request, context: ContextDep, id: str, index: int, mode: Mode
) -> Response:
    options = render_options(request, mode)
    service = image_service(context)
    try:
        body, media_type = await run_in_threadpool(service.render, id, index, options)
    except OrthancError as error:
        if error.http_status == 415 and has_flag(request, "returnUnsupportedImage"):
            depth = request.url.path.count("/") - 1
            location = "../" * depth + UNSUPPORTED_IMAGE_PATH
            return Response(status_code=301, headers={"Location": location})
        raise
    return Response(body, media_type=media_type)


def _instance_image(mode: Mode) -> Callable[..., Any]:
    async def get_instance_image(
        id: str, request: Request, context: ContextDep
    ) -> Response:
        return await _render(request, context, id, 0, mode)

    get_instance_image.__doc__ = (
        f"Get the {mode} image of the first frame of an instance."
    )
    return get_instance_image


def _frame_image(mode: Mode) -> Callable[..., Any]:
    async def get_frame_image(
        id: str, frame: str, request: Request, context: ContextDep
    ) -> Response:
        return await _render(request, context, id, frame_index(frame), mode)

    get_frame_image.__doc__ = f"Get the {mode} image of one frame of an instance."
    return get_frame_image


for _mode in MODES:
    router.add_api_route(
        f"/instances/{{id}}/{_mode}",
        _instance_image(_mode),
        methods=["GET"],
        response_class=Response,
    )
    router.add_api_route(
        f"/instances/{{id}}/frames/{{frame}}/{_mode}",
        _frame_image(_mode),
        methods=["GET"],
        response_class=Response,
    )


@router.get("/instances/{id}/frames")
async def list_frames(id: str, context: ContextDep) -> OrthancJSONResponse:
    """List the frame numbers of an instance, from 0."""
    numbers = await run_in_threadpool(image_service(context).frame_numbers, id)
    return json_response(numbers)


@router.get("/instances/{id}/frames/{frame}")
async def list_frame_routes(
    id: str, frame: str, context: ContextDep
) -> OrthancJSONResponse:
    """List the routes available on a frame; Orthanc 1.10.1 does not check ``frame``."""
    await run_in_threadpool(context.instance_file, id)
    return json_response(FRAME_ROUTES)


@router.get("/instances/{id}/frames/{frame}/raw", response_class=Response)
async def get_raw_frame(id: str, frame: str, context: ContextDep) -> Response:
    """Get the stored bytes of one frame; a JPEG baseline frame comes as image/jpeg."""
    service = image_service(context)
    body, media_type = await run_in_threadpool(
        service.raw_frame, id, frame_index(frame), False
    )
    return Response(body, media_type=media_type)


@router.get("/instances/{id}/frames/{frame}/raw.gz", response_class=Response)
async def get_raw_frame_compressed(
    id: str, frame: str, context: ContextDep
) -> Response:
    """Get the stored bytes of one frame, gzip-compressed."""
    service = image_service(context)
    body, media_type = await run_in_threadpool(
        service.raw_frame, id, frame_index(frame), True
    )
    return Response(body, media_type=media_type)


@router.get("/instances/{id}/numpy", response_class=Response)
async def get_instance_numpy(
    id: str, request: Request, context: ContextDep
) -> Response:
    """Get every frame as a NumPy array (frames, rows, columns, samples).

    Grayscale values are rescaled to float32 unless ``?rescale=0``.
    """
    service = image_service(context)
    body = await run_in_threadpool(
        service.numpy, id, None, _enabled(request, "rescale", default=True)
    )
    return Response(body, media_type="application/octet-stream")


@router.get("/instances/{id}/frames/{frame}/numpy", response_class=Response)
async def get_frame_numpy(
    id: str, frame: str, request: Request, context: ContextDep
) -> Response:
    """Get one frame as a NumPy array (rows, columns, samples)."""
    service = image_service(context)
    body = await run_in_threadpool(
        service.numpy,
        id,
        frame_index(frame),
        _enabled(request, "rescale", default=True),
    )
    return Response(body, media_type="application/octet-stream")


@router.get("/instances/{id}/matlab", response_class=Response)
async def get_instance_matlab(id: str, context: ContextDep) -> Response:
    """Get the first frame as a MATLAB/Octave matrix of its stored values."""
    body = await run_in_threadpool(image_service(context).matlab, id, 0)
    return Response(body, media_type="text/plain")


@router.get("/instances/{id}/frames/{frame}/matlab", response_class=Response)
async def get_frame_matlab(id: str, frame: str, context: ContextDep) -> Response:
    """Get one frame as a MATLAB/Octave matrix of its stored values."""
    body = await run_in_threadpool(
        image_service(context).matlab, id, frame_index(frame)
    )
    return Response(body, media_type="text/plain")


@router.get("/instances/{id}/pdf", response_class=Response)
async def get_instance_pdf(id: str, context: ContextDep) -> Response:
    """Get the document of an Encapsulated PDF instance."""
    body = await run_in_threadpool(image_service(context).pdf, id)
    return Response(body, media_type="application/pdf")


@router.get(f"/{UNSUPPORTED_IMAGE_PATH}", response_class=Response, tags=["System"])
async def get_unsupported_image() -> Response:
    """Get the placeholder image that ``?returnUnsupportedImage`` redirects to."""
    return Response(unsupported_placeholder_png(), media_type="image/png")
