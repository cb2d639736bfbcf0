"""Fixtures: a real orthanclite server process per test, and DICOM inputs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import ServerProcess, make_dicom


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A fresh server with an empty data folder."""
    process = ServerProcess(tmp_path / "data")
    yield process
    process.stop()


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        yield http


@pytest.fixture
def dicom_factory() -> Callable[..., bytes]:
    return make_dicom
