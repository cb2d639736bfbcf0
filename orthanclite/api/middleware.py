"""ASGI middleware: Orthanc's path rules and gzip compression of JSON responses."""

from __future__ import annotations

import gzip
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_REPEATED_SLASHES = re.compile(r"/{2,}")
# JSON responses shorter than this are sent uncompressed.
GZIP_MINIMUM_SIZE = 1024


class NormalizePathMiddleware:
    """Serve ``//patients`` and ``/patients/`` like ``/patients``, as Orthanc does."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            normalized = _REPEATED_SLASHES.sub("/", path)
            if len(normalized) > 1:
                normalized = normalized.rstrip("/") or "/"
            if normalized != path:
                scope = dict(scope, path=normalized, raw_path=normalized.encode())
        await self.app(scope, receive, send)


class GzipJSONMiddleware:
    """Compress JSON responses when the client accepts gzip.

    DICOM files, images and archives are sent as they are: they gain little
    from compression and cost CPU.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _accepts_gzip(scope):
            await self.app(scope, receive, send)
            return

        start: Message | None = None

        async def send_compressed(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                if _is_json(message):
                    start = message
                    return
                await send(message)
                return
            if message["type"] == "http.response.body" and start is not None:
                held, start = start, None
                body = message.get("body", b"")
                if message.get("more_body", False) or len(body) < GZIP_MINIMUM_SIZE:
                    await send(held)
                    await send(message)
                    return
                compressed = gzip.compress(body, compresslevel=6)
                headers = [
                    (name, value)
                    for name, value in held["headers"]
                    if name.lower() != b"content-length"
                ]
                headers += [
                    (b"content-encoding", b"gzip"),
                    (b"content-length", str(len(compressed)).encode()),
                    (b"vary", b"Accept-Encoding"),
                ]
                await send(dict(held, headers=headers))
                await send({"type": "http.response.body", "body": compressed})
                return
            await send(message)

        await self.app(scope, receive, send_compressed)


def _accepts_gzip(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"accept-encoding":
            return b"gzip" in value.lower()
    return False


def _is_json(message: Message) -> bool:
    for name, value in message.get("headers", ()):
        if name.lower() == b"content-type":
            return value.startswith(b"application/json")
    return False
