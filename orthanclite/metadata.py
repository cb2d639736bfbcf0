"""Metadata and attachments of resources, and the server's default encoding.

Metadata names follow Orthanc. Only the server writes system metadata
(numbers below 1024). User metadata (1024 to 65535) are declared in the
``user_metadata`` setting, Orthanc's ``UserMetadata``, and can also be
addressed by number.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from orthanclite.context import ServerContext
from orthanclite.dicom.charset import DEFAULT_ENCODINGS
from orthanclite.dicom.levels import Level
from orthanclite.errors import ErrorCode, OrthancError, unknown_resource
from orthanclite.index import properties, queries
from orthanclite.index.models import Resource

logger = logging.getLogger(__name__)

DEFAULT_ENCODING_PROPERTY = "DefaultEncoding"
# Orthanc's metadata numbers: system ones below 1024, user ones from 1024.
SYSTEM_METADATA = {
    "IndexInSeries": 1,
    "ReceptionDate": 2,
    "RemoteAET": 3,
    "ModifiedFrom": 5,
    "AnonymizedFrom": 6,
    "LastUpdate": 7,
    "Origin": 8,
    "TransferSyntax": 9,
    "SopClassUid": 10,
    "RemoteIP": 11,
    "CalledAET": 12,
    "HttpUsername": 13,
    "PixelDataOffset": 14,
}
FIRST_USER_METADATA = 1024
LAST_USER_METADATA = 65535
ATTACHMENT_ROUTES = [
    "compress",
    "compressed-data",
    "compressed-md5",
    "compressed-size",
    "data",
    "info",
    "is-compressed",
    "md5",
    "size",
    "uncompress",
    "verify-md5",
    "uuid",
]


def metadata_number(name: str, user_metadata: dict[str, int]) -> int | None:
    """Return Orthanc's number of a metadata name, or None if unknown."""
    if name in SYSTEM_METADATA:
        return SYSTEM_METADATA[name]
    if name in user_metadata:
        return user_metadata[name]
    if name.isdigit():
        return int(name)
    return None


def _resource(
    context: ServerContext, session: Any, level: Level, public_id: str
) -> Resource:
    resource = queries.find_resource(session, level, public_id)
    if resource is None:
        raise unknown_resource(level.type_name, public_id)
    return resource


def resource_metadata(
    context: ServerContext, level: Level, public_id: str
) -> dict[str, str]:
    """Return the metadata of a resource, ordered by Orthanc's metadata number."""
    user = context.settings.user_metadata
    with context.read_session() as session:
        resource = _resource(context, session, level, public_id)
        values = properties.list_metadata(session, resource.id)
        if level == Level.SERIES:
            remote = properties.newest_child_metadata(session, resource.id, "RemoteAET")
            values.setdefault("RemoteAET", remote or "")
        if level != Level.INSTANCE:
            values.setdefault("LastUpdate", resource.last_update)
    return dict(
        sorted(
            values.items(),
            key=lambda item: metadata_number(item[0], user) or LAST_USER_METADATA,
        )
    )


def get_metadata(
    context: ServerContext, level: Level, public_id: str, name: str
) -> str:
    values = resource_metadata(context, level, public_id)
    stored_name = _user_metadata_name(name, context.settings.user_metadata) or name
    if stored_name not in values:
        raise OrthancError(
            ErrorCode.INEXISTENT_ITEM,
            f"The {level.type_name.lower()} has no metadata {name!r}",
        )
    return values[stored_name]


def _user_metadata_name(name: str, user_metadata: dict[str, int]) -> str | None:
    """Return the name a user metadata is stored under, or None if not one."""
    number = metadata_number(name, user_metadata)
    if number is None:
        raise OrthancError(
            ErrorCode.INEXISTENT_ITEM,
            f"Unknown metadata {name!r}; declare user metadata in the "
            "user_metadata setting (Orthanc's UserMetadata)",
        )
    if not FIRST_USER_METADATA <= number <= LAST_USER_METADATA:
        return None
    for user_name, user_number in user_metadata.items():
        if user_number == number:
            return user_name
    return str(number)


