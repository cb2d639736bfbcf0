"""Identifiers, paths and query arguments never reach files or SQL unchecked."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest

from tests.helpers import ServerProcess, make_dicom

HOSTILE_IDS = [
    "../../etc/passwd",
    "..%2F..%2Fetc%2Fpasswd",
    "' OR 1=1 --",
    '" OR ""="',
    "1; DROP TABLE resources",
    "%",
    "_",
    "*",
    "a" * 4000,
    "abc\x00def",
]
ROUTES = [
    ("GET", "/patients/{id}"),
    ("GET", "/studies/{id}"),
    ("GET", "/series/{id}/instances"),
    ("GET", "/instances/{id}"),
    ("GET", "/instances/{id}/file"),
    ("GET", "/studies/{id}/patient"),
    ("DELETE", "/instances/{id}"),
    ("DELETE", "/patients/{id}"),
]


@pytest.fixture(scope="module")
def route_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("routes") / "data")
    with httpx.Client(base_url=process.url) as client:
        client.post("/instances", content=make_dicom("ROUTES"))
    yield process
    process.stop()


@pytest.fixture
def http(route_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=route_server.url, timeout=60) as client:
        yield client


@pytest.mark.parametrize("method,route", ROUTES)
@pytest.mark.parametrize("identifier", HOSTILE_IDS, ids=range(len(HOSTILE_IDS)))
def test_hostile_identifier(
    http: httpx.Client, method: str, route: str, identifier: str
) -> None:
    path = route.format(id=quote(identifier, safe=""))
    response = http.request(method, path)
    assert response.status_code in (400, 404), response.text
    assert "OrthancStatus" in response.json()


def test_raw_traversal_path(http: httpx.Client) -> None:
    # Sent without client-side normalisation of "..".
    response = http.send(http.build_request("GET", "/instances/../../../etc/passwd"))
    assert response.status_code in (400, 404)
    assert "root:" not in response.text


@pytest.mark.parametrize(
    "query",
    [
        "limit=1%20OR%201=1",
        "since=-1&limit=1",
        "limit=abc",
        "since=%27%3B%20DROP%20TABLE%20resources%3B--",
        "expand=%27%20OR%201=1",
        "limit=99999999999999999999999",
    ],
)
def test_hostile_query_argument(http: httpx.Client, query: str) -> None:
    response = http.get(f"/instances?{query}")
    assert response.status_code in (200, 400), response.text


def test_index_intact_after_attempts(http: httpx.Client) -> None:
    assert len(http.get("/instances").json()) == 1
    assert len(http.get("/patients").json()) == 1
