"""GET /changes: paging, Stable* events after the stable age, and deletions."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import ServerProcess, make_dicom


@pytest.fixture
def quick_client(tmp_path: Path) -> Iterator[httpx.Client]:
    """A client of a server whose resources become stable after 1 second."""
    server = ServerProcess(tmp_path / "data", {"ORTHANCLITE_STABLE_AGE": "1"})
    with httpx.Client(base_url=server.url, timeout=60) as http:
        yield http
    server.stop()


def change_types(answer: dict) -> list[str]:
    return [change["ChangeType"] for change in answer["Changes"]]


def test_changes_empty(client: httpx.Client) -> None:
    assert client.get("/changes").json() == {"Changes": [], "Done": True, "Last": 0}


def test_changes_new_instance_order(client: httpx.Client) -> None:
    answer = client.post("/instances", content=make_dicom("CH-1")).json()
    changes = client.get("/changes").json()
    assert change_types(changes) == [
        "NewInstance",
        "NewSeries",
        "NewStudy",
        "NewPatient",
    ]
    assert [c["ID"] for c in changes["Changes"]] == [
        answer["ID"],
        answer["ParentSeries"],
        answer["ParentStudy"],
        answer["ParentPatient"],
    ]
    assert [c["Seq"] for c in changes["Changes"]] == [1, 2, 3, 4]
    assert changes["Changes"][3]["Path"] == f"/patients/{answer['ParentPatient']}"
    assert changes["Changes"][3]["ResourceType"] == "Patient"
    assert len(changes["Changes"][0]["Date"]) == 15
    assert changes["Done"] is True
    assert changes["Last"] == 4


def test_changes_second_instance_of_series(client: httpx.Client) -> None:
    study, series = "1.2.826.0.1.3680043.8.498.5", "1.2.826.0.1.3680043.8.498.5.1"
    client.post(
        "/instances", content=make_dicom("CH", study_uid=study, series_uid=series)
    )
    client.post(
        "/instances", content=make_dicom("CH", study_uid=study, series_uid=series)
    )
    assert change_types(client.get("/changes?since=4&limit=10").json()) == [
        "NewInstance"
    ]


def test_changes_paging(client: httpx.Client) -> None:
    for index in range(3):
        client.post("/instances", content=make_dicom(f"PAGE-{index}"))
    first = client.get("/changes?since=0&limit=5").json()
    assert [c["Seq"] for c in first["Changes"]] == [1, 2, 3, 4, 5]
    assert first["Done"] is False
    assert first["Last"] == 5
    rest = client.get(f"/changes?since={first['Last']}&limit=100").json()
    assert [c["Seq"] for c in rest["Changes"]] == list(range(6, 13))
    assert rest["Done"] is True
    assert rest["Last"] == 12


def test_changes_exact_page_is_done(client: httpx.Client) -> None:
    client.post("/instances", content=make_dicom("EXACT"))
    answer = client.get("/changes?since=0&limit=4").json()
    assert answer["Done"] is True


def test_changes_past_end(client: httpx.Client) -> None:
    client.post("/instances", content=make_dicom("END"))
    assert client.get("/changes?since=50&limit=10").json() == {
        "Changes": [],
        "Done": True,
        "Last": 4,
    }


def test_changes_zero_limit(client: httpx.Client) -> None:
    client.post("/instances", content=make_dicom("ZERO"))
    assert client.get("/changes?limit=0").json() == {
        "Changes": [],
        "Done": False,
        "Last": 4,
    }


def test_changes_last(client: httpx.Client) -> None:
    answer = client.post("/instances", content=make_dicom("LAST")).json()
    last = client.get("/changes?last").json()
    assert change_types(last) == ["NewPatient"]
    assert last["Changes"][0]["ID"] == answer["ParentPatient"]
    assert last["Last"] == 4


@pytest.mark.parametrize("query", ["since=x", "limit=x", "limit=-1"])
def test_changes_rejects_argument(client: httpx.Client, query: str) -> None:
    response = client.get(f"/changes?{query}")
    assert response.status_code == 400
    assert response.json()["OrthancStatus"] == 3


def test_changes_delete_removes_and_logs(client: httpx.Client) -> None:
    kept = client.post("/instances", content=make_dicom("KEEP")).json()
    gone = client.post("/instances", content=make_dicom("GONE")).json()
    client.delete(f"/studies/{gone['ParentStudy']}")
    answer = client.get("/changes").json()
    assert [c["ID"] for c in answer["Changes"]] == [
        kept["ID"],
        kept["ParentSeries"],
        kept["ParentStudy"],
        kept["ParentPatient"],
        gone["ParentStudy"],
    ]
    deleted = answer["Changes"][-1]
    assert deleted["ChangeType"] == "Deleted"
    assert deleted["ResourceType"] == "Study"
    assert deleted["Seq"] == 9
    assert answer["Last"] == 9


def test_changes_stable_events(quick_client: httpx.Client) -> None:
    answer = quick_client.post("/instances", content=make_dicom("STABLE")).json()
    assert (
        quick_client.get(f"/studies/{answer['ParentStudy']}").json()["IsStable"]
        is False
    )
    deadline = time.monotonic() + 10
    types: list[str] = []
    while time.monotonic() < deadline and len(types) < 7:
        time.sleep(0.25)
        types = change_types(quick_client.get("/changes").json())
    assert types[4:] == ["StableSeries", "StableStudy", "StablePatient"]
    assert (
        quick_client.get(f"/studies/{answer['ParentStudy']}").json()["IsStable"] is True
    )


def test_changes_stable_again_after_new_instance(quick_client: httpx.Client) -> None:
    study, series = "1.2.826.0.1.3680043.8.498.6", "1.2.826.0.1.3680043.8.498.6.1"
    body = make_dicom("AGAIN", study_uid=study, series_uid=series)
    quick_client.post("/instances", content=body)
    time.sleep(2.5)
    quick_client.post(
        "/instances", content=make_dicom("AGAIN", study_uid=study, series_uid=series)
    )
    time.sleep(2.5)
    types = change_types(quick_client.get("/changes").json())
    assert types.count("StableSeries") == 2
    assert types.count("StablePatient") == 2


def test_exports_empty(client: httpx.Client) -> None:
    assert client.get("/exports").json() == {"Done": True, "Exports": [], "Last": 0}
