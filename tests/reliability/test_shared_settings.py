"""Settings shared by the worker processes: seen by all, never blocking."""

from __future__ import annotations

import os
import signal

from orthanclite.shared import SharedSettings


def test_change_in_child_seen_by_parent() -> None:
    shared = SharedSettings("Latin1")
    child = os.fork()
    if child == 0:
        shared.default_encoding = "Utf8"
        os._exit(0)
    os.waitpid(child, 0)
    assert shared.default_encoding == "Utf8"


def test_reads_survive_a_killed_reader() -> None:
    shared = SharedSettings("Latin1")
    for _ in range(20):
        child = os.fork()
        if child == 0:
            while True:
                shared.default_encoding = "Greek"
                assert shared.default_encoding == "Greek"
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
        # With a lock between processes, this read could wait forever.
        assert shared.default_encoding in ("Latin1", "Greek")


def test_unknown_configured_name_kept() -> None:
    shared = SharedSettings("Klingon")
    assert shared.default_encoding == "Klingon"
    shared.default_encoding = "Cyrillic"
    assert shared.default_encoding == "Cyrillic"
