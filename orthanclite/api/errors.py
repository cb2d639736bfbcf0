"""Exception handlers: every error reaches the client as Orthanc's JSON body.

The body has Orthanc's keys (``HttpError``, ``HttpStatus``, ``Message``,
``Method``, ``OrthancError``, ``OrthancStatus``, ``Uri`` and ``Details`` when
known). FastAPI's own ``{"detail": ...}`` bodies and 422 never reach clients.
"""

from __future__ import annotations

import http
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from sqlalchemy.exc import SQLAlchemyError
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orthanclite.api.responses import json_response
from orthanclite.errors import ErrorCode, OrthancError

logger = logging.getLogger(__name__)

# Order in which allowed methods are listed in the Allow header.
METHOD_ORDER = ("GET", "POST", "PUT", "DELETE")


def error_body(error: OrthancError, method: str, uri: str) -> dict[str, object]:
    """Return Orthanc's JSON error body for an error raised by ``method uri``."""
    status = error.http_status
    body: dict[str, object] = {
        "HttpError": http.HTTPStatus(status).phrase,
        "HttpStatus": status,
        "Message": error.code.description,
        "Method": method,
        "OrthancError": error.code.description,
        "OrthancStatus": error.code.number,
        "Uri": uri,
    }
    if error.details:
        body["Details"] = error.details
    return body


def error_response(request: Request, error: OrthancError) -> Response:
    """Render an OrthancError as Orthanc's JSON error body."""
    body = error_body(error, request.method, request.url.path)
    response = json_response(body, status_code=error.http_status)
    response.headers.update(error.headers)
    return response


def allowed_methods(request: Request) -> list[str]:
    """Return the methods for which a route fully matches the request's path."""
    routes = request.app.router.routes
    allowed = []
    for method in METHOD_ORDER:
        scope = dict(request.scope, method=method)
        if any(route.matches(scope)[0] == Match.FULL for route in routes):
            allowed.append(method)
    return allowed


async def handle_orthanc_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, OrthancError)
    if error.http_status >= 500:
        logger.error("%s %s failed: %s", request.method, request.url.path, error)
    return error_response(request, error)


async def handle_http_exception(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    if error.status_code == 405:
        allow = ",".join(allowed_methods(request))
        orthanc_error = OrthancError(
            ErrorCode.BAD_REQUEST,
            f"Method {request.method} is not allowed on {request.url.path}; allowed: {allow}",
            http_status=405,
            headers={"Allow": allow},
        )
    elif error.status_code == 404:
        orthanc_error = OrthancError(
            ErrorCode.UNKNOWN_RESOURCE, f"Unknown route: {request.url.path}"
        )
    else:
        orthanc_error = OrthancError(
            ErrorCode.BAD_REQUEST, str(error.detail), http_status=error.status_code
        )
    return error_response(request, orthanc_error)


async def handle_validation_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    problems = "; ".join(
        f"{'.'.join(str(part) for part in item.get('loc', ()))}: {item.get('msg')}"
        for item in error.errors()
    )
    return error_response(
        request, OrthancError(ErrorCode.BAD_REQUEST, f"Invalid request: {problems}")
    )


class UnexpectedErrorMiddleware:
    """Return Orthanc's 500 body for an unexpected exception, keeping the connection.

    Starlette's own handler for ``Exception`` re-raises after answering, so
    the server closes the keep-alive connection; catching the exception here
    first keeps the connection usable for the client's next request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except Exception as error:
            if started:
                logger.exception(
                    "Unexpected error after the response started: %s %s",
                    scope["method"],
                    scope["path"],
                )
                raise
            response = await handle_unexpected_error(Request(scope), error)
            await response(scope, receive, send)


async def handle_unexpected_error(request: Request, error: Exception) -> Response:
    logger.exception("Unexpected error in %s %s", request.method, request.url.path)
    if isinstance(error, SQLAlchemyError):
        # The SQL statement is of no use to a client, so only the error type is sent.
        details = f"The index failed: {type(getattr(error, 'orig', error)).__name__}"
    else:
        details = f"{type(error).__name__}: {error}"
    return error_response(request, OrthancError(ErrorCode.INTERNAL_ERROR, details))


def register_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(OrthancError, handle_orthanc_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_exception)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(Exception, handle_unexpected_error)
