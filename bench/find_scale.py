"""Measure /tools/find, /tools/lookup and /changes on an archive of N instances.

The archive is filled over HTTP with small instances without pixel data
(about 0.5 KB each): ``--count`` instances in studies of 2 series of 25
instances, one study per patient. Then each query kind runs ``--repeat``
times and the median and 90th percentile latencies are printed as JSON.
The same data can be sent to orthanclite and to Orthanc, for comparison.

    python bench/find_scale.py --url http://127.0.0.1:8042 --count 100000
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

INSTANCES_PER_SERIES = 25
SERIES_PER_STUDY = 2
ROOT = "1.2.826.0.1.3680043.8.498.7"


def instance_bytes(index: int) -> bytes:
    """Build instance ``index`` of the synthetic archive, deterministically."""
    per_study = INSTANCES_PER_SERIES * SERIES_PER_STUDY
    study, rest = divmod(index, per_study)
    series, number = divmod(rest, INSTANCES_PER_SERIES)
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = f"{ROOT}.{study}.{series}.{number}"
    ds.StudyInstanceUID = f"{ROOT}.{study}"
    ds.SeriesInstanceUID = f"{ROOT}.{study}.{series}"
    ds.PatientID = f"BENCH{study:06d}"
    ds.PatientName = f"Name{study % 997}^Given{study}"
    ds.PatientBirthDate = f"19{study % 90 + 10:02d}0101"
    ds.AccessionNumber = f"ACC{study:07d}"
    ds.StudyDate = f"20{study % 20 + 5:02d}{study % 12 + 1:02d}{study % 28 + 1:02d}"
    ds.StudyDescription = f"Study {study % 50}"
    ds.Modality = ("CT", "MR")[series % 2]
    ds.SeriesNumber = str(series + 1)
    ds.InstanceNumber = str(number + 1)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def fill(url: str, start: int, count: int, workers: int) -> float:
    """Upload instances ``start`` to ``count - 1``; return instances per second."""
    begin = time.perf_counter()

    def upload(chunk: range) -> None:
        with httpx.Client(base_url=url, timeout=120) as client:
            for index in chunk:
                response = client.post("/instances", content=instance_bytes(index))
                response.raise_for_status()

    step = 1000
    chunks = [range(i, min(i + step, count)) for i in range(start, count, step)]
    done = 0
    with ThreadPoolExecutor(workers) as pool:
        for _ in pool.map(upload, chunks):
            done += 1
            if done % 10 == 0:
                print(f"  {start + done * step} instances", file=sys.stderr, flush=True)
    return (count - start) / (time.perf_counter() - begin)


def timed(client: httpx.Client, repeat: int, request) -> dict[str, float]:  # type: ignore[no-untyped-def]
    latencies = []
    for i in range(repeat):
        begin = time.perf_counter()
        response = request(client, i)
        latencies.append((time.perf_counter() - begin) * 1000)
        response.raise_for_status()
    latencies.sort()
    return {
        "median_ms": round(statistics.median(latencies), 2),
        "p90_ms": round(latencies[int(len(latencies) * 0.9)], 2),
        "results": len(response.json()) if isinstance(response.json(), list) else None,
    }


def measure(url: str, count: int, repeat: int) -> dict[str, dict]:
    studies = count // (INSTANCES_PER_SERIES * SERIES_PER_STUDY)

    def study(i: int) -> int:
        return (i * 7919) % studies

    def find(query: dict, level: str = "Study"):  # type: ignore[no-untyped-def]
        return lambda c, i: c.post(
            "/tools/find", json={"Level": level, "Query": query(i)}
        )

    cases = {
        "find study by PatientID": find(
            lambda i: {"PatientID": f"BENCH{study(i):06d}"}
        ),
        "find study by PatientID, lower case": find(
            lambda i: {"PatientID": f"bench{study(i):06d}"}
        ),
        "find study by AccessionNumber": find(
            lambda i: {"AccessionNumber": f"ACC{study(i):07d}"}
        ),
        "find study by StudyInstanceUID": find(
            lambda i: {"StudyInstanceUID": f"{ROOT}.{study(i)}"}
        ),
        "find study by PatientName prefix": find(
            lambda i: {"PatientName": f"name{study(i) % 997}^giv*"}
        ),
        "find study by date range + PatientID": find(
            lambda i: {
                "StudyDate": "20050101-20251231",
                "PatientID": f"BENCH{study(i):06d}",
            }
        ),
        "find instance by SOPInstanceUID": find(
            lambda i: {"SOPInstanceUID": f"{ROOT}.{study(i)}.1.3"}, "Instance"
        ),
        "lookup StudyInstanceUID": lambda c, i: c.post(
            "/tools/lookup", content=f"{ROOT}.{study(i)}"
        ),
        "changes first page": lambda c, i: c.get("/changes?since=0&limit=100"),
    }
    results = {}
    with httpx.Client(base_url=url, timeout=120) as client:
        last = client.get("/changes?last").json()["Last"]
        cases["changes last page"] = lambda c, i: c.get(
            f"/changes?since={last - 100}&limit=100"
        )
        for name, request in cases.items():
            results[name] = timed(client, repeat, request)
            print(f"  {name}: {results[name]}", file=sys.stderr, flush=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--url", required=True, help="base URL of the server under test"
    )
    parser.add_argument(
        "--count", type=int, default=100_000, help="instances in the archive"
    )
    parser.add_argument("--start", type=int, default=0, help="first instance to upload")
    parser.add_argument(
        "--workers", type=int, default=4, help="concurrent upload clients"
    )
    parser.add_argument(
        "--repeat", type=int, default=200, help="requests per query kind"
    )
    parser.add_argument("--skip-fill", action="store_true", help="measure only")
    parser.add_argument(
        "--fill-only", action="store_true", help="upload, do not measure"
    )
    arguments = parser.parse_args()

    report: dict = {"url": arguments.url, "count": arguments.count}
    if not arguments.skip_fill:
        report["upload_instances_per_second"] = round(
            fill(arguments.url, arguments.start, arguments.count, arguments.workers), 1
        )
    if not arguments.fill_only:
        report["queries"] = measure(arguments.url, arguments.count, arguments.repeat)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
