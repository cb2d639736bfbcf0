"""Measure archive downloads: throughput, time to first byte and server peak RSS.

The script builds a synthetic study: one series of CT-like instances whose
pixels are 12-bit noise. It uploads the study over HTTP to a fresh orthanclite
server that it starts, and to a running Orthanc when ``--orthanc`` is given.
Then it downloads ``/studies/{id}/archive`` (and ``/media``) from each server
while it samples the server's memory (PSS of its processes, in /proc) every 20 ms.

Run from the repository root, for example::

    python bench/archive_memory.py --count 2200 --size 512 \\
        --orthanc http://127.0.0.1:18063 \\
        --orthanc-pid $(cat /tmp/archive-orthanc/orthanc.pid)

The server and the client share the machine, so the numbers include the
client's own CPU use.

``--writer-only`` skips the servers: it writes ``--count`` small files to a
temporary folder and streams them through the ZIP writer in this process,
which measures an archive of 70,000 members (ZIP64) without uploading them.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import io
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.servers import memory_of, process_tree  # noqa: E402
from tests.helpers import ServerProcess  # noqa: E402

MB = 1024 * 1024


def build_instance(
    study_uid: str, series_uid: str, number: int, pixels: bytes
) -> bytes:
    """Build one CT-like instance whose pixel data differs in its first bytes."""
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.PatientID = "BENCH-1"
    ds.PatientName = "Bench^Archive"
    ds.AccessionNumber = "BENCH"
    ds.StudyDescription = "Synthetic archive benchmark"
    ds.Modality = "CT"
    ds.SeriesDescription = "Noise"
    ds.InstanceNumber = number
    side = int((len(pixels) // 2) ** 0.5)
    ds.Rows = ds.Columns = side
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = number.to_bytes(4, "little") + pixels[4 : side * side * 2]
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def upload_study(
    url: str, count: int, size_kib: int, workers: int = 4
) -> tuple[str, int]:
    """Upload a synthetic study; return its Orthanc ID and its size in bytes."""
    rng = np.random.default_rng(1)
    side = int((size_kib * 1024 // 2) ** 0.5)
    pixels = rng.integers(0, 4096, size=side * side, dtype=np.uint16).tobytes()
    study_uid, series_uid = generate_uid(), generate_uid()
    total = 0
    lock = threading.Lock()
    study_id = ""

    def send(number: int) -> None:
        nonlocal total, study_id
        body = build_instance(study_uid, series_uid, number, pixels)
        with httpx.Client(base_url=url, timeout=120) as client:
            answer = client.post("/instances", content=body).raise_for_status().json()
        with lock:
            total += len(body)
            study_id = answer["ParentStudy"]

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for future in pool.map(send, range(count)):
            del future
    return study_id, total


class RssSampler(threading.Thread):
    """Samples the memory of a process and its workers until stopped."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.peak_kib = 0
        self.start_kib = read_rss_kib(pid)
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.peak_kib = max(self.peak_kib, read_rss_kib(self.pid))
            time.sleep(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def read_rss_kib(pid: int) -> int:
    """Return the memory of a process and its descendants (worker processes), in KiB."""
    return sum(memory_of(child) for child in process_tree(pid)) // 1024


def download(url: str, path: str, pid: int) -> dict[str, float]:
    """Download one archive; return its size, timings and the server's RSS."""
    sampler = RssSampler(pid)
    sampler.start()
    started = time.monotonic()
    first_byte = 0.0
    received = 0
    with httpx.Client(base_url=url, timeout=600) as client:
        headers = {"Accept-Encoding": "identity"}
        with client.stream("GET", path, headers=headers) as response:
            response.raise_for_status()
            for chunk in response.iter_raw(1 << 20):
                if not first_byte:
                    first_byte = time.monotonic() - started
                received += len(chunk)
    elapsed = time.monotonic() - started
    sampler.stop()
    return {
        "zip_mb": round(received / MB, 1),
        "seconds": round(elapsed, 2),
        "first_byte_ms": round(first_byte * 1000, 1),
        "rss_before_mb": round(sampler.start_kib / 1024, 1),
        "rss_peak_mb": round(sampler.peak_kib / 1024, 1),
    }


def measure(
    name: str, url: str, pid: int, count: int, size_kib: int, media: bool
) -> None:
    started = time.monotonic()
    study, total = upload_study(url, count, size_kib)
    upload_seconds = time.monotonic() - started
    routes = ["archive", "media"] if media else ["archive"]
    for route in routes:
        result = download(url, f"/studies/{study}/{route}", pid)
        result["dicom_mb"] = round(total / MB, 1)
        result["throughput_mb_s"] = round(total / MB / result["seconds"], 1)
        result["instances"] = count
        result["upload_seconds"] = round(upload_seconds, 1)
        print(json.dumps({"server": name, "route": route, **result}), flush=True)


def measure_writer(count: int, size_kib: int, compression: str) -> None:
    """Stream ``count`` files through the ZIP writer; print time and peak RSS."""
    import zipfile

    from orthanclite.archive.zip import ZipMember, stream_zip

    with tempfile.TemporaryDirectory(prefix="archive-writer-") as folder:
        body = build_instance(generate_uid(), generate_uid(), 0, bytes(size_kib * 1024))
        members = []
        for number in range(count):
            path = Path(folder) / f"{number:06d}.dcm"
            path.write_bytes(body)
            members.append(ZipMember(f"P/S/CT/CT{number:06d}.dcm", path, len(body)))
        rss_before = read_rss_kib(os.getpid())
        sampler = RssSampler(os.getpid())
        sampler.start()
        started = time.monotonic()
        output = Path(folder) / "archive.zip"
        with open(output, "wb") as sink:
            for chunk in stream_zip(members, compression=compression):
                sink.write(chunk)
        elapsed = time.monotonic() - started
        sampler.stop()
        with zipfile.ZipFile(output) as archive:
            listed = len(archive.infolist())
        result = {
            "server": f"ZIP writer only ({compression})",
            "members": listed,
            "dicom_mb": round(count * len(body) / MB, 1),
            "zip_mb": round(output.stat().st_size / MB, 1),
            "seconds": round(elapsed, 2),
            "members_per_second": round(count / elapsed),
            "rss_before_mb": round(rss_before / 1024, 1),
            "rss_peak_mb": round(sampler.peak_kib / 1024, 1),
        }
        print(json.dumps(result), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--count", type=int, default=2200, help="instances in the study"
    )
    parser.add_argument(
        "--size", type=int, default=512, help="KiB of pixel data per instance"
    )
    parser.add_argument("--media", action="store_true", help="also download /media")
    parser.add_argument("--compression", default="deflated", help="deflated or stored")
    parser.add_argument("--orthanc", help="URL of a running Orthanc to compare with")
    parser.add_argument("--orthanc-pid", type=int, help="process id of that Orthanc")
    parser.add_argument(
        "--writer-only", action="store_true", help="measure the ZIP writer alone"
    )
    arguments = parser.parse_args()
    if arguments.writer_only:
        measure_writer(arguments.count, arguments.size, arguments.compression)
        return 0

    with tempfile.TemporaryDirectory(prefix="archive-bench-") as folder:
        env = {
            "ORTHANCLITE_FSYNC": "false",
            "ORTHANCLITE_LOG_LEVEL": "WARNING",
            "ORTHANCLITE_ARCHIVE_COMPRESSION": arguments.compression,
        }
        server = ServerProcess(Path(folder) / "data", env)
        try:
            measure(
                f"orthanclite ({arguments.compression})",
                server.url,
                server.process.pid,
                arguments.count,
                arguments.size,
                arguments.media,
            )
        finally:
            server.stop()
    if arguments.orthanc and arguments.orthanc_pid:
        measure(
            "Orthanc 1.10.1",
            arguments.orthanc,
            arguments.orthanc_pid,
            arguments.count,
            arguments.size,
            arguments.media,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
