"""Tests of the benchmark harness over real HTTP: client, runner and report."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.cli import main
from bench.client import Probe, latency_summary, measure_latency, upload_all
from bench.corpus import CorpusSpec, generate_corpus
from bench.profiling import py_spy_binary, summarise
from bench.report import END_MARKER, START_MARKER, write_markdown
from bench.servers import orthanc_available, process_tree
from tests.helpers import ServerProcess, make_dicom


def address(server: ServerProcess) -> tuple[str, int]:
    return "127.0.0.1", server.port


def test_latency_summary_percentiles() -> None:
    summary = latency_summary([0.001 * value for value in range(1, 101)])
    assert summary["samples"] == 100
    assert summary["median_ms"] == 50.5
    assert summary["p95_ms"] == 95.0


def test_upload_all_four_clients(server: ServerProcess) -> None:
    files = [make_dicom(patient_id=f"P{index}") for index in range(12)]
    result = upload_all(*address(server), files, clients=4)
    assert result.failures == 0
    assert result.instances == 12
    assert all(answer and answer["Status"] == "Success" for answer in result.answers)


def test_upload_all_answers_in_file_order(server: ServerProcess) -> None:
    files = [item.data for item in generate_corpus(CorpusSpec(1, 1, 1, 3))]
    first = upload_all(*address(server), files, clients=2)
    again = upload_all(*address(server), files, clients=1)
    assert [answer["ID"] for answer in first.answers] == [
        answer["ID"] for answer in again.answers
    ]
    assert {answer["Status"] for answer in again.answers} == {"AlreadyStored"}


def test_latency_served_route(server: ServerProcess) -> None:
    answer = upload_all(*address(server), [make_dicom()], clients=1).answers[0]
    assert answer is not None
    path = f"/instances/{answer['ID']}"
    result = measure_latency(
        *address(server), lambda index: Probe("GET", path), samples=10
    )
    assert result["available"] is True
    assert result["samples"] == 10
    assert result["errors"] == 0


def test_latency_missing_route(server: ServerProcess) -> None:
    result = measure_latency(
        *address(server), lambda index: Probe("GET", "/no-such-route"), samples=10
    )
    assert result["available"] is False
    assert result["status"] == 404


def test_process_tree_includes_child() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert child.pid in process_tree(subprocess.os.getpid())
    finally:
        child.kill()
        child.wait()


def sample_results() -> dict:
    """Results of a run reduced to one ingest measure."""
    ingest = {
        "orthanclite": {"instances_per_second": 100.0, "megabytes_per_second": 30.0},
        "orthanc": {"instances_per_second": 50.0, "megabytes_per_second": 15.0},
    }
    return {
        "servers": ["orthanclite", "orthanc"],
        "versions": {"orthanclite": "0.1.0", "orthanc": "1.10.1"},
        "started": "2026-01-01 00:00",
        "duration_seconds": 1.0,
        "command": "python -m bench",
        "machine": {
            "cpu_model": "CPU",
            "cpu_cores": 2,
            "memory_bytes": 1 << 30,
            "disk": {"device": "/dev/sda", "type": "ext4", "total_bytes": 1 << 30},
            "kernel": "6.1",
            "python": "3.11",
            "packages": {},
        },
        "corpus": {
            "instances": 1,
            "bytes": 1000,
            "patients": 1,
            "studies": 1,
            "series": 1,
            "kinds": {"CT": {"instances": 1, "bytes": 1000}},
        },
        "scenarios": {"ingest": {"empty": {"1": ingest}, "filled": {}}},
    }


def test_markdown_keeps_text_around_markers(tmp_path: Path) -> None:
    page = tmp_path / "benchmarks.md"
    page.write_text(
        f"# Title\n\nintro\n\n{START_MARKER}\nold\n{END_MARKER}\n\n## Analysis\n"
    )
    write_markdown(page, sample_results())
    text = page.read_text()
    assert text.startswith("# Title\n\nintro\n\n")
    assert text.endswith(f"{END_MARKER}\n\n## Analysis\n")
    assert "old" not in text
    assert "| empty, 1 client(s): instances/s | 100.0 | 50.0 | 2.00 |" in text


def test_profile_summary_sets_idle_apart() -> None:
    lines = [
        "main (app.py:1);parse (orthanclite/dicom/parsing.py:9) 3",
        "main (app.py:1);store (orthanclite/context.py:5) 1",
        "WorkerThread.run (anyio/_backends/_asyncio.py:9);"
        "Condition.wait (threading.py:3) 6",
    ]
    summary = summarise(lines)
    assert "4 busy samples" in summary
    assert "6  worker thread waiting for work" in summary
    assert "75.0 %  parse (orthanclite/dicom/parsing.py)" in summary


def test_run_end_to_end(tmp_path: Path) -> None:
    output = tmp_path / "docs" / "benchmarks.md"
    arguments = [
        "--patients", "1", "--studies", "1", "--series", "4", "--instances", "3",
        "--small-archive", "40", "--fill", "120", "--samples", "5",
        "--large-upload-mb", "4", "--output", str(output), "--workdir", str(tmp_path),
    ]  # fmt: skip
    started = time.monotonic()
    assert main(arguments) == 0
    results = json.loads(output.with_suffix(".json").read_text())
    expected_servers = (
        ["orthanclite", "orthanc"] if orthanc_available() else ["orthanclite"]
    )
    assert results["servers"] == expected_servers
    assert set(results["scenarios"]) == {
        "ingest", "resources", "find", "memory", "archive", "large_upload",
    }  # fmt: skip
    empty_4 = results["scenarios"]["ingest"]["empty"]["4"]["orthanclite"]
    assert empty_4["failures"] == 0
    assert empty_4["server_cpu_seconds"] > 0
    assert results["scenarios"]["ingest"]["filled"]["instances_before"] == 120
    assert results["scenarios"]["large_upload"]["orthanclite"]["status"] == 200
    assert results["scenarios"]["archive"]["available"] is False
    assert results["scenarios"]["memory"]["idle"]["orthanclite"] > 10_000_000
    assert results["duration_seconds"] <= time.monotonic() - started + 1
    assert START_MARKER in output.read_text()
    assert [
        path.name
        for path in tmp_path.iterdir()
        if path.name.startswith("orthanclite-bench")
    ] == []


def test_profile_writes_summaries(tmp_path: Path) -> None:
    try:
        py_spy_binary()
    except SystemExit:
        pytest.skip("py-spy is not installed")
    arguments = [
        "--profile", "--patients", "1", "--studies", "1", "--series", "2",
        "--instances", "5", "--output", str(tmp_path / "benchmarks.md"),
        "--workdir", str(tmp_path),
    ]  # fmt: skip
    assert main(arguments) == 0
    for clients in (1, 4):
        text = (tmp_path / f"profile-upload-{clients}-clients.txt").read_text()
        assert "busy samples" in text


def test_expect_continue_answered_promptly(server: ServerProcess) -> None:
    """curl sends ``Expect: 100-continue`` for large bodies and waits up to
    1 s for the interim response, so a server that never sends it adds that
    delay to every upload."""
    body = next(generate_corpus(CorpusSpec(1, 1, 1, 1))).data
    head = (
        "POST /instances HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{server.port}\r\n"
        "Content-Type: application/dicom\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Expect: 100-continue\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(head)
        interim = sock.recv(1024)
        waited = time.monotonic() - started
        sock.sendall(body)
        final = b""
        while b"\r\n\r\n" not in final:
            final += sock.recv(4096)
    assert interim.startswith(b"HTTP/1.1 100")
    assert waited < 0.5
    assert final.startswith(b"HTTP/1.1 200")
