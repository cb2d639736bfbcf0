"""Command line of the benchmark: ``python -m bench [options]``."""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench.report import machine_description, write_markdown
from bench.runner import Run

logger = logging.getLogger("bench")

REPOSITORY = Path(__file__).resolve().parents[1]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Measure orthanclite and, when installed, Orthanc side by side.",
    )

    corpus = parser.add_argument_group("corpus")
    corpus.add_argument(
        "--seed", type=int, default=1, help="seed of UIDs and pixels (default 1)"
    )
    corpus.add_argument("--patients", type=int, default=4, help="patients (default 4)")
    corpus.add_argument(
        "--studies", type=int, default=2, help="studies per patient (default 2)"
    )
    corpus.add_argument(
        "--series", type=int, default=3, help="series per study (default 3)"
    )
    corpus.add_argument(
        "--instances",
        type=int,
        default=20,
        help="instances per CT or MR series (default 20)",
    )

    runs = parser.add_argument_group("scenarios")
    runs.add_argument(
        "--small-archive",
        type=int,
        default=1000,
        help="instances in the archive for the first find/lookup timing (default 1000)",
    )
    runs.add_argument(
        "--fill",
        type=int,
        default=10_000,
        help="instances in the filled archive; the full benchmark uses 100000 "
        "(default 10000)",
    )
    runs.add_argument(
        "--samples",
        type=int,
        default=100,
        help="requests per latency measure (default 100)",
    )
    runs.add_argument(
        "--large-upload-mb",
        type=int,
        default=0,
        help="size in MiB of the single-file upload, e.g. 1024; 0 skips it (default 0)",
    )
    runs.add_argument(
        "--archive-study-mb",
        type=int,
        default=0,
        help="size in MiB of the study whose archive is downloaded, e.g. 1100; "
        "needs bench/archive_memory.py; 0 skips it (default 0)",
    )
    runs.add_argument(
        "--no-orthanc",
        dest="orthanc",
        action="store_false",
        help="measure orthanclite alone even when /usr/sbin/Orthanc exists",
    )

    output = parser.add_argument_group("output")
    output.add_argument(
        "--output",
        type=Path,
        default=REPOSITORY / "docs" / "benchmarks.md",
        help="Markdown page to update; the raw JSON is written beside it "
        "(default docs/benchmarks.md)",
    )
    output.add_argument(
        "--workdir", help="folder for the servers' temporary data (default /tmp)"
    )
    output.add_argument(
        "--keep",
        action="store_true",
        help="keep the servers' data folders after the run",
    )

    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile orthanclite's upload path with py-spy instead of running "
        "the scenarios",
    )

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    # httpx, used by bench/archive_memory.py, logs every request at INFO.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    arguments = sys.argv[1:] if argv is None else list(argv)
    options = build_parser().parse_args(arguments)
    if options.profile:
        from bench.profiling import profile_uploads

        return profile_uploads(options)

    started = datetime.datetime.now(datetime.UTC)
    clock = time.monotonic()
    run = Run(options)
    results = run.execute()
    results["started"] = started.strftime("%Y-%m-%d %H:%M")
    results["duration_seconds"] = round(time.monotonic() - clock, 1)
    results["command"] = shlex.join(["python", "-m", "bench", *arguments])
    results["machine"] = machine_description(run.workdir.parent)
    results["options"] = {
        key: value for key, value in vars(options).items() if key not in ("output",)
    }

    output: Path = options.output
    output.parent.mkdir(parents=True, exist_ok=True)
    output.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    write_markdown(output, results)
    logger.info("Results written to %s and %s", output, output.with_suffix(".json"))
    return 0
