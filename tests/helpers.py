"""Test helpers: a real server process, pydicom test files and synthetic DICOM."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx
import pydicom
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

REPO = Path(__file__).resolve().parents[1]
PYDICOM_DATA = Path(pydicom.__file__).parent / "data"
LISTENING = re.compile(r"Uvicorn running on https?://127\.0\.0\.1:(\d+)")


class ServerProcess:
    """An orthanclite server running in its own process on a loopback port."""

    def __init__(
        self,
        data: Path,
        extra_env: dict[str, str] | None = None,
        extra_args: Sequence[str] = (),
        scheme: str = "http",
        preexec_fn: Callable[[], None] | None = None,
    ) -> None:
        self.data = data
        # Port 0 lets the server bind a free port itself; the port is read
        # from its log. Picking a free port here and passing it on would let
        # a parallel test's server take it in between.
        self.port = 0
        self.scheme = scheme
        self.url = ""
        data.parent.mkdir(parents=True, exist_ok=True)
        log_fd, log_name = tempfile.mkstemp(dir=data.parent, prefix="server-", suffix=".log")
        os.close(log_fd)
        self.log_path = Path(log_name)
        env = dict(os.environ, **(extra_env or {}))
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "orthanclite",
                "serve",
                "--port",
                "0",
                "--data",
                str(data),
                *extra_args,
            ],
            cwd=REPO,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=preexec_fn,
        )
        self._wait_until_ready()

    def _wait_until_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()}")
            if not self.port:
                bound = LISTENING.search(self.log())
                if bound is None:
                    time.sleep(0.05)
                    continue
                self.port = int(bound.group(1))
                self.url = f"{self.scheme}://127.0.0.1:{self.port}"
            try:
                # Any response will do: with authentication, /system returns 401.
                httpx.get(self.url + "/system", timeout=1, verify=False)
                return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server did not start in {timeout} s:\n{self.log()}")

    def pids(self) -> list[int]:
        """Return the server's process and its worker processes."""
        pids = [self.process.pid]
        for pid in pids:
            try:
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text()
            except OSError:
                continue
            pids.extend(int(child) for child in children.split())
        return pids

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def pydicom_file(name: str) -> Path:
    """Path of one of pydicom's test files (never downloaded)."""
    path = get_testdata_file(name, download=False)
    if path is None:
        raise FileNotFoundError(f"pydicom test file {name!r} is not installed")
    return Path(path)


def make_dicom(
    patient_id: str | None = "PAT-1",
    study_uid: str | None = None,
    series_uid: str | None = None,
    sop_uid: str | None = None,
    **elements: object,
) -> bytes:
    """Build a small Secondary Capture instance without pixel data.

    A ``None`` UID is generated and an empty one leaves the element out.
    Keyword arguments set further elements by keyword.
    """
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    identifiers = {
        "SOPInstanceUID": sop_uid,
        "StudyInstanceUID": study_uid,
        "SeriesInstanceUID": series_uid,
    }
    for keyword, value in identifiers.items():
        if value is None:
            setattr(ds, keyword, generate_uid())
        elif value:
            setattr(ds, keyword, value)
    if patient_id is not None:
        ds.PatientID = patient_id
    ds.PatientName = "Test^Patient"
    ds.Modality = "OT"
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.get("SOPInstanceUID", generate_uid())
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()
