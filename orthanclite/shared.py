"""Settings changed at run time, in memory shared by the worker processes.

The memory is mapped before the workers are forked, so a change made while
one worker handles a request is seen by the others at their next read.
"""

from __future__ import annotations

import multiprocessing

# Bytes kept for the encoding name, several times the longest one ("JapaneseKanji").
ENCODING_BYTES = 64


class SharedSettings:
    """The default encoding, set with PUT /tools/default-encoding."""

    def __init__(self, default_encoding: str) -> None:
        self._encoding = multiprocessing.Array("c", ENCODING_BYTES)
        self.default_encoding = default_encoding

    @property
    def default_encoding(self) -> str:
        return self._encoding.value.decode("ascii")

    @default_encoding.setter
    def default_encoding(self, name: str) -> None:
        encoded = name.encode("ascii")
        if len(encoded) >= ENCODING_BYTES:
            raise ValueError(f"Encoding name too long: {name!r}")
        self._encoding.value = encoded
