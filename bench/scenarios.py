"""The measurements, each run on one server and returning a JSON-ready dict."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.client import Probe, measure_latency, upload_all, upload_file
from bench.corpus import deterministic_uid, small_instance, study_date
from bench.servers import MemorySampler, Server

# Patients per fill set: each gets 2 studies of 2 series (see small_instance).
FILL_PER_PATIENT = 100


def ingest(server: Server, files: Sequence[bytes], clients: int) -> dict[str, Any]:
    """Scenario 1: upload ``files`` with ``clients`` connections; rate and memory."""
    cpu_before = server.cpu_seconds()
    with MemorySampler(server) as memory:
        result = upload_all(server.host, server.port, files, clients)
    cpu = server.cpu_seconds() - cpu_before
    return result.as_dict() | {
        "clients": clients,
        "server_cpu_seconds": round(cpu, 2),
        "server_cpu_ms_per_instance": round(1000 * cpu / max(1, len(files)), 2),
        "peak_memory_bytes": memory.peak,
        "public_ids": [answer["ID"] if answer else None for answer in result.answers],
    }


class FillSet:
    """The small instances without pixel data that grow an archive.

    Instance ``i`` is the same bytes for every server, generated on demand.
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.count = 0

    def next_batch(self, count: int) -> list[bytes]:
        batch = [
            small_instance(self.seed, self.count + i, FILL_PER_PATIENT)
            for i in range(count)
        ]
        self.count += count
        return batch

    def patient_ids(self) -> list[str]:
        patients = (self.count + FILL_PER_PATIENT - 1) // FILL_PER_PATIENT
        return [f"BENCH{self.seed}-{patient:06d}" for patient in range(patients)]

    def sop_uid(self, index: int) -> str:
        return deterministic_uid(self.seed, "fill", index)


def find_probes(patient_ids: Sequence[str]) -> dict[str, Any]:
    """Scenario 2 requests: three /tools/find at study level, cycling patients."""

    def by_patient_id(index: int) -> Probe:
        query = {
            "Level": "Study",
            "Query": {"PatientID": patient_ids[index % len(patient_ids)]},
        }
        return Probe("POST", "/tools/find", json.dumps(query).encode())

    def by_patient_name(index: int) -> Probe:
        number = patient_ids[index % len(patient_ids)].rsplit("-", 1)[1]
        query = {"Level": "Study", "Query": {"PatientName": f"BENCH^P{number[:-1]}*"}}
        return Probe("POST", "/tools/find", json.dumps(query).encode())

    def by_date_range(index: int) -> Probe:
        patient = index % len(patient_ids)
        first, last = study_date(patient, 0), study_date(patient, 6)
        query = {"Level": "Study", "Query": {"StudyDate": f"{first}-{last}"}}
        return Probe("POST", "/tools/find", json.dumps(query).encode())

    return {
        "find_study_patient_id": by_patient_id,
        "find_study_patient_name_wildcard": by_patient_name,
        "find_study_date_range": by_date_range,
    }


def lookup_probe(sop_uids: Sequence[str]) -> Any:
    def lookup(index: int) -> Probe:
        return Probe("POST", "/tools/lookup", sop_uids[index % len(sop_uids)].encode())

    return lookup


def query_latency(
    server: Server, patient_ids: Sequence[str], sop_uids: Sequence[str], samples: int
) -> dict[str, Any]:
    """Scenario 2 on one server: /tools/find and /tools/lookup latency."""
    results = {
        name: measure_latency(server.host, server.port, probe, samples)
        for name, probe in find_probes(patient_ids).items()
    }
    results["lookup_instance"] = measure_latency(
        server.host, server.port, lookup_probe(sop_uids), samples
    )
    return results


def resource_latency(
    server: Server, instance_ids: Sequence[str], samples: int
) -> dict[str, Any]:
    """Scenario 3 on one server: /instances/{id}, /tags and /preview latency."""
    routes = {
        "instance": "/instances/{}",
        "instance_tags": "/instances/{}/tags",
        "instance_preview": "/instances/{}/preview",
    }
    results = {}
    for name, template in routes.items():

        def probe(index: int, template: str = template) -> Probe:
            return Probe(
                "GET", template.format(instance_ids[index % len(instance_ids)])
            )

        results[name] = measure_latency(server.host, server.port, probe, samples)
    return results


def large_upload(server: Server, path: Path) -> dict[str, Any]:
    """Scenario 5: stream one large file; peak memory growth of the server."""
    with MemorySampler(server) as memory:
        status, seconds = upload_file(server.host, server.port, path)
    return {
        "status": status,
        "bytes": path.stat().st_size,
        "seconds": round(seconds, 2),
        "baseline_memory_bytes": memory.baseline,
        "peak_memory_bytes": memory.peak,
        "memory_growth_bytes": memory.peak - memory.baseline,
    }
