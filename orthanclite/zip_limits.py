"""Limits of an uploaded ZIP archive, checked before and while it is expanded.

The declared sizes are checked before the first member is stored, so an
archive that announces too much is rejected whole. The bytes actually read
are counted while members stream into the staging folder, because the
headers of a crafted archive can lie. Member names are never used: each
member is written to a staging file with a generated name.
"""

from __future__ import annotations

import zipfile
import zlib

from orthanclite.config import Settings
from orthanclite.errors import ErrorCode, OrthancError

# Exceptions of zipfile on a corrupt archive or member. Besides BadZipFile,
# a bad offset gives ValueError (OSError on a real file), corrupt Deflate
# data zlib.error, an encrypted member RuntimeError and an unknown version
# NotImplementedError.
ZIP_READ_ERRORS = (
    zipfile.BadZipFile,
    OSError,
    EOFError,
    NotImplementedError,
    RuntimeError,
    ValueError,
    zlib.error,
)

# A member's ratio is checked only past this many bytes, so that small
# members full of padding are not rejected.
RATIO_FLOOR = 1 << 20


def _too_large(details: str) -> OrthancError:
    return OrthancError(ErrorCode.BAD_REQUEST, details, http_status=413)


class ZipBudget:
    """The member count and uncompressed bytes one archive may still use."""

    def __init__(self, settings: Settings) -> None:
        self.max_members = settings.zip_max_members
        self.max_uncompressed = settings.zip_max_uncompressed
        self.max_ratio = settings.zip_max_ratio
        self.total = 0

    def check_archive(self, members: list[zipfile.ZipInfo]) -> None:
        """Reject an archive whose central directory exceeds the limits."""
        if len(members) > self.max_members:
            raise _too_large(
                f"The ZIP archive has {len(members)} members, more than the limit of "
                f"{self.max_members} (setting zip_max_members)"
            )
        declared = sum(member.file_size for member in members)
        if declared > self.max_uncompressed:
            raise _too_large(
                f"The ZIP archive declares {declared} uncompressed bytes, more than "
                f"the limit of {self.max_uncompressed} (setting zip_max_uncompressed)"
            )

    def count(
        self, member: zipfile.ZipInfo, index: int, member_bytes: int, stored: int
    ) -> None:
        """Check the limits after ``member_bytes`` of a member were read.

        ``stored`` is the number of members stored before this one, which
        the message reports because they stay stored.
        """
        stored_before = f"; the {stored} members stored before it were kept"
        if self.total + member_bytes > self.max_uncompressed:
            raise _too_large(
                f"ZIP member #{index} goes past the limit of {self.max_uncompressed} "
                f"uncompressed bytes (setting zip_max_uncompressed){stored_before}"
            )
        compressed = max(member.compress_size, 1)
        if member_bytes > RATIO_FLOOR and member_bytes > self.max_ratio * compressed:
            raise _too_large(
                f"ZIP member #{index} expands more than {self.max_ratio} times its "
                f"compressed size of {member.compress_size} bytes "
                f"(setting zip_max_ratio){stored_before}"
            )

    def add(self, member_bytes: int) -> None:
        """Account for a member that was read to its end."""
        self.total += member_bytes
