"""Small tools and per-resource routes: labels, protection, statistics, UIDs."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.helpers import ServerProcess, make_dicom


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """A client of one server shared by the tests that need no empty archive."""
    server = ServerProcess(tmp_path_factory.mktemp("tools") / "data")
    with httpx.Client(base_url=server.url, timeout=60) as http:
        yield http
    server.stop()


def upload(client: httpx.Client, patient_id: str = "TOOLS", **elements: object) -> dict:
    return client.post("/instances", content=make_dicom(patient_id, **elements)).json()


def test_tools_list(shared: httpx.Client) -> None:
    names = shared.get("/tools").json()
    for name in (
        "bulk-delete",
        "find",
        "generate-uid",
        "labels",
        "lookup",
        "now",
        "now-local",
    ):
        assert name in names


@pytest.mark.parametrize("route", ["/tools/now", "/tools/now-local"])
def test_tools_now(shared: httpx.Client, route: str) -> None:
    response = shared.get(route)
    assert response.headers["content-type"] == "text/plain"
    assert re.fullmatch(r"\d{8}T\d{6}", response.text)


def test_generate_uid_patient(shared: httpx.Client) -> None:
    text = shared.get("/tools/generate-uid?level=patient").text
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", text
    )


@pytest.mark.parametrize(
    ("level", "root"), [("study", "2"), ("series", "3"), ("instance", "4")]
)
def test_generate_uid_dicom(shared: httpx.Client, level: str, root: str) -> None:
    text = shared.get(f"/tools/generate-uid?level={level}").text
    assert text.startswith(f"1.2.276.0.7230010.3.1.{root}.")
    assert len(text) <= 64


@pytest.mark.parametrize("query", ["?level=Study", "?level=foo", ""])
def test_generate_uid_rejects_level(shared: httpx.Client, query: str) -> None:
    response = shared.get(f"/tools/generate-uid{query}")
    assert response.status_code == 404
    assert response.content == b""


def test_protected_roundtrip(shared: httpx.Client) -> None:
    patient = upload(shared, "PROT-1")["ParentPatient"]
    assert shared.get(f"/patients/{patient}/protected").text == "0"
    assert shared.put(f"/patients/{patient}/protected", content=b"1").status_code == 200
    assert shared.get(f"/patients/{patient}/protected").text == "1"
    shared.put(f"/patients/{patient}/protected", content=b"0")
    assert shared.get(f"/patients/{patient}/protected").text == "0"


def test_protected_rejects_value(shared: httpx.Client) -> None:
    patient = upload(shared, "PROT-2")["ParentPatient"]
    response = shared.put(f"/patients/{patient}/protected", content=b"maybe")
    assert response.status_code == 400
    assert response.json()["OrthancStatus"] == 15


def test_protected_unknown_patient(shared: httpx.Client) -> None:
    response = shared.get("/patients/nope/protected")
    assert response.status_code == 400
    assert response.json()["OrthancStatus"] == 3


def test_resource_statistics(shared: httpx.Client) -> None:
    study, series = "1.2.826.0.1.3680043.8.498.7", "1.2.826.0.1.3680043.8.498.7.1"
    first = upload(shared, "STATS", study_uid=study, series_uid=series)
    upload(shared, "STATS", study_uid=study, series_uid=series)
    second = shared.get(f"/series/{first['ParentSeries']}").json()["Instances"]
    size = sum(shared.get(f"/instances/{i}").json()["FileSize"] for i in second)
    patient = shared.get(f"/patients/{first['ParentPatient']}/statistics").json()
    assert patient["CountStudies"] == 1
    assert patient["CountSeries"] == 1
    assert patient["CountInstances"] == 2
    assert patient["DiskSize"] == str(size)
    assert patient["DicomUncompressedSizeMB"] == 0
    instance = shared.get(f"/instances/{first['ID']}/statistics").json()
    assert "CountInstances" not in instance
    assert shared.get("/series/nope/statistics").status_code == 404


def test_global_statistics(client: httpx.Client) -> None:
    upload(client)
    answer = client.get("/statistics").json()
    assert answer["CountInstances"] == 1
    assert answer["CountPatients"] == 1


def test_labels_roundtrip(client: httpx.Client) -> None:
    study = upload(client)["ParentStudy"]
    assert client.put(f"/studies/{study}/labels/urgent").status_code == 200
    client.put(f"/studies/{study}/labels/urgent")
    client.put(f"/studies/{study}/labels/ai-done")
    assert client.get(f"/studies/{study}/labels").json() == ["ai-done", "urgent"]
    assert client.get("/tools/labels").json() == ["ai-done", "urgent"]
    assert client.delete(f"/studies/{study}/labels/urgent").status_code == 200
    assert client.get(f"/studies/{study}/labels").json() == ["ai-done"]


def test_labels_reject_invalid(shared: httpx.Client) -> None:
    study = upload(shared, "LBL-BAD")["ParentStudy"]
    response = shared.put(f"/studies/{study}/labels/not%20valid")
    assert response.status_code == 400


def test_labels_unknown_resource(shared: httpx.Client) -> None:
    assert shared.put("/series/nope/labels/x").status_code == 404


def test_labels_go_with_resource(client: httpx.Client) -> None:
    answer = upload(client)
    client.put(f"/instances/{answer['ID']}/labels/gone")
    client.delete(f"/patients/{answer['ParentPatient']}")
    assert client.get("/tools/labels").json() == []


def test_find_by_labels(client: httpx.Client) -> None:
    a = upload(client, "LA")["ParentStudy"]
    b = upload(client, "LB")["ParentStudy"]
    c = upload(client, "LC")["ParentStudy"]
    client.put(f"/studies/{a}/labels/red")
    client.put(f"/studies/{a}/labels/blue")
    client.put(f"/studies/{b}/labels/red")

    def find(**options: object) -> list[str]:
        body = {"Level": "Study", "Query": {}, **options}
        return client.post("/tools/find", json=body).json()

    assert find(Labels=["red", "blue"]) == [a]
    assert find(Labels=["red", "blue"], LabelsConstraint="Any") == [a, b]
    assert find(Labels=["red"], LabelsConstraint="None") == [c]
    assert find(Labels=["blue"], Query={"PatientID": "LB"}) == []


def test_bulk_delete(client: httpx.Client) -> None:
    a = upload(client, "BD-1")
    b = upload(client, "BD-2")
    kept = upload(client, "BD-3")
    response = client.post(
        "/tools/bulk-delete",
        json={"Resources": [a["ParentPatient"], b["ID"], "unknown-id"]},
    )
    assert response.status_code == 200
    assert client.get("/patients").json() == [kept["ParentPatient"]]


def test_bulk_delete_rejects_body(shared: httpx.Client) -> None:
    response = shared.post("/tools/bulk-delete", json={"Resources": "x"})
    assert response.status_code == 400


def test_ordered_slices_by_position(shared: httpx.Client) -> None:
    study, series = "1.2.826.0.1.3680043.8.498.8", "1.2.826.0.1.3680043.8.498.8.1"
    ids = {}
    for z in (10, -5, 0):
        ids[z] = upload(
            shared,
            study_uid=study,
            series_uid=series,
            ImagePositionPatient=[0, 0, z],
            ImageOrientationPatient=[1, 0, 0, 0, 1, 0],
        )
    answer = shared.get(f"/series/{ids[0]['ParentSeries']}/ordered-slices").json()
    order = [ids[z]["ID"] for z in (-5, 0, 10)]
    assert answer["Dicom"] == [f"/instances/{i}/file" for i in order]
    assert answer["Slices"] == [f"/instances/{i}/frames/0" for i in order]
    assert answer["SlicesShort"] == [[i, 0, 1] for i in order]


def test_ordered_slices_by_number(shared: httpx.Client) -> None:
    study, series = "1.2.826.0.1.3680043.8.498.9", "1.2.826.0.1.3680043.8.498.9.1"
    ids = {
        n: upload(shared, study_uid=study, series_uid=series, InstanceNumber=n)
        for n in (3, 1, 2)
    }
    answer = shared.get(f"/series/{ids[1]['ParentSeries']}/ordered-slices").json()
    assert answer["Type"] == "Sequence"
    assert answer["SlicesShort"] == [[ids[n]["ID"], 0, 1] for n in (1, 2, 3)]


def test_system_reports_labels_version(shared: httpx.Client) -> None:
    answer = shared.get("/system").json()
    assert answer["Version"] == "1.12.0"
    assert answer["ApiVersion"] == 20
