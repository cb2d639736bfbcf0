"""Orthanc's error codes and the single exception type that carries them.

The numbers, descriptions and HTTP statuses follow the table printed by
``Orthanc --errors`` (Orthanc 1.10.1). A code without an HTTP status of its own
gets HTTP 500, as in Orthanc.
"""

from __future__ import annotations

import enum


class ErrorCode(enum.Enum):
    """Orthanc error code: its number, description and HTTP status."""

    INTERNAL_ERROR = (-1, "Internal error", 500)
    NOT_IMPLEMENTED = (2, "Not implemented yet", 500)
    PARAMETER_OUT_OF_RANGE = (3, "Parameter out of range", 400)
    NOT_ENOUGH_MEMORY = (4, "The server hosting Orthanc is running out of memory", 503)
    BAD_PARAMETER_TYPE = (5, "Bad type for a parameter", 400)
    BAD_SEQUENCE_OF_CALLS = (6, "Bad sequence of calls", 400)
    INEXISTENT_ITEM = (7, "Accessing an inexistent item", 404)
    BAD_REQUEST = (8, "Bad request", 400)
    DATABASE = (11, "Error with the database engine", 500)
    URI_SYNTAX = (12, "Badly formatted URI", 400)
    INEXISTENT_FILE = (13, "Inexistent file", 404)
    CANNOT_WRITE_FILE = (14, "Cannot write to file", 500)
    BAD_FILE_FORMAT = (15, "Bad file format", 400)
    TIMEOUT = (16, "Timeout", 408)
    UNKNOWN_RESOURCE = (17, "Unknown resource", 404)
    FULL_STORAGE = (19, "The file storage is full", 507)
    CORRUPTED_FILE = (20, "Corrupted file (e.g. inconsistent MD5 hash)", 500)
    INEXISTENT_TAG = (21, "Inexistent tag", 404)
    INCOMPATIBLE_IMAGE_FORMAT = (23, "Incompatible format of the images", 400)
    INCOMPATIBLE_IMAGE_SIZE = (24, "Incompatible size of the images", 400)
    UNKNOWN_DICOM_TAG = (27, "Unknown DICOM tag", 400)
    BAD_JSON = (28, "Cannot parse a JSON document", 400)
    UNAUTHORIZED = (29, "Bad credentials were provided to an HTTP request", 401)
    EMPTY_REQUEST = (33, "The request is empty", 400)
    NOT_ACCEPTABLE = (
        34,
        "Cannot send a response which is acceptable according to the Accept HTTP header",
        406,
    )
    DATABASE_UNAVAILABLE = (
        36,
        "The database is currently not available (probably a transient situation)",
        503,
    )
    BAD_RANGE = (41, "Incorrect range request", 416)
    DATABASE_CANNOT_SERIALIZE = (
        42,
        "Database could not serialize access due to concurrent update, "
        "the transaction should be retried",
        503,
    )
    UNSUPPORTED_MEDIA_TYPE = (3000, "Unsupported media type", 415)

    def __init__(self, number: int, description: str, http_status: int) -> None:
        self.number = number
        self.description = description
        self.http_status = http_status


class OrthancError(Exception):
    """Error reported to HTTP clients as Orthanc's JSON error body.

    ``details`` is the human-readable explanation shown as ``Details``; it must
    never contain patient data, because it is also logged. ``http_status``
    overrides the status that belongs to the code.
    """

    def __init__(
        self,
        code: ErrorCode,
        details: str | None = None,
        *,
        http_status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(details or code.description)
        self.code = code
        self.details = details
        self.http_status = http_status or code.http_status
        self.headers = headers or {}


def unknown_resource(level_name: str, public_id: str) -> OrthancError:
    """Build the error for an identifier that is not in the index."""
    return OrthancError(
        ErrorCode.UNKNOWN_RESOURCE, f"No {level_name.lower()} with ID {public_id!r}"
    )
