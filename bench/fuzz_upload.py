"""Fuzz POST /instances with mutated test files for longer than the test suite.

Usage, from the repository root::

    python bench/fuzz_upload.py --examples 5000 [--seed 1]

Starts a server on a free loopback port with a temporary data folder, sends
mutated copies of pydicom's test files (bit flips, truncation, corrupted
length fields, inserted bytes) and reports how many inputs were tried, the
responses by HTTP status and the first failing input, if any.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
from hypothesis import HealthCheck, given, seed, settings  # noqa: E402

from tests.helpers import ServerProcess  # noqa: E402
from tests.reliability_helpers import UploadFuzzer, check_problems, fuzz_strategy  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000, help="inputs to try")
    parser.add_argument(
        "--seed", type=int, default=1, help="seed of the input generator"
    )
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="orthanclite-fuzz-") as folder:
        server = ServerProcess(Path(folder) / "data")
        failure = None
        started = time.monotonic()
        try:
            with httpx.Client(base_url=server.url, timeout=60) as client:
                fuzzer = UploadFuzzer(client)

                @seed(arguments.seed)
                @settings(
                    max_examples=arguments.examples,
                    deadline=None,
                    database=None,
                    suppress_health_check=list(HealthCheck),
                )
                @given(case=fuzz_strategy())
                def upload(case) -> None:  # type: ignore[no-untyped-def]
                    name, mutations = case
                    fuzzer.send(fuzzer.mutate(name, mutations))

                try:
                    upload()
                except Exception as error:  # AssertionError, HTTP errors, or groups of them
                    failure = repr(error)
            elapsed = time.monotonic() - started
            alive = server.process.poll() is None
            problems = check_problems(server.data)
        finally:
            server.stop()
        if failure:
            print("server log, last lines:")
            print("\n".join(server.log_path.read_text().splitlines()[-40:]))

    print(f"inputs tried: {fuzzer.tried} in {elapsed:.0f} s")
    print(
        "responses by status: "
        + ", ".join(f"{k}: {v}" for k, v in sorted(fuzzer.statuses.items()))
    )
    print(f"server alive at the end: {alive}")
    print(f"consistency problems: {len(problems)}")
    print(f"first failure: {failure or 'none'}")
    return 1 if failure or problems or not alive else 0


if __name__ == "__main__":
    raise SystemExit(main())
