"""Access control: loopback-only by default, HTTP Basic authentication.

As in Orthanc, a client on another host is rejected with 403 unless remote
access is allowed or authentication is enabled, and with authentication
every request needs the credentials of a registered user (else 401).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import logging

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from orthanclite.api.errors import error_body
from orthanclite.config import Settings
from orthanclite.errors import ErrorCode, OrthancError

logger = logging.getLogger(__name__)

REMOTE_ACCESS_DENIED = OrthancError(
    ErrorCode.UNAUTHORIZED,
    "Remote access is not allowed; connect from this host, or enable authentication",
    http_status=403,
)
CREDENTIALS_REQUIRED = OrthancError(
    ErrorCode.UNAUTHORIZED,
    "Valid HTTP Basic credentials of a registered user are required",
    headers={"WWW-Authenticate": 'Basic realm="orthanclite"'},
)


class AccessControlMiddleware:
    """Reject remote clients and missing or wrong credentials before routing."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self._users = {
            user.encode(): password.encode()
            for user, password in settings.registered_users.items()
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        host = client[0] if client else ""
        if not self.settings.accepts_remote_clients and not _is_loopback(host):
            logger.warning("Rejected a request from remote address %s", host)
            await _send_error(scope, send, REMOTE_ACCESS_DENIED)
            return
        if self.settings.authentication_required and not self._authorized(scope):
            await _send_error(scope, send, CREDENTIALS_REQUIRED)
            return
        await self.app(scope, receive, send)

    def _authorized(self, scope: Scope) -> bool:
        for name, value in scope["headers"]:
            if name != b"authorization":
                continue
            scheme, _, encoded = value.partition(b" ")
            if scheme.lower() != b"basic":
                return False
            try:
                user, _, password = base64.b64decode(encoded.strip(), validate=True).partition(b":")
            except (binascii.Error, ValueError):
                return False
            expected = self._users.get(user)
            # Compare even for unknown users so that timing reveals nothing.
            return hmac.compare_digest(password, expected or b"\0" * 32) and expected is not None
        return False


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        # Unix sockets and test clients have no IP address.
        return host in ("", "testclient", "localhost")


async def _send_error(scope: Scope, send: Send, error: OrthancError) -> None:
    """Send Orthanc's error body and close the connection.

    The request body is not read, so the connection cannot carry another
    request; closing it also stops a client waiting for ``100 Continue``.
    """
    body = orjson.dumps(
        error_body(error, scope["method"], scope["path"]),
        option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS,
    )
    headers = [
        (b"content-type", b"application/json; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    headers += [(name.lower().encode(), value.encode()) for name, value in error.headers.items()]
    await send({"type": "http.response.start", "status": error.http_status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
