"""Helpers of the crash, concurrency and hostile-input tests and benchmarks."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from orthanclite.check import ConsistencyCheck
from orthanclite.config import Settings
from tests.helpers import REPO, ServerProcess, make_dicom

# Errors a client sees when the server dies under it.
CONNECTION_ERRORS = (httpx.TransportError,)


def check_problems(data: Path) -> list[str]:
    """Run the consistency check in this process; return its problems as text."""
    check = ConsistencyCheck(Settings(data=data))
    try:
        report = check.run(repair=False)
    finally:
        check.close()
    return [f"{problem.kind}: {problem.description}" for problem in report.problems]


def run_check_command(data: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    """Run ``orthanclite check`` as a separate process."""
    return subprocess.run(
        [sys.executable, "-m", "orthanclite", "check", "--data", str(data), *arguments],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def storage_files(data: Path) -> list[Path]:
    return sorted(path for path in (data / "storage").rglob("*") if path.is_file())


def staging_entries(data: Path) -> list[Path]:
    return sorted((data / "staging").iterdir())


def resident_memory_kib(pid: int) -> int:
    """Return the resident set size of a process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def study_files(
    count: int, patient: str = "PAT-1", study_uid: str | None = None
) -> list[bytes]:
    """Build ``count`` instances of one study, spread over two series."""
    from pydicom.uid import generate_uid

    study_uid = study_uid or generate_uid()
    series = [generate_uid(), generate_uid()]
    return [
        make_dicom(patient, study_uid, series[index % 2], InstanceNumber=index + 1)
        for index in range(count)
    ]


@dataclass
class KillLoopResult:
    """What a kill loop did and what it found after each restart."""

    kills: int = 0
    uploads_acknowledged: int = 0
    deletes_sent: int = 0
    instances_verified: int = 0
    # One entry per problem found after a restart, prefixed by the round.
    failures: list[str] = field(default_factory=list)
    restart_seconds: list[float] = field(default_factory=list)
    elapsed: float = 0.0


class IngestLoad:
    """Clients that upload new instances, and delete some, until the server dies."""

    def __init__(self, url: str, clients: int, rng: random.Random) -> None:
        self.url = url
        self.clients = clients
        self.rng = rng
        self.acknowledged: dict[str, bytes] = {}
        self.delete_sent: set[str] = set()
        self.errors: list[str] = []
        self._lock = threading.Lock()

    def run_until_killed(
        self, server: ServerProcess, uploads: int, timeout: float
    ) -> None:
        """Start the clients, then kill the server after ``uploads`` new instances.

        The kill comes a random fraction of an upload later, so that it
        lands at any step of a request. ``timeout`` bounds the wait on a
        slow machine.
        """
        target = len(self.acknowledged) + uploads
        threads = [
            threading.Thread(target=self._client, args=(self.rng.random(),))
            for _ in range(self.clients)
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + timeout
        while len(self.acknowledged) < target and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(self.rng.uniform(0, 0.03))
        server.process.send_signal(signal.SIGKILL)
        server.process.wait()
        for thread in threads:
            thread.join(timeout=30)

    def _client(self, seed: float) -> None:
        rng = random.Random(seed)
        patient = f"KILL-{rng.randrange(1_000_000)}"
        with httpx.Client(base_url=self.url, timeout=30) as client:
            try:
                for body in self._bodies(rng, patient):
                    if rng.random() < 0.1:
                        self._delete_one(client, rng)
                    self._upload(client, body)
            except CONNECTION_ERRORS:
                return

    def _bodies(self, rng: random.Random, patient: str):  # type: ignore[no-untyped-def]
        while True:
            yield from study_files(rng.randint(2, 8), patient)

    def _upload(self, client: httpx.Client, body: bytes) -> None:
        response = client.post("/instances", content=body)
        if response.status_code != 200:
            with self._lock:
                self.errors.append(
                    f"upload answered {response.status_code}: {response.text}"
                )
            return
        answer = response.json()
        if answer["Status"] == "Success":
            with self._lock:
                self.acknowledged[answer["ID"]] = body

    def _delete_one(self, client: httpx.Client, rng: random.Random) -> None:
        with self._lock:
            candidates = [
                key for key in self.acknowledged if key not in self.delete_sent
            ]
            if not candidates:
                return
            instance = rng.choice(candidates)
            # Recorded before sending: a delete cut short by the kill may
            # or may not have committed.
            self.delete_sent.add(instance)
        response = client.delete(f"/instances/{instance}")
        if response.status_code not in (200, 404):
            with self._lock:
                self.errors.append(
                    f"delete answered {response.status_code}: {response.text}"
                )


def verify_after_restart(
    data: Path, url: str, load: IngestLoad, label: str, result: KillLoopResult
) -> None:
    """Run the check and compare every acknowledged instance with its bytes."""
    for problem in check_problems(data):
        result.failures.append(f"{label}: {problem}")
    with httpx.Client(base_url=url, timeout=30) as client:
        for instance, body in list(load.acknowledged.items()):
            if instance in load.delete_sent:
                continue
            response = client.get(f"/instances/{instance}/file")
            if response.status_code != 200:
                result.failures.append(
                    f"{label}: instance {instance} answered {response.status_code}"
                )
            elif response.content != body:
                result.failures.append(f"{label}: instance {instance} has other bytes")
            else:
                result.instances_verified += 1


def run_kill_loop(
    workdir: Path,
    kills: int,
    clients: int = 4,
    seed: int = 0,
    uploads_per_round: tuple[int, int] = (10, 50),
    round_timeout: float = 10.0,
) -> KillLoopResult:
    """Ingest and delete from several clients, SIGKILL the server, restart, verify.

    Each round restarts the server on the same data folder and runs the
    consistency check while the server is idle. It then fetches every
    instance acknowledged so far, except those a delete was sent for.
    Last, it starts the clients again and kills the server after a random
    number of uploads.
    """
    rng = random.Random(seed)
    data = workdir / "data"
    load = IngestLoad("", clients, rng)
    result = KillLoopResult()
    started = time.monotonic()
    for round_number in range(kills + 1):
        restart = time.monotonic()
        server = ServerProcess(data)
        result.restart_seconds.append(time.monotonic() - restart)
        try:
            verify_after_restart(
                data, server.url, load, f"round {round_number}", result
            )
            if round_number == kills:
                break
            load.url = server.url
            load.run_until_killed(
                server, rng.randint(*uploads_per_round), round_timeout
            )
            result.kills += 1
        finally:
            server.stop()
    result.uploads_acknowledged = len(load.acknowledged)
    result.deletes_sent = len(load.delete_sent)
    result.failures.extend(load.errors)
    result.elapsed = time.monotonic() - started
    return result


# Test files that the upload fuzzer mutates: explicit and implicit VR,
# sequences, encapsulated pixel data and big endian.
FUZZ_BASE_FILES = (
    "CT_small.dcm",
    "MR_small.dcm",
    "rtplan.dcm",
    "JPEG2000.dcm",
    "SC_rgb_rle.dcm",
    "ExplVR_BigEnd.dcm",
)


def length_field_offsets(data: bytes) -> list[tuple[int, int]]:
    """Return the offset and width of each top-level value length field."""
    import io

    import pydicom
    from pydicom.dataelem import RawDataElement

    dataset = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=False, defer_size=0)
    offsets = []
    for raw in dataset._dict.values():
        if not isinstance(raw, RawDataElement) or raw.value_tell is None:
            continue
        long_length = dataset.is_implicit_VR or raw.VR in (
            "OB",
            "OD",
            "OF",
            "OL",
            "OV",
            "OW",
            "SQ",
            "SV",
            "UC",
            "UN",
            "UR",
            "UT",
            "UV",
        )
        width = 4 if long_length else 2
        offsets.append((raw.value_tell - width, width))
    return offsets


