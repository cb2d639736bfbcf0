"""Profile orthanclite's upload path with py-spy, with 1 and 4 clients.

py-spy samples the running server from outside (every thread, native code
excluded), so the server runs unchanged. The samples are summarised as
inclusive and self time per function and self time per package, written
beside the Markdown page as ``profile-upload-<N>-clients.txt``.
"""

from __future__ import annotations

import argparse
import collections
import logging
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import scenarios
from bench.corpus import CorpusSpec, generate_corpus
from bench.servers import OrthancliteServer

logger = logging.getLogger(__name__)

SAMPLING_RATE = 250
# Corpora uploaded per profile, each with new UIDs, to collect enough samples.
ROUNDS = 2
# "function (path:line)" as py-spy writes each frame of a raw stack.
FRAME = re.compile(r"^(?P<function>.*) \((?P<path>[^()]*?)(?::\d+)?\)$")


def py_spy_binary() -> str:
    beside_python = Path(sys.executable).with_name("py-spy")
    if beside_python.is_file():
        return str(beside_python)
    found = shutil.which("py-spy")
    if found is None:
        raise SystemExit("py-spy is not installed: pip install py-spy")
    return found


def profile_uploads(options: argparse.Namespace) -> int:
    """Record one profile per client count and write the summaries."""
    base = Path(options.workdir) if options.workdir else None
    workdir = Path(tempfile.mkdtemp(prefix="orthanclite-profile-", dir=base))
    output_dir = Path(options.output).parent
    output_dir.mkdir(parents=True, exist_ok=True)
    try:
        for clients in (1, 4):
            raw = workdir / f"upload-{clients}.txt"
            rate = _record(options, workdir, clients, raw)
            summary = summarise(raw.read_text().splitlines())
            target = output_dir / f"profile-upload-{clients}-clients.txt"
            header = (
                f"Upload profile, {clients} client(s): "
                f"{rate:.1f} instances/s while sampled\n"
            )
            target.write_text(header + summary)
            logger.info("Profile with %d client(s) written to %s", clients, target)
    finally:
        if not options.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


class SingleProcessServer(OrthancliteServer):
    """orthanclite in one process, so that py-spy samples the process that works."""

    def command(self) -> list[str]:
        return [*super().command(), "--workers", "1"]


