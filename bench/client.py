"""HTTP load generation: concurrent uploads and latency sampling.

The standard library's ``http.client`` is used on purpose: it costs less CPU
per request than the full-featured clients, which matters on a small machine
where the client and the server share the cores.
"""

from __future__ import annotations

import http.client
import json
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TIMEOUT = 600.0
UPLOAD_BLOCK_SIZE = 1 << 20


class Connection:
    """A keep-alive connection that reconnects once when the server closed it.

    Orthanc closes an idle keep-alive connection after one second, so a
    request on a stale connection is retried on a new one.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._connection: http.client.HTTPConnection | None = None

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        for attempt in (1, 2):
            if self._connection is None:
                self._connection = http.client.HTTPConnection(
                    self.host, self.port, timeout=TIMEOUT, blocksize=UPLOAD_BLOCK_SIZE
                )
            try:
                self._connection.request(method, path, body=body, headers=headers or {})
                response = self._connection.getresponse()
                data = response.read()
                if response.will_close:
                    self.close()
                return response.status, data
            except (
                http.client.RemoteDisconnected,
                ConnectionResetError,
                BrokenPipeError,
            ):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


@dataclass(frozen=True, slots=True)
class UploadResult:
    """Outcome of one batch of uploads."""

    instances: int
    bytes: int
    seconds: float
    failures: int
    # One parsed response per file, in file order, or None where the upload failed.
    answers: list[dict[str, Any] | None]

    def as_dict(self) -> dict[str, Any]:
        return {
            "instances": self.instances,
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
            "failures": self.failures,
            "instances_per_second": round(self.instances / self.seconds, 1),
            "megabytes_per_second": round(self.bytes / self.seconds / 1e6, 2),
        }


def upload_all(
    host: str, port: int, files: Sequence[bytes], clients: int
) -> UploadResult:
    """POST every file to ``/instances`` with ``clients`` concurrent connections.

    Files are taken in order from a shared cursor, so the work spreads evenly.
    The time runs from the first request to the last response.
    """
    cursor = iter(range(len(files)))
    lock = threading.Lock()
    answers: list[dict[str, Any] | None] = [None] * len(files)
    failures = [0]
    start_barrier = threading.Barrier(clients + 1)

    def work() -> None:
        connection = Connection(host, port)
        headers = {"Content-Type": "application/dicom"}
        start_barrier.wait()
        try:
            while True:
                with lock:
                    index = next(cursor, None)
                if index is None:
                    return
                status, body = connection.request(
                    "POST", "/instances", files[index], headers
                )
                if status == 200:
                    answers[index] = json.loads(body)
                else:
                    with lock:
                        failures[0] += 1
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(clients)]
    for thread in threads:
        thread.start()
    start_barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return UploadResult(
        instances=len(files),
        bytes=sum(len(data) for data in files),
        seconds=elapsed,
        failures=failures[0],
        answers=answers,
    )


def upload_file(host: str, port: int, path: Path) -> tuple[int, float]:
    """Stream one file from disk to ``/instances``; return the status and seconds."""
    connection = http.client.HTTPConnection(
        host, port, timeout=TIMEOUT, blocksize=UPLOAD_BLOCK_SIZE
    )
    size = path.stat().st_size
    started = time.perf_counter()
    try:
        with open(path, "rb") as body:
            connection.request(
                "POST",
                "/instances",
                body=body,
                headers={
                    "Content-Type": "application/dicom",
                    "Content-Length": str(size),
                },
            )
            response = connection.getresponse()
            response.read()
    finally:
        connection.close()
    return response.status, time.perf_counter() - started


@dataclass(frozen=True, slots=True)
class Probe:
    """One request to time: method, path and body."""

    method: str
    path: str
    body: bytes | None = None


def measure_latency(
    host: str,
    port: int,
    probes: Callable[[int], Probe],
    samples: int,
    warmup: int = 5,
) -> dict[str, Any]:
    """Time ``samples`` requests built by ``probes(i)``, one at a time.

    A route that the server does not serve (any non-2xx status on the first
    request) is reported as not available, with that status.
    """
    connection = Connection(host, port)
    try:
        first = probes(0)
        status, body = connection.request(first.method, first.path, first.body)
        if not 200 <= status < 300:
            return {"available": False, "status": status, "details": _details(body)}
        for index in range(1, warmup):
            probe = probes(index)
            connection.request(probe.method, probe.path, probe.body)
        durations = []
        errors = 0
        for index in range(samples):
            probe = probes(index)
            started = time.perf_counter()
            status, _ = connection.request(probe.method, probe.path, probe.body)
            durations.append(time.perf_counter() - started)
            if not 200 <= status < 300:
                errors += 1
    finally:
        connection.close()
    summary = latency_summary(durations)
    return {"available": True, "errors": errors, **summary}


def latency_summary(durations: Sequence[float]) -> dict[str, Any]:
    """Median and 95th percentile of ``durations`` (seconds), in milliseconds."""
    ordered = sorted(durations)
    p95_index = max(0, round(0.95 * len(ordered)) - 1)
    return {
        "samples": len(ordered),
        "median_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[p95_index] * 1000, 2),
    }


def get_json(host: str, port: int, path: str) -> Any:
    connection = Connection(host, port)
    try:
        status, body = connection.request("GET", path)
    finally:
        connection.close()
    if status != 200:
        raise RuntimeError(f"GET {path} failed with HTTP {status}: {_details(body)}")
    return json.loads(body)


def _details(body: bytes) -> str:
    try:
        answer = json.loads(body)
    except ValueError:
        return body[:200].decode("utf-8", "replace")
    if isinstance(answer, dict):
        return str(answer.get("Details") or answer.get("Message") or answer)[:200]
    return str(answer)[:200]
