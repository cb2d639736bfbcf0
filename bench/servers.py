"""Start and stop the servers under test, and read their memory use.

Both servers listen on free loopback ports and keep their files in fresh
temporary folders, so a run never touches an existing archive.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

logger = logging.getLogger(__name__)

REPOSITORY = Path(__file__).resolve().parents[1]
ORTHANC_BINARY = Path("/usr/sbin/Orthanc")
START_TIMEOUT = 60.0
# Seconds a fresh server is left alone before its idle memory is read.
SETTLE_SECONDS = 2.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """One server process under test; subclasses define its command line."""

    name = ""

    def __init__(self, workdir: Path) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix=f"{self.name}-", dir=workdir))
        self.port = free_port()
        self.host = "127.0.0.1"
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.folder / "server.log"
        self.version = ""

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                self.command(),
                cwd=REPOSITORY,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_until_ready()
        logger.info(
            "%s started on port %d (pid %d)", self.name, self.port, self.process.pid
        )

    def _wait_until_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start; see {self.log_path}")
            try:
                connection = http.client.HTTPConnection(self.host, self.port, timeout=2)
                connection.request("GET", "/system")
                response = connection.getresponse()
                body = response.read()
                connection.close()
                if response.status == 200:
                    system = json.loads(body)
                    # orthanclite reports the Orthanc release it emulates as
                    # "Version" and its own release separately.
                    self.version = str(
                        system.get("OrthancLiteVersion") or system.get("Version")
                    )
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(
            f"{self.name} did not respond to GET /system within "
            f"{START_TIMEOUT} s; see {self.log_path}"
        )

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            logger.warning(
                "%s did not stop within 30 s; killing pid %d",
                self.name,
                self.process.pid,
            )
            self.process.kill()
            self.process.wait()

    def remove_files(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def rss_bytes(self) -> int:
        """Resident memory of the server process and all its descendants."""
        return sum(memory_of(pid) for pid in process_tree(self.pid))

    def cpu_seconds(self) -> float:
        """CPU time (user and system) used so far by the server and its descendants."""
        return sum(_cpu_of(pid) for pid in process_tree(self.pid))


class OrthancliteServer(Server):
    name = "orthanclite"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "orthanclite",
            "serve",
            "--port",
            str(self.port),
            "--data",
            str(self.folder / "data"),
            "--log-level",
            "WARNING",
        ]


class OrthancServer(Server):
    """Orthanc with its default configuration, its SQLite index and no plugins."""

    name = "orthanc"

    def command(self) -> list[str]:
        config = {
            "Name": "bench-orthanc",
            "StorageDirectory": str(self.folder / "storage"),
            "IndexDirectory": str(self.folder / "index"),
            "HttpPort": self.port,
            # Orthanc 1.10.1 cannot bind to one address: it listens on every
            # interface, and this option makes it reject non-loopback clients.
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "DicomServerEnabled": False,
            "Plugins": [],
        }
        config_path = self.folder / "config.json"
        config_path.write_text(json.dumps(config, indent=2))
        return [
            str(ORTHANC_BINARY),
            f"--logfile={self.folder / 'orthanc.log'}",
            str(config_path),
        ]


def orthanc_available() -> bool:
    return ORTHANC_BINARY.is_file() and os.access(ORTHANC_BINARY, os.X_OK)


def process_tree(root: int) -> list[int]:
    """Return ``root`` and the PIDs of all its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name in brackets may contain spaces: split after it.
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(children.get(pid, []))
    return found


def memory_of(pid: int) -> int:
    """Return the proportional set size of a process, or its RSS without smaps.

    Pages shared between processes, such as those of forked workers, are
    divided among them, so that a server's processes add up to what they
    really use.
    """
    for path, key in (
        (f"/proc/{pid}/smaps_rollup", "Pss:"),
        (f"/proc/{pid}/status", "VmRSS:"),
    ):
        try:
            with open(path) as status:
                for line in status:
                    if line.startswith(key):
                        return int(line.split()[1]) * 1024
        except OSError:
            continue
    return 0


def _cpu_of(pid: int) -> float:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # Fields after the command name start at field 3 (state); utime and
    # stime are fields 14 and 15, in clock ticks.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class MemorySampler:
    """Polls a server's resident memory in a thread and keeps the maximum."""

    def __init__(self, server: Server, interval: float = 0.02) -> None:
        self.server = server
        self.interval = interval
        self.baseline = server.rss_bytes()
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.server.rss_bytes())

    def _run(self) -> None:
        pids = process_tree(self.server.pid)
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, sum(memory_of(pid) for pid in pids))