def _record(
    options: argparse.Namespace, workdir: Path, clients: int, raw: Path
) -> float:
    files = []
    for round_number in range(ROUNDS):
        spec = CorpusSpec(
            options.patients,
            options.studies,
            options.series,
            options.instances,
            options.seed + 100 * round_number,
        )
        files += [item.data for item in generate_corpus(spec)]
    server = SingleProcessServer(workdir)
    server.start()
    recorder = subprocess.Popen(
        [
            py_spy_binary(),
            "record",
            "--pid",
            str(server.pid),
            "--rate",
            str(SAMPLING_RATE),
            "--format",
            "raw",
            "--output",
            str(raw),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        time.sleep(1.0)
        result = scenarios.ingest(server, files, clients)
    finally:
        recorder.send_signal(signal.SIGINT)
        _, errors = recorder.communicate(timeout=60)
        server.stop()
        server.remove_files()
    if not raw.exists():
        raise RuntimeError(
            f"py-spy wrote no profile: {errors.decode(errors='replace')}"
        )
    return float(result["instances_per_second"])


def _frame_name(frame: str) -> tuple[str, str]:
    """Return (function with shortened path, package) of one raw frame."""
    match = FRAME.match(frame)
    if match is None:
        return frame, "other"
    path = match["path"]
    if "site-packages/" in path:
        relative = path.split("site-packages/", 1)[1]
    elif "/orthanclite/" in path:
        relative = "orthanclite/" + path.split("/orthanclite/", 1)[1]
    elif "/lib/python" in path:
        relative = "stdlib/" + path.split("/lib/python", 1)[1].split("/", 1)[-1]
    else:
        relative = path
    package = relative.split("/", 1)[0].removesuffix(".py")
    if package == "orthanclite" and "/" in relative:
        package = "orthanclite/" + relative.split("/")[1].removesuffix(".py")
    return f"{match['function']} ({relative})", package


# Steps of the upload path, most specific first: a busy stack is counted in
# the first step whose function appears anywhere in it.
UPLOAD_STEPS = (
    ("ServerContext._run_write", "index transaction (lock, SQL, commit)"),
    ("FileStorage.write", "file write and flush to disk"),
    ("FileStorage.commit", "move of a large staged file into the tree"),
    ("parse_instance", "DICOM parsing"),
    ("StagedWriter.write", "staging file write and MD5 (bodies over 1 MiB)"),
    ("ServerContext.store", "store: other steps"),
    # Upload threads are matched above: what is left is the hashing thread.
    ("_WorkItem.run", "MD5, in a thread beside the file write"),
    ("receive_body", "body reception in the handler"),
    ("json_response", "JSON response"),
    ("upload_instances", "handler: thread hand-offs and other"),
    ("FastAPI.__call__", "middlewares, routing and dependencies"),
    ("httptools_impl", "uvicorn HTTP protocol outside the application"),
)


def _upload_step(stack: str) -> str:
    for function, step in UPLOAD_STEPS:
        if function in stack:
            return step
    return "other"


def _idle_kind(leaf: str, stack: str) -> str:
    """Name the kind of wait of an idle stack, or "" for a busy one.

    The threads of the request thread pool, of the upload pool and of the
    hashing pool wait for work, and the stability monitor waits between its
    checks. The event loop of uvloop runs in native code, so its samples end
    in ``Runner.run`` whether it waits for sockets or handles them: they are
    set apart, not dropped.
    """
    if leaf.startswith("Condition.wait") and "WorkerThread.run" in stack:
        return "worker thread waiting for work"
    if leaf.startswith("_worker (") and "concurrent/futures/thread.py" in leaf:
        return "upload or hashing thread waiting for work"
    if "StabilityMonitor._run" in stack and "_run_write" not in stack:
        return "stability monitor waiting"
    if leaf.startswith("Runner.run"):
        return "event loop in native code (uvloop: socket I/O or waiting)"
    return ""


def summarise(lines: list[str], top: int = 40) -> str:
    """Summarise py-spy raw output (``frame;frame;... count`` per line)."""
    inclusive: collections.Counter[str] = collections.Counter()
    self_time: collections.Counter[str] = collections.Counter()
    by_package: collections.Counter[str] = collections.Counter()
    total = 0
    idle = collections.Counter[str]()
    by_step: collections.Counter[str] = collections.Counter()
    for line in lines:
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        names = [_frame_name(frame) for frame in stack.split(";")]
        waiting = _idle_kind(names[-1][0], stack)
        if waiting:
            idle[waiting] += count
            continue
        total += count
        by_step[_upload_step(stack)] += count
        for name in {name for name, _ in names}:
            inclusive[name] += count
        leaf, package = names[-1]
        self_time[leaf] += count
        by_package[package] += count
    if total == 0:
        return "No samples.\n"

    def table(title: str, counter: collections.Counter[str], limit: int) -> list[str]:
        rows = [f"\n{title}"]
        for name, count in counter.most_common(limit):
            rows.append(f"{100 * count / total:6.1f} %  {name}")
        return rows

    out = [
        f"{total} busy samples at {SAMPLING_RATE} Hz (all threads), and idle samples:"
    ]
    out += [f"{count:8d}  {kind}" for kind, count in idle.most_common()]
    out.append("Percentages below are of the busy samples.")
    out += table(
        "Busy time by step of the upload path:", by_step, len(UPLOAD_STEPS) + 1
    )
    out += table("Self time by package:", by_package, 20)
    out += table("Inclusive time by function:", inclusive, top)
    own = collections.Counter(
        {name: count for name, count in inclusive.items() if "(orthanclite/" in name}
    )
    out += table("Inclusive time by orthanclite function:", own, top)
    out += table("Self time by function:", self_time, top)
    return "\n".join(out) + "\n"
