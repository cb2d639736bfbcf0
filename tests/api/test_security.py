"""Access control, configuration file, HTTPS, limits and quotas."""

from __future__ import annotations

import gzip
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from orthanclite.app import create_app
from orthanclite.config import Settings
from tests.helpers import REPO, ServerProcess, make_dicom


@pytest.fixture
def secured(tmp_path: Path):  # type: ignore[no-untyped-def]
    users = json.dumps({"alice": "s3cret"})
    process = ServerProcess(tmp_path / "data", {"ORTHANCLITE_REGISTERED_USERS": users})
    yield process
    process.stop()


def test_authentication_rejects_missing_credentials(secured: ServerProcess) -> None:
    response = httpx.get(secured.url + "/patients")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Basic realm="orthanclite"'
    assert response.json()["OrthancStatus"] == 29


def test_authentication_rejects_wrong_password(secured: ServerProcess) -> None:
    response = httpx.get(secured.url + "/patients", auth=("alice", "wrong"))
    assert response.status_code == 401
    unknown = httpx.get(secured.url + "/patients", auth=("mallory", "s3cret"))
    assert unknown.status_code == 401


def test_authentication_accepts_registered_user(secured: ServerProcess) -> None:
    response = httpx.post(
        secured.url + "/instances", content=make_dicom(), auth=("alice", "s3cret")
    )
    assert response.status_code == 200
    listing = httpx.get(secured.url + "/instances", auth=("alice", "s3cret"))
    assert len(listing.json()) == 1


def test_upload_rejected_without_reading_body(secured: ServerProcess) -> None:
    """A 401 is sent at once to a client waiting for 100 Continue, then closed."""
    started = time.monotonic()
    response = httpx.post(
        secured.url + "/instances",
        content=make_dicom() * 100,
        headers={"Expect": "100-continue"},
    )
    assert response.status_code == 401
    assert response.headers["connection"] == "close"
    assert time.monotonic() - started < 2


