"""Streaming ZIP writer: members are read, compressed and sent one at a time.

zipstream-ng writes each member with a data descriptor, so nothing needs to
be known before a member's bytes are sent. ZIP64 records appear only when the
archive needs them: a member over 4 GiB, offsets over 4 GiB or more than
65,535 members. Memory stays bounded by one read buffer, one output buffer
and the central directory (about 100 bytes per member).
"""

from __future__ import annotations

import logging
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from zipstream import ZipStream

logger = logging.getLogger(__name__)

# Bytes read from a file at a time.
READ_SIZE = 256 * 1024
# Output is gathered into chunks of at least this size before being yielded,
# so that a large archive costs few thread switches and socket writes.
OUTPUT_SIZE = 256 * 1024


@dataclass(slots=True)
class ZipMember:
    """A member to write: a file on disk or content produced on demand.

    ``content`` is called only when the member's turn comes, so it can
    depend on the members written before it (a DICOMDIR does).
    """

    arcname: str
    path: Path | None = None
    size: int | None = None
    content: Callable[[], tuple[BinaryIO, int]] | None = None
    # Caller data, handed back to ``on_written`` with the member.
    extra: Any = None


def stream_zip(
    members: Iterable[ZipMember],
    *,
    compression: str = "deflated",
    level: int = 1,
    comment: bytes = b"",
    on_written: Callable[[ZipMember], None] | None = None,
) -> Iterator[bytes]:
    """Yield the bytes of a ZIP archive of ``members``, in order.

    A member whose file has disappeared (its resource was deleted while the
    archive streams) is left out and logged, so the archive stays valid.
    ``on_written`` is called after each member that was written.
    """
    compress_type = (
        zipfile.ZIP_DEFLATED if compression == "deflated" else zipfile.ZIP_STORED
    )
    stream = ZipStream(
        compress_type=compress_type,
        compress_level=level if compress_type == zipfile.ZIP_DEFLATED else None,
    )
    stream.comment = comment
    output = bytearray()
    # The first bytes leave at once, so that the client sees the download start.
    threshold = 1
    source: BinaryIO | None = None
    try:
        for member in members:
            opened = _open_member(member)
            if opened is None:
                continue
            source, size = opened
            stream.add(_read_chunks(source), member.arcname, size=size)
            for chunk in stream.all_files():
                output += chunk
                if len(output) >= threshold:
                    yield bytes(output)
                    output.clear()
                    threshold = OUTPUT_SIZE
            source.close()
            source = None
            if on_written is not None:
                on_written(member)
        for chunk in stream.footer():
            output += chunk
        yield bytes(output)
    finally:
        if source is not None:
            source.close()


def _open_member(member: ZipMember) -> tuple[BinaryIO, int] | None:
    if member.content is not None:
        return member.content()
    assert member.path is not None, "a member has a path or a content"
    try:
        source = open(member.path, "rb")  # noqa: SIM115 (closed by stream_zip)
    except FileNotFoundError:
        logger.warning(
            "Left file %s out of an archive: it was removed from the storage area",
            member.path.name,
        )
        return None
    size = member.size if member.size is not None else member.path.stat().st_size
    return source, size


def _read_chunks(source: BinaryIO) -> Iterator[bytes]:
    while chunk := source.read(READ_SIZE):
        yield chunk
