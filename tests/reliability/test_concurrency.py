"""Concurrent uploads of overlapping studies, and deletes racing uploads."""

from __future__ import annotations

import random
import threading
from collections import Counter
from pathlib import Path

import httpx
from pydicom.uid import generate_uid

from orthanclite.dicom.identifiers import ResourceIds
from tests.helpers import ServerProcess
from tests.reliability_helpers import check_problems, storage_files, study_files

CLIENTS = 16


def run_clients(count: int, work) -> None:  # type: ignore[no-untyped-def]
    """Run ``work(index)`` in ``count`` threads that start together."""
    barrier = threading.Barrier(count)

    def start(index: int) -> None:
        barrier.wait()
        work(index)

    threads = [threading.Thread(target=start, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)


def test_overlapping_uploads_store_once(
    server: ServerProcess, client: httpx.Client
) -> None:
    files = study_files(8, "RACE") + study_files(8, "RACE")
    answers: list[tuple[int, dict | str]] = []
    lock = threading.Lock()

    def upload_all(index: int) -> None:
        order = list(files)
        random.Random(index).shuffle(order)
        with httpx.Client(base_url=server.url, timeout=120) as http:
            for body in order:
                response = http.post("/instances", content=body)
                answer = (
                    response.json() if response.status_code == 200 else response.text
                )
                with lock:
                    answers.append((response.status_code, answer))

    run_clients(CLIENTS, upload_all)

    statuses = Counter(status for status, _ in answers)
    assert statuses == {200: CLIENTS * len(files)}
    outcomes = Counter((answer["ID"], answer["Status"]) for _, answer in answers)
    successes = Counter(
        instance for instance, status in outcomes if status == "Success"
    )
    assert len(successes) == len(files)
    assert all(outcomes[(instance, "Success")] == 1 for instance in successes)
    stats = client.get("/statistics").json()
    assert stats["CountInstances"] == len(files)
    assert stats["CountSeries"] == 4
    assert stats["CountStudies"] == 2
    assert stats["CountPatients"] == 1
    assert len(storage_files(server.data)) == len(files)
    assert check_problems(server.data) == []
    assert "locked" not in server.log()


def test_deletes_racing_uploads(server: ServerProcess, client: httpx.Client) -> None:
    study_uid = generate_uid()
    files = study_files(24, "DELRACE", study_uid)
    study_id = ResourceIds.compute("DELRACE", study_uid, "x", "y").study
    statuses: list[tuple[str, int]] = []
    lock = threading.Lock()
    deleters = 4

    def work(index: int) -> None:
        with httpx.Client(base_url=server.url, timeout=120) as http:
            for _ in range(3):
                if index < deleters:
                    for _ in range(6):
                        response = http.delete(f"/studies/{study_id}")
                        with lock:
                            statuses.append(("DELETE", response.status_code))
                else:
                    for body in files[index % 4 :: 4]:
                        response = http.post("/instances", content=body)
                        with lock:
                            statuses.append(("POST", response.status_code))

    run_clients(CLIENTS, work)

    assert {status for method, status in statuses if method == "POST"} == {200}
    assert {status for method, status in statuses if method == "DELETE"} <= {200, 404}
    stats = client.get("/statistics").json()
    assert len(storage_files(server.data)) == stats["CountInstances"]
    assert stats["CountStudies"] <= 1
    assert check_problems(server.data) == []
    assert "locked" not in server.log()


def test_statistics_after_race_match_index(
    server: ServerProcess, client: httpx.Client
) -> None:
    # The same files again after a delete: every one is new, none duplicated.
    files = study_files(6, "AGAIN")
    for body in files:
        assert client.post("/instances", content=body).status_code == 200
    study = client.get("/studies").json()[0]
    assert client.delete(f"/studies/{study}").status_code == 200

    answers: list[str] = []
    lock = threading.Lock()

    def upload(index: int) -> None:
        with httpx.Client(base_url=server.url, timeout=120) as http:
            for body in files:
                status = http.post("/instances", content=body).json()["Status"]
                with lock:
                    answers.append(status)

    run_clients(8, upload)
    assert Counter(answers) == {"Success": 6, "AlreadyStored": 42}
    assert len(storage_files(Path(server.data))) == 6
