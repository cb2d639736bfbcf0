"""Several worker processes on one data folder: shared state, crashes, races."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.helpers import ServerProcess, make_dicom
from tests.reliability_helpers import run_check_command

WORKERS = 3


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(
        tmp_path / "data", extra_args=["--workers", str(WORKERS), "--stable-age", "1"]
    )
    yield process
    process.stop()


def wait_for(condition, timeout: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def is_running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_workers_start_and_stop(server: ServerProcess) -> None:
    pids = server.pids()
    assert len(pids) == WORKERS + 1
    server.stop()
    assert server.process.returncode == 0
    assert not any(is_running(pid) for pid in pids)


def test_default_encoding_seen_by_every_worker(server: ServerProcess) -> None:
    response = httpx.put(f"{server.url}/tools/default-encoding", content="Utf8")
    assert response.status_code == 200
    # A new connection per request lands on any worker.
    answers = {httpx.get(f"{server.url}/tools/default-encoding").text for _ in range(30)}
    assert answers == {"Utf8"}

    body = make_dicom(PatientName="Jos\u00e9".encode().decode("latin_1"))
    stored = httpx.post(f"{server.url}/instances", content=body).json()
    name = httpx.get(f"{server.url}/instances/{stored['ID']}/simplified-tags").json()
    assert name["PatientName"] == "Jos\u00e9"


def test_killed_workers_are_replaced(server: ServerProcess) -> None:
    # Kills in quick succession, of workers that have served, are not
    # mistaken for workers failing at start-up.
    for _ in range(WORKERS + 1):
        assert httpx.get(f"{server.url}/system").status_code == 200
        worker = server.pids()[1]
        os.kill(worker, signal.SIGKILL)
        assert wait_for(lambda: worker not in server.pids())
        assert wait_for(lambda: len(server.pids()) == WORKERS + 1)
        time.sleep(0.3)
    for _ in range(10):
        response = httpx.post(f"{server.url}/instances", content=make_dicom())
        assert response.status_code == 200
    assert "exited with status -9; starting another" in server.log()


def test_killed_server_takes_its_workers(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url) as client:
        assert client.post("/instances", content=make_dicom()).status_code == 200
    pids = server.pids()
    server.stop(signal.SIGKILL)
    assert wait_for(lambda: not any(is_running(pid) for pid in pids))
    assert run_check_command(server.data).returncode == 0


def test_parallel_uploads_across_workers(server: ServerProcess) -> None:
    study = "1.2.826.0.1.3680043.10.1483.77"
    series = f"{study}.1"
    bodies = [make_dicom("RACE", study, series, f"{series}.{n}") for n in range(120)]
    # Every body twice: the second upload of each must find the first.
    bodies += bodies

    def upload(body: bytes) -> str:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            response = client.post("/instances", content=body)
            assert response.status_code == 200, response.text
            return response.json()["Status"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(upload, bodies))
    assert statuses.count("Success") == 120
    assert statuses.count("AlreadyStored") == 120
    statistics = httpx.get(f"{server.url}/statistics").json()
    assert statistics["CountInstances"] == 120
    assert statistics["CountSeries"] == 1
    server.stop()
    assert run_check_command(server.data).returncode == 0


def test_stable_changes_logged_once(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url) as client:
        for _ in range(5):
            client.post("/instances", content=make_dicom("STABLE", "1.2.3.9", "1.2.3.9.1"))

        def logged() -> list[str]:
            changes = client.get("/changes", params={"limit": 100}).json()["Changes"]
            return [change["ChangeType"] for change in changes]

        assert wait_for(lambda: "StablePatient" in logged())
        time.sleep(3)
        types = logged()
    assert types.count("StableSeries") == 1
    assert types.count("StableStudy") == 1
    assert types.count("StablePatient") == 1


def test_second_server_on_same_folder_refused(server: ServerProcess) -> None:
    with pytest.raises(RuntimeError, match="Another server is using the data folder"):
        ServerProcess(server.data, extra_args=["--workers", "1"])
    assert httpx.get(f"{server.url}/system").status_code == 200


def test_restart_right_after_kill(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url) as client:
        stored = client.post("/instances", content=make_dicom()).json()["ID"]
    server.stop(signal.SIGKILL)
    restarted = ServerProcess(server.data, extra_args=["--workers", "2"])
    try:
        assert httpx.get(f"{restarted.url}/instances/{stored}").status_code == 200
    finally:
        restarted.stop()


def test_check_refused_while_server_runs(server: ServerProcess) -> None:
    completed = run_check_command(server.data, "--repair")
    assert completed.returncode == 2
    assert "A server is using" in completed.stdout
