"""Kill a server with SIGKILL many times while it ingests, and verify each restart.

Usage, from the repository root::

    python bench/kill_loop.py --kills 200 [--clients 4] [--seed 1]

Each round restarts the server on the same data folder and runs the
consistency check. It then fetches every instance acknowledged so far,
except those a delete was sent for, and compares its bytes. Last, the
clients upload and delete until the server is killed after a random number
of uploads.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.reliability_helpers import run_kill_loop  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=200, help="number of SIGKILLs")
    parser.add_argument(
        "--clients", type=int, default=4, help="concurrent upload clients"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the kill moments")
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="orthanclite-kill-") as folder:
        result = run_kill_loop(
            Path(folder),
            kills=arguments.kills,
            clients=arguments.clients,
            seed=arguments.seed,
        )
    print(f"kills: {result.kills} in {result.elapsed:.0f} s")
    print(f"instances acknowledged: {result.uploads_acknowledged}")
    print(f"deletes sent: {result.deletes_sent}")
    print(f"instance checks after restarts: {result.instances_verified}")
    print(f"median restart: {statistics.median(result.restart_seconds):.1f} s")
    print(f"failures: {len(result.failures)}")
    for failure in result.failures[:20]:
        print(f"  {failure}")
    return 1 if result.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
