"""Worker processes that share one listening socket, and their supervisor.

One Python process runs Python code on one core at a time, so the server
forks several workers after preparing the data folder. Each worker runs its
own event loop, thread pool and index connections; the kernel spreads the
connections among them. The parent process only starts the workers, starts
a new one when a worker dies, and stops them all on SIGINT or SIGTERM.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import socket
import time

import uvicorn

logger = logging.getLogger(__name__)

# Exit status of a worker whose server never started. After MAX_FAILED_STARTS
# of them in a row the server stops, while a worker that served is always replaced.
FAILED_START_STATUS = 3
MAX_FAILED_STARTS = 3
# Seconds the workers get to finish their requests after SIGTERM.
STOP_TIMEOUT = 30.0
PR_SET_PDEATHSIG = 1
# Seconds between two checks of the workers.
POLL_SECONDS = 0.2


def worker_count(requested: int) -> int:
    """Return the number of workers to start: ``requested``, or one per core if 0."""
    if requested > 0:
        return requested
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class Supervisor:
    """Supervisor of ``count`` forked workers serving ``config``'s application."""

    def __init__(self, config: uvicorn.Config, count: int) -> None:
        self.config = config
        self.count = count
        self.workers: set[int] = set()
        self.stopping = False
        self.failed_starts = 0

    def run(self) -> int:
        """Serve until stopped; return the exit status of the server."""
        listener = self.config.bind_socket()
        parent = os.getpid()
        signal.signal(signal.SIGINT, self._stop)
        signal.signal(signal.SIGTERM, self._stop)
        for _ in range(self.count):
            self._fork(listener, parent)
        logger.info("Started %d worker processes", self.count)
        status = self._supervise(listener, parent)
        listener.close()
        logger.info("All worker processes stopped")
        return status

    def _fork(self, listener: socket.socket, parent: int) -> None:
        pid = os.fork()
        if pid == 0:
            os._exit(_serve_in_worker(self.config, listener, parent))
        self.workers.add(pid)

    def _stop(self, signum: int, _frame: object) -> None:
        if not self.stopping:
            logger.info("Stopping the worker processes (%s)", signal.Signals(signum).name)
        self.stopping = True
        for pid in self.workers:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def _supervise(self, listener: socket.socket, parent: int) -> int:
        status = 0
        deadline: float | None = None
        while self.workers:
            if self.stopping and deadline is None:
                deadline = time.monotonic() + STOP_TIMEOUT
            try:
                pid, wait_status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                if deadline is not None and time.monotonic() > deadline:
                    self._kill_remaining()
                time.sleep(POLL_SECONDS)
                continue
            if pid not in self.workers:
                continue
            self.workers.remove(pid)
            if self.stopping:
                continue
            code = os.waitstatus_to_exitcode(wait_status)
            logger.error("Worker process %d exited with status %d; starting another", pid, code)
            if code == FAILED_START_STATUS:
                self.failed_starts += 1
                if self.failed_starts >= MAX_FAILED_STARTS:
                    logger.error("Worker processes keep failing at start-up; stopping the server")
                    self._stop(signal.SIGTERM, None)
                    status = 1
                    continue
            else:
                self.failed_starts = 0
            self._fork(listener, parent)
        return status

    def _kill_remaining(self) -> None:
        for pid in list(self.workers):
            logger.warning("Worker process %d did not stop in time; killing it", pid)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _serve_in_worker(config: uvicorn.Config, listener: socket.socket, parent: int) -> int:
    """Run one worker in the forked process; return its exit status."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)
    _die_with_parent(parent)
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[listener])
    except BaseException:
        logger.exception("Worker process %d failed", os.getpid())
        return 1 if server.started else FAILED_START_STATUS
    finally:
        logging.shutdown()
    return 0 if server.started else FAILED_START_STATUS


def _die_with_parent(parent: int) -> None:
    """Have the kernel kill this worker when the parent dies, even by SIGKILL.

    Otherwise a worker of a killed server would go on writing to the data
    folder while a new server prepares it.
    """
    library = ctypes.util.find_library("c")
    if library is not None:
        libc = ctypes.CDLL(library, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        # The parent died before the request took effect.
        os._exit(1)
