"""Reading an Orthanc configuration file (JSON with comments).

Only the options that orthanclite implements are taken; the others are
listed in a warning, because they have no effect here.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

# Orthanc option name → orthanclite setting name.
SUPPORTED_OPTIONS = {
    "Name": "name",
    "HttpPort": "port",
    "StorageDirectory": "storage_directory",
    "IndexDirectory": "index_directory",
    "RemoteAccessAllowed": "remote_access_allowed",
    "AuthenticationEnabled": "authentication_enabled",
    "RegisteredUsers": "registered_users",
    "OverwriteInstances": "overwrite_instances",
    "StableAge": "stable_age",
    "MaximumStorageSize": "maximum_storage_size",
    "MaximumPatientCount": "maximum_patient_count",
    "MaximumStorageMode": "maximum_storage_mode",
    "SslCertificate": "ssl_certfile",
    "DefaultEncoding": "default_encoding",
    "UserMetadata": "user_metadata",
}
# Options whose value is handled by another option or that change nothing here.
NEUTRAL_OPTIONS = {"SslEnabled", "HttpServerEnabled"}

_COMMENTS = re.compile(r'"(?:\\.|[^"\\])*"|//[^\n]*|/\*.*?\*/', re.DOTALL)


def strip_comments(text: str) -> str:
    """Remove ``//`` and ``/* */`` comments outside JSON strings."""
    return _COMMENTS.sub(lambda m: m.group(0) if m.group(0).startswith('"') else "", text)


def load_orthanc_config(path: Path) -> dict[str, Any]:
    """Return orthanclite settings read from an Orthanc configuration file.

    Raises
    ------
    ValueError
        If the file is not a JSON object, with the position of the error.
    """
    try:
        document = json.loads(strip_comments(path.read_text(encoding="utf-8")))
    except json.JSONDecodeError as error:
        raise ValueError(
            f"Invalid Orthanc configuration file {path}: {error.msg} "
            f"at line {error.lineno}, column {error.colno}"
        ) from None
    if not isinstance(document, dict):
        raise ValueError(f"Invalid Orthanc configuration file {path}: expected a JSON object")

    settings: dict[str, Any] = {}
    ignored = []
    for option, value in document.items():
        if option in SUPPORTED_OPTIONS:
            settings[SUPPORTED_OPTIONS[option]] = value
        elif option not in NEUTRAL_OPTIONS:
            ignored.append(option)
    if document.get("SslEnabled") is False:
        settings.pop("ssl_certfile", None)
    elif document.get("SslEnabled") is True and "ssl_certfile" not in settings:
        raise ValueError(f"{path}: SslEnabled is true but SslCertificate is missing")
    if ignored:
        logger.warning(
            "Options of %s that orthanclite ignores: %s", path, ", ".join(sorted(ignored))
        )
    return settings