def _writable_metadata_name(name: str, user_metadata: dict[str, int]) -> str:
    stored_name = _user_metadata_name(name, user_metadata)
    if stored_name is None:
        raise OrthancError(
            ErrorCode.BAD_REQUEST,
            f"Metadata {name!r} is maintained by the server and cannot be changed",
            http_status=403,
        )
    return stored_name


def set_metadata(
    context: ServerContext, level: Level, public_id: str, name: str, value: str
) -> None:
    """Create or replace a user metadata of a resource."""
    stored_name = _writable_metadata_name(name, context.settings.user_metadata)

    def write(session: Any) -> None:
        resource = _resource(context, session, level, public_id)
        properties.set_metadata(session, resource.id, stored_name, value)

    context._run_write(write)
    logger.info(
        "Metadata %s of %s %s set", stored_name, level.type_name.lower(), public_id
    )


def delete_metadata(
    context: ServerContext, level: Level, public_id: str, name: str
) -> None:
    """Delete a user metadata of a resource."""
    stored_name = _writable_metadata_name(name, context.settings.user_metadata)

    def remove(session: Any) -> bool:
        resource = _resource(context, session, level, public_id)
        return properties.delete_metadata(session, resource.id, stored_name)

    if not context._run_write(remove):
        raise OrthancError(
            ErrorCode.UNKNOWN_RESOURCE,
            f"The {level.type_name.lower()} has no metadata {name!r}",
        )


# -- attachments ----------------------------------------------------------


def list_attachments(context: ServerContext, level: Level, public_id: str) -> list[str]:
    with context.read_session() as session:
        _resource(context, session, level, public_id)
    return ["dicom"] if level == Level.INSTANCE else []


def attachment_info(
    context: ServerContext, level: Level, public_id: str, name: str
) -> dict[str, Any]:
    """Return Orthanc's description of an attachment (only ``dicom`` exists)."""
    if level != Level.INSTANCE or name not in ("dicom", "1"):
        raise OrthancError(
            ErrorCode.INEXISTENT_ITEM,
            f"The {level.type_name.lower()} has no attachment {name!r}",
        )
    with context.read_session() as session:
        resource = _resource(context, session, level, public_id)
        attachment = queries.dicom_attachments(session, [resource.id]).get(resource.id)
    if attachment is None:
        raise OrthancError(
            ErrorCode.INEXISTENT_FILE, f"Instance {public_id} has no file"
        )
    return {
        "CompressedMD5": attachment.md5,
        "CompressedSize": attachment.size,
        "ContentType": 1,
        "UncompressedMD5": attachment.md5,
        "UncompressedSize": attachment.size,
        "Uuid": attachment.uuid,
    }


def verify_attachment_md5(
    context: ServerContext, level: Level, public_id: str, name: str
) -> None:
    """Hash the stored file again and compare it with the MD5 taken at store time."""
    info = attachment_info(context, level, public_id, name)
    path, _uuid = context.instance_file(public_id)
    digest = hashlib.md5()
    with open(path, "rb") as fp:
        while chunk := fp.read(1 << 20):
            digest.update(chunk)
    if digest.hexdigest() != info["UncompressedMD5"]:
        logger.error("The file of instance %s does not match its MD5", public_id)
        raise OrthancError(
            ErrorCode.CORRUPTED_FILE,
            f"The file of instance {public_id} has changed on disk since it was stored",
        )


# -- default encoding -----------------------------------------------------


def set_default_encoding(context: ServerContext, name: str) -> str:
    """Set and persist the encoding of files without Specific Character Set."""
    name = name.strip()
    matches = [known for known in DEFAULT_ENCODINGS if known.lower() == name.lower()]
    if not matches:
        raise OrthancError(
            ErrorCode.PARAMETER_OUT_OF_RANGE,
            f"Unknown encoding {name!r}; use one of {', '.join(DEFAULT_ENCODINGS)}",
        )
    encoding = matches[0]
    context._run_write(
        lambda session: properties.set_property(
            session, DEFAULT_ENCODING_PROPERTY, encoding
        )
    )
    context.default_encoding = encoding
    logger.info("Default encoding set to %s", encoding)
    return encoding
