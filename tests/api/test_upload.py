"""POST /instances: raw DICOM, ZIP, forms, compression and rejected files."""

from __future__ import annotations

import gzip
import io
import zipfile
import zlib
from pathlib import Path

import httpx

from tests.helpers import ServerProcess, make_dicom, pydicom_file

ORTHANC_ERROR_KEYS = {
    "HttpError",
    "HttpStatus",
    "Message",
    "Method",
    "OrthancError",
    "OrthancStatus",
    "Uri",
}


def stored_files(server: ServerProcess) -> list[Path]:
    return [p for p in (server.data / "storage").rglob("*") if p.is_file()]


def test_upload_new_then_already_stored(client: httpx.Client) -> None:
    body = pydicom_file("CT_small.dcm").read_bytes()
    first = client.post("/instances", content=body)
    assert first.status_code == 200
    answer = first.json()
    assert answer["Status"] == "Success"
    assert answer["ID"] == "f689ddd2-662f8fe1-8b18180d-ec2a2cee-937917af"
    assert answer["ParentPatient"] == "fa558bce-587a86d3-ad0da9b3-9d043d9d-4f5c5718"
    assert answer["ParentStudy"] == "8a8cf898-ca27c490-d0c7058c-929d0581-2bbf104d"
    assert answer["ParentSeries"] == "93034833-163e42c3-bc9a428b-194620cf-2c5799e5"
    assert answer["Path"] == f"/instances/{answer['ID']}"

    second = client.post("/instances", content=body)
    assert second.status_code == 200
    assert second.json() == answer | {"Status": "AlreadyStored"}


def test_upload_already_stored_writes_no_file(
    client: httpx.Client, server: ServerProcess
) -> None:
    body = make_dicom()
    client.post("/instances", content=body)
    client.post("/instances", content=body)
    assert len(stored_files(server)) == 1


def test_upload_with_expect_continue(client: httpx.Client) -> None:
    response = client.post(
        "/instances",
        content=pydicom_file("CT_small.dcm").read_bytes(),
        headers={"Expect": "100-continue", "Content-Type": "application/dicom"},
    )
    assert response.status_code == 200
    assert response.json()["Status"] == "Success"


def test_upload_ignores_basic_credentials(client: httpx.Client) -> None:
    response = client.post("/instances", content=make_dicom(), auth=("orthanc", "orthanc"))
    assert response.status_code == 200


def test_upload_gzip_and_deflate_bodies(client: httpx.Client) -> None:
    first, second = make_dicom(), make_dicom()
    gzipped = client.post(
        "/instances", content=gzip.compress(first), headers={"Content-Encoding": "gzip"}
    )
    deflated = client.post(
        "/instances", content=zlib.compress(second), headers={"Content-Encoding": "deflate"}
    )
    assert gzipped.status_code == 200
    assert deflated.status_code == 200
    assert gzipped.json()["Status"] == "Success"
    assert deflated.json()["Status"] == "Success"


def test_upload_zip_stores_dicom_members(client: httpx.Client) -> None:
    buffer = io.BytesIO()
    first, second = make_dicom(), make_dicom()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a/first.dcm", first)
        archive.writestr("readme.txt", b"not DICOM")
        archive.writestr("b/", b"")
        archive.writestr("second.dcm", second)
        archive.writestr("again.dcm", first)
    response = client.post("/instances", content=buffer.getvalue())
    assert response.status_code == 200
    statuses = [item["Status"] for item in response.json()]
    assert statuses == ["Success", "Success", "AlreadyStored"]
    assert len(client.get("/instances").json()) == 2


def test_upload_broken_zip_is_rejected(client: httpx.Client) -> None:
    response = client.post("/instances", content=b"PK\x03\x04" + b"\x00" * 50)
    assert response.status_code == 400
    assert response.json()["OrthancStatus"] == 15


def test_upload_multipart_form(client: httpx.Client) -> None:
    single = client.post("/instances", files={"file": ("a.dcm", make_dicom())})
    assert single.status_code == 200
    assert single.json()["Status"] == "Success"

    several = client.post(
        "/instances",
        files=[("files", ("b.dcm", make_dicom())), ("files", ("c.dcm", make_dicom()))],
    )
    assert several.status_code == 200
    assert [item["Status"] for item in several.json()] == ["Success", "Success"]


def test_upload_rejections_leave_nothing(client: httpx.Client, server: ServerProcess) -> None:
    ct = pydicom_file("CT_small.dcm").read_bytes()
    cases = {
        "empty": (b"", "Received an empty DICOM file"),
        "random": (b"hello, this is not DICOM" * 10, "Cannot parse an invalid DICOM file"),
        "truncated": (ct[: len(ct) - 1000], "truncated"),
        "no UIDs": (make_dicom(sop_uid=""), "SOPInstanceUID"),
        "DICOMDIR": (pydicom_file("DICOMDIR").read_bytes(), "DICOMDIR"),
    }
    for name, (body, message) in cases.items():
        response = client.post("/instances", content=body)
        assert response.status_code == 400, name
        error = response.json()
        assert ORTHANC_ERROR_KEYS <= set(error), name
        assert error["OrthancStatus"] == 15, name
        assert error["Method"] == "POST", name
        assert error["Uri"] == "/instances", name
        assert message in error["Details"], name

    assert client.get("/instances").json() == []
    assert stored_files(server) == []
    assert list((server.data / "staging").iterdir()) == []
