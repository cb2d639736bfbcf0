"""HTTP conventions: error bodies, unknown routes, methods and paths."""

from __future__ import annotations

import httpx
import pytest

from orthanclite.app import create_app
from orthanclite.config import Settings
from tests.helpers import ServerProcess, make_dicom

UNKNOWN_ID = "da39a3ee-5e6b4b0d-3255bfef-95601890-afd80709"


def test_unknown_resource_is_404_json(client: httpx.Client) -> None:
    for level in ("patients", "studies", "series", "instances"):
        response = client.get(f"/{level}/{UNKNOWN_ID}")
        assert response.status_code == 404, level
        error = response.json()
        assert error["HttpStatus"] == 404, level
        assert error["HttpError"] == "Not Found", level
        assert error["OrthancStatus"] == 17, level
        assert error["Message"] == "Unknown resource", level
        assert error["Uri"] == f"/{level}/{UNKNOWN_ID}", level


def test_malformed_id_is_404(client: httpx.Client) -> None:
    assert client.get("/patients/not-an-id").status_code == 404


def test_unknown_route_is_404_json(client: httpx.Client) -> None:
    for path in ("/nope", "/patients/x/y/z/w", f"/instances/{UNKNOWN_ID}/nope"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json()["OrthancStatus"] == 17, path
    assert client.post("/nope").status_code == 404


def test_wrong_method_is_405_with_allow(client: httpx.Client) -> None:
    cases = {
        ("PUT", "/instances"): "GET,POST",
        ("DELETE", "/instances"): "GET,POST",
        ("POST", f"/patients/{UNKNOWN_ID}"): "GET,DELETE",
        ("POST", "/system"): "GET",
    }
    for (method, path), allow in cases.items():
        response = client.request(method, path)
        assert response.status_code == 405, path
        assert response.headers["allow"] == allow, path
        assert response.json()["HttpStatus"] == 405, path


def test_extra_slashes_are_ignored(server: ServerProcess, client: httpx.Client) -> None:
    answer = client.post("/instances", content=make_dicom()).json()
    assert httpx.get(server.url + "//patients").json() == [answer["ParentPatient"]]
    assert httpx.get(server.url + "/patients/").json() == [answer["ParentPatient"]]
    instance = httpx.get(f"{server.url}/instances//{answer['ID']}/").json()
    assert instance["ID"] == answer["ID"]


def test_root_redirects_to_docs(client: httpx.Client) -> None:
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["location"] == "/docs"


def test_basic_credentials_are_accepted(client: httpx.Client) -> None:
    assert client.get("/patients", auth=("alice", "secret")).status_code == 200


def test_bad_integer_argument_is_400(client: httpx.Client) -> None:
    response = client.get("/instances", params={"since": "x", "limit": "1"})
    assert response.status_code == 400
    assert "since" in response.json()["Details"]


@pytest.mark.anyio
async def test_unexpected_error_is_answered_not_raised() -> None:
    """A bug in a handler gives Orthanc's 500 body and does not escape the app.

    An exception escaping the application makes the server drop the
    keep-alive connection, which clients see as a reset on their next call.
    """
    app = create_app(Settings())

    @app.get("/test-failure")
    async def fail() -> None:
        raise RuntimeError("simulated failure")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
    async with httpx.AsyncClient(transport=transport, base_url="http://archive") as client:
        response = await client.get("/test-failure")
    assert response.status_code == 500
    assert response.json()["OrthancStatus"] == -1
    assert "simulated failure" in response.json()["Details"]