def apply_mutation(
    data: bytearray, mutation: tuple, offsets: list[tuple[int, int]]
) -> None:
    """Apply one mutation drawn by the fuzzer to ``data`` in place."""
    kind = mutation[0]
    if not data:
        return
    if kind == "flip":
        _, position, bit = mutation
        data[position % len(data)] ^= 1 << bit
    elif kind == "truncate":
        del data[mutation[1] % len(data) :]
    elif kind == "length" and offsets:
        _, choice, value = mutation
        offset, width = offsets[choice % len(offsets)]
        packed = value.to_bytes(4, "little")[:width]
        data[offset : offset + width] = packed
    elif kind == "insert":
        _, position, chunk = mutation
        data[position % len(data) : position % len(data)] = chunk


def fuzz_strategy():  # type: ignore[no-untyped-def]
    """Hypothesis strategy of (base file name, list of mutations)."""
    from hypothesis import strategies as st

    position = st.integers(0, 1 << 30)
    length_value = st.sampled_from(
        [0, 1, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFE, 0xFFFFFFFF]
    ) | (st.integers(0, (1 << 32) - 1))
    mutation = st.one_of(
        st.tuples(st.just("flip"), position, st.integers(0, 7)),
        st.tuples(st.just("truncate"), position),
        st.tuples(st.just("length"), position, length_value),
        st.tuples(st.just("insert"), position, st.binary(min_size=1, max_size=16)),
    )
    return st.tuples(
        st.sampled_from(FUZZ_BASE_FILES), st.lists(mutation, min_size=1, max_size=4)
    )


class UploadFuzzer:
    """Sends mutated test files to a server and checks each response."""

    def __init__(self, client: httpx.Client) -> None:
        from tests.helpers import pydicom_file

        self.client = client
        self.bases = {name: pydicom_file(name).read_bytes() for name in FUZZ_BASE_FILES}
        self.offsets = {
            name: length_field_offsets(data) for name, data in self.bases.items()
        }
        self.tried = 0
        self.statuses: dict[int, int] = {}

    def mutate(self, name: str, mutations: list[tuple]) -> bytes:
        data = bytearray(self.bases[name])
        for mutation in mutations:
            apply_mutation(data, mutation, self.offsets[name])
        return bytes(data)

    def send(self, body: bytes) -> httpx.Response:
        """Upload ``body``; raise AssertionError unless it gets 200 or a 4xx JSON error."""
        response = self.client.post("/instances", content=body)
        self.tried += 1
        self.statuses[response.status_code] = (
            self.statuses.get(response.status_code, 0) + 1
        )
        assert response.status_code == 200 or 400 <= response.status_code < 500, (
            response.text
        )
        assert response.headers["content-type"].startswith("application/json")
        return response