@pytest.mark.anyio
async def test_remote_client_forbidden_by_default() -> None:
    app = create_app(Settings())
    transport = httpx.ASGITransport(app=app, client=("203.0.113.5", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://archive") as client:
        response = await client.get("/docs")
    assert response.status_code == 403
    assert response.json()["HttpStatus"] == 403


@pytest.mark.anyio
async def test_remote_client_allowed_when_configured() -> None:
    app = create_app(Settings(remote_access_allowed=True))
    transport = httpx.ASGITransport(app=app, client=("203.0.113.5", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://archive") as client:
        response = await client.get("/docs")
    assert response.status_code == 200


def test_public_address_without_users_refused(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "orthanclite", "serve", "--host", "0.0.0.0", "--data", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "Refusing to listen on 0.0.0.0 without authentication" in result.stderr


def test_orthanc_configuration_file(tmp_path: Path) -> None:
    config = tmp_path / "orthanc.json"
    config.write_text(
        """{
  // Orthanc accepts comments in its configuration
  "Name" : "FromConfig",
  "AuthenticationEnabled" : true,
  "RegisteredUsers" : { "bob" : "pw" },  /* inline comment */
  "StableAge" : 5,
  "DicomAet" : "IGNORED"
}"""
    )
    process = ServerProcess(tmp_path / "data", extra_args=["--config", str(config)])
    try:
        assert httpx.get(process.url + "/system").status_code == 401
        system = httpx.get(process.url + "/system", auth=("bob", "pw")).json()
        assert system["Name"] == "FromConfig"
        assert "DicomAet" in process.log()
    finally:
        process.stop()


def test_invalid_configuration_file(tmp_path: Path) -> None:
    config = tmp_path / "orthanc.json"
    config.write_text('{ "HttpPort" : 8042, }x')
    result = subprocess.run(
        [sys.executable, "-m", "orthanclite", "serve", "--config", str(config)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "Invalid Orthanc configuration file" in result.stderr


def test_https(tmp_path: Path) -> None:
    certificate = tmp_path / "server.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-keyout", str(certificate), "-out", str(certificate),
        ],
        check=True,
        capture_output=True,
    )
    process = ServerProcess(
        tmp_path / "data", extra_args=["--ssl-certfile", str(certificate)], scheme="https"
    )
    try:
        response = httpx.get(process.url + "/system", verify=False)
        assert response.status_code == 200
        assert response.json()["Version"] == "1.12.0"
    finally:
        process.stop()


@pytest.fixture
def small_limit(tmp_path: Path):  # type: ignore[no-untyped-def]
    env = {"ORTHANCLITE_MAX_REQUEST_SIZE": "2000", "ORTHANCLITE_BODY_TIMEOUT": "1"}
    process = ServerProcess(tmp_path / "data", env)
    yield process
    process.stop()


def test_body_over_limit_is_413(small_limit: ServerProcess) -> None:
    body = make_dicom(ImageComments="x" * 3000)
    response = httpx.post(small_limit.url + "/instances", content=body)
    assert response.status_code == 413
    assert "max_request_size" in response.json()["Details"]


def test_chunked_body_over_limit_is_413(small_limit: ServerProcess) -> None:
    body = make_dicom(ImageComments="x" * 3000)
    chunks = (body[i : i + 500] for i in range(0, len(body), 500))
    response = httpx.post(small_limit.url + "/instances", content=chunks)
    assert response.status_code == 413


def test_chunked_form_over_limit_is_413(small_limit: ServerProcess) -> None:
    boundary = "orthanclite-test-boundary"
    part = make_dicom(ImageComments="x" * 3000)
    body = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="a.dcm"\r\n'
        "Content-Type: application/dicom\r\n\r\n"
    ).encode() + part + f"\r\n--{boundary}--\r\n".encode()
    chunks = (body[i : i + 500] for i in range(0, len(body), 500))
    response = httpx.post(
        small_limit.url + "/instances",
        content=chunks,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 413
    assert httpx.get(small_limit.url + "/instances").json() == []


def test_gzip_bomb_is_413(small_limit: ServerProcess) -> None:
    bomb = gzip.compress(b"\0" * 1_000_000)
    assert len(bomb) < 2000
    response = httpx.post(
        small_limit.url + "/instances", content=bomb, headers={"Content-Encoding": "gzip"}
    )
    assert response.status_code == 413
    assert list((small_limit.data / "staging").iterdir()) == []


def test_stalled_upload_times_out(small_limit: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", small_limit.port), timeout=10) as sock:
        sock.sendall(
            b"POST /instances HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + b"D" * 10
        )
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 408")


def upload_patient(url: str, patient_id: str) -> httpx.Response:
    return httpx.post(url + "/instances", content=make_dicom(patient_id=patient_id))


def test_patient_quota_recycles_oldest(tmp_path: Path) -> None:
    process = ServerProcess(tmp_path / "data", {"ORTHANCLITE_MAXIMUM_PATIENT_COUNT": "2"})
    try:
        first = upload_patient(process.url, "Q-1").json()
        upload_patient(process.url, "Q-2")
        third = upload_patient(process.url, "Q-3")
        assert third.status_code == 200
        patients = httpx.get(process.url + "/patients").json()
        assert len(patients) == 2
        assert first["ParentPatient"] not in patients
        files = [p for p in (process.data / "storage").rglob("*") if p.is_file()]
        assert len(files) == 2
    finally:
        process.stop()


def test_patient_quota_rejects_when_configured(tmp_path: Path) -> None:
    env = {"ORTHANCLITE_MAXIMUM_PATIENT_COUNT": "1", "ORTHANCLITE_MAXIMUM_STORAGE_MODE": "Reject"}
    process = ServerProcess(tmp_path / "data", env)
    try:
        assert upload_patient(process.url, "R-1").status_code == 200
        rejected = upload_patient(process.url, "R-2")
        assert rejected.status_code == 507
        assert rejected.json()["OrthancStatus"] == 19
        assert len(httpx.get(process.url + "/instances").json()) == 1
        files = [p for p in (process.data / "storage").rglob("*") if p.is_file()]
        assert len(files) == 1
    finally:
        process.stop()


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_storage_quota_recycles(tmp_path: Path) -> None:
    process = ServerProcess(tmp_path / "data", {"ORTHANCLITE_MAXIMUM_STORAGE_SIZE": "1"})
    try:
        big = "y" * 400_000
        for index in range(4):
            body = make_dicom(patient_id=f"S-{index}", ImageComments=big)
            assert httpx.post(process.url + "/instances", content=body).status_code == 200
        statistics = httpx.get(process.url + "/statistics").json()
        assert int(statistics["TotalDiskSize"]) <= 1024 * 1024
        assert statistics["CountPatients"] == 2
    finally:
        process.stop()


def test_logs_hold_no_patient_data(server: ServerProcess, client: httpx.Client) -> None:
    body = make_dicom(patient_id="SECRET-PID-77", PatientName="Secretname^Person")
    answer = client.post("/instances", content=body).json()
    client.post("/instances", content=body)
    client.post("/instances", content=body[:-20])
    client.delete(f"/patients/{answer['ParentPatient']}")
    log = server.log()
    assert answer["ID"] in log
    assert "SECRET-PID-77" not in log
    assert "Secretname" not in log


def test_protected_patient_is_not_recycled(tmp_path: Path) -> None:
    process = ServerProcess(tmp_path / "data", {"ORTHANCLITE_MAXIMUM_PATIENT_COUNT": "2"})
    try:
        first = upload_patient(process.url, "P-1").json()["ParentPatient"]
        protect = httpx.put(f"{process.url}/patients/{first}/protected", content=b"1")
        assert protect.status_code == 200
        second = upload_patient(process.url, "P-2").json()["ParentPatient"]
        third = upload_patient(process.url, "P-3").json()["ParentPatient"]
        patients = httpx.get(process.url + "/patients").json()
        assert first in patients
        assert second not in patients
        assert third in patients
    finally:
        process.stop()
