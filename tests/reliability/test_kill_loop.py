"""A server killed with SIGKILL while ingesting keeps a consistent archive."""

from __future__ import annotations

from pathlib import Path

from tests.reliability_helpers import run_kill_loop


def test_kill_loop_keeps_archive_consistent(tmp_path: Path) -> None:
    result = run_kill_loop(tmp_path, kills=10, clients=4, seed=1)
    assert result.failures == []
    assert result.kills == 10
    assert result.uploads_acknowledged >= 150
    assert result.instances_verified > 0
