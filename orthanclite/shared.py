"""Settings changed at run time, in memory shared by the worker processes.

The memory is mapped before the workers are forked, so a change made while
one worker handles a request is seen by the others at their next read. It
holds one integer, written and read without a lock: a lock shared between
processes stays taken forever when its holder is killed.
"""

from __future__ import annotations

import multiprocessing

from orthanclite.dicom.charset import DEFAULT_ENCODINGS

ENCODING_NAMES = tuple(DEFAULT_ENCODINGS)
# Stored when the configured name is not one of Orthanc's encoding names; the
# name as configured is then used, which decodes as Latin1.
CONFIGURED = -1


class SharedSettings:
    """The default encoding, set with PUT /tools/default-encoding."""

    def __init__(self, default_encoding: str) -> None:
        self._configured = default_encoding
        self._encoding = multiprocessing.RawValue("i", CONFIGURED)
        self.default_encoding = default_encoding

    @property
    def default_encoding(self) -> str:
        index = self._encoding.value
        return self._configured if index == CONFIGURED else ENCODING_NAMES[index]

    @default_encoding.setter
    def default_encoding(self, name: str) -> None:
        self._encoding.value = (
            ENCODING_NAMES.index(name) if name in ENCODING_NAMES else CONFIGURED
        )
