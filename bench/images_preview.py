"""Measure GET /instances/{id}/preview latency on orthanclite and on Orthanc.

Inputs are built from pydicom's test files: a 512x512 16-bit CT
(``693_UNCR.dcm``) and a 4-frame 640x480 RGB ultrasound made from
``US1_UNCR.dcm``. Each server gets both files; then one keep-alive client
sends ``--requests`` sequential previews of each after a few warm-up ones.

Usage::

    python bench/images_preview.py [--orthanc URL] [--requests N]

Without ``--orthanc`` only orthanclite is measured. orthanclite is started
on a free loopback port with a temporary data folder.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pydicom
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers import ServerProcess  # noqa: E402

WARM_UP = 5


def ct_512() -> bytes:
    return Path(get_testdata_file("693_UNCR.dcm", download=False)).read_bytes()


def color_us_4_frames() -> bytes:
    """Build a 4-frame RGB ultrasound from the single frame of US1_UNCR.dcm."""
    dataset = pydicom.dcmread(get_testdata_file("US1_UNCR.dcm", download=False))
    frame = dataset.pixel_array
    frames = np.stack([np.roll(frame, shift * 40, axis=1) for shift in range(4)])
    dataset.set_pixel_data(frames, "RGB", 8)
    dataset.SOPClassUID = "1.2.840.10008.5.1.4.1.1.3.1"
    dataset.SOPInstanceUID = generate_uid()
    dataset.file_meta.MediaStorageSOPClassUID = dataset.SOPClassUID
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def with_new_uid(body: bytes) -> bytes:
    dataset = pydicom.dcmread(io.BytesIO(body))
    dataset.SOPInstanceUID = generate_uid()
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def summary(latencies: list[float]) -> tuple[float, float]:
    """Return the median and the p95 of latencies."""
    latencies = sorted(latencies)
    return statistics.median(latencies), latencies[int(0.95 * (len(latencies) - 1))]


def timed_get(client: httpx.Client, path: str) -> float:
    started = time.perf_counter()
    client.get(path).raise_for_status()
    return (time.perf_counter() - started) * 1000


def measure(
    url: str, body: bytes, requests: int, copies: int
) -> dict[str, tuple[float, float]]:
    """Time previews of one instance again and again, and of fresh copies once each."""
    with httpx.Client(
        base_url=url, timeout=60, headers={"Accept-Encoding": "identity"}
    ) as client:
        instance = client.post("/instances", content=body).json()["ID"]
        for _ in range(WARM_UP):
            client.get(f"/instances/{instance}/preview").raise_for_status()
        repeated = [
            timed_get(client, f"/instances/{instance}/preview") for _ in range(requests)
        ]
        fresh = [
            client.post("/instances", content=with_new_uid(body)).json()["ID"]
            for _ in range(copies)
        ]
        first = [timed_get(client, f"/instances/{copy}/preview") for copy in fresh]
    return {"repeated": summary(repeated), "first": summary(first)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orthanc", help="URL of a running Orthanc to compare with")
    parser.add_argument("--requests", type=int, default=200, help="previews per file")
    parser.add_argument(
        "--copies", type=int, default=20, help="copies of each file previewed once each"
    )
    arguments = parser.parse_args()

    inputs = {
        "CT 512x512 16-bit": ct_512(),
        "US 4 frames 640x480 RGB": color_us_4_frames(),
    }
    targets: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as folder:
        server = ServerProcess(
            Path(folder) / "data", {"ORTHANCLITE_LOG_LEVEL": "WARNING"}
        )
        try:
            targets["orthanclite"] = server.url
            if arguments.orthanc:
                targets["Orthanc"] = arguments.orthanc
            load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
            print(
                f"{platform.machine()}, {os.cpu_count()} CPUs, load average {load}, "
                f"Python {platform.python_version()}"
            )
            print("| server | input | requests | median ms | p95 ms |")
            print("| --- | --- | --- | --- | --- |")
            for name, url in targets.items():
                for label, body in inputs.items():
                    results = measure(url, body, arguments.requests, arguments.copies)
                    for kind, (median, p95) in results.items():
                        print(
                            f"| {name} | {label} | {kind} | {median:.2f} | {p95:.2f} |"
                        )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
