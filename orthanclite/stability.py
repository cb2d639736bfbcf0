"""Background thread that logs the Stable* changes of quiet resources."""

from __future__ import annotations

import logging
import os
import threading
import time

from orthanclite.context import ServerContext, orthanc_date
from orthanclite.index import changes
from orthanclite.locks import FileLock

logger = logging.getLogger(__name__)


class StabilityMonitor:
    """Logs StableSeries/StableStudy/StablePatient ``stable_age`` seconds after
    the last instance of a resource arrived, as Orthanc does.

    Every worker process runs a monitor, and the one holding the data
    folder's stability lock does the work; another takes over if it exits.
    """

    def __init__(self, context: ServerContext) -> None:
        self.context = context
        self.stable_age = context.settings.stable_age
        # Check four times per stable age, and at least once a second.
        self.interval = min(1.0, self.stable_age / 4)
        self._lock = FileLock(context.settings.data / "stability.lock")
        self._elected = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stability", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._lock.close()

    def check(self) -> int:
        """Log the changes that are due now; return how many were logged."""
        cutoff = time.time() - self.stable_age
        return self.context._run_write(
            lambda session: changes.log_stable_resources(
                session, cutoff, orthanc_date()
            )
        )

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if not self._elected:
                self._elected = self._lock.try_acquire()
                if not self._elected:
                    continue
                logger.debug("Process %d logs the Stable* changes", os.getpid())
            try:
                logged = self.check()
            except Exception:
                # The next round retries; one failure must not stop the thread.
                logger.exception("Cannot log the Stable* changes")
                continue
            if logged:
                logger.debug("Logged %d Stable* changes", logged)
