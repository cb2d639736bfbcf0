"""Logging set-up for the server process.

Patient data (names, PatientID, dates) is never logged at INFO or above:
log lines name resources by their Orthanc identifiers.
"""

from __future__ import annotations

import logging

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str = "INFO") -> None:
    """Send the log of the server and of uvicorn to standard error."""
    logging.basicConfig(level=level.upper(), format=LOG_FORMAT, force=True)
    # Alembic announces each of its plugins at INFO whenever it is loaded.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
