"""Command line: ``orthanclite serve`` runs the HTTP server, ``check`` checks its data."""

from __future__ import annotations

import argparse
import logging
import signal
from collections.abc import Sequence
from typing import Any

from orthanclite import __version__
from orthanclite.config import Settings
from orthanclite.logs import configure_logging

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orthanclite", description="DICOM archive server with Orthanc's REST API."
    )
    parser.add_argument("--version", action="version", version=f"orthanclite {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="HTTP port (default 8042)")
    serve.add_argument(
        "--data", help="folder of the storage area and SQLite index (default ./orthanclite-data)"
    )
    serve.add_argument(
        "--database-url",
        help="SQLAlchemy URL of the index, e.g. postgresql+psycopg://user@host/db "
        "(default: SQLite file in the data folder)",
    )
    serve.add_argument(
        "--orthanc-version", help="Orthanc release reported by /system (default 1.10.1)"
    )
    serve.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR (default INFO)")

    check = commands.add_parser(
        "check", help="compare the index with the storage area (run it with the server stopped)"
    )
    check.add_argument("--data", help="data folder to check (default ./orthanclite-data)")
    check.add_argument("--database-url", help="SQLAlchemy URL of the index, as for serve")
    check.add_argument(
        "--repair",
        action="store_true",
        help="move unreferenced files to DATA/quarantine, remove the rows of missing files "
        "and empty the staging folder",
    )
    return parser


def settings_from_arguments(arguments: argparse.Namespace) -> Settings:
    """Combine command-line options with ORTHANCLITE_* variables and defaults."""
    overrides: dict[str, Any] = {
        name: value
        for name, value in vars(arguments).items()
        if value is not None and name in Settings.model_fields
    }
    return Settings(**overrides)


def serve(settings: Settings) -> int:
    import uvicorn

    from orthanclite.app import create_app

    configure_logging(settings.log_level)
    # Past a file size limit (RLIMIT_FSIZE), a write then fails with EFBIG and
    # the upload gets an error, instead of SIGXFSZ killing the server.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    logger.info(
        "Starting on http://%s:%d with data folder %s",
        settings.host,
        settings.port,
        settings.data.resolve(),
    )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        server_header=False,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    if arguments.command == "serve":
        return serve(settings_from_arguments(arguments))
    if arguments.command == "check":
        from orthanclite.check import run_check

        configure_logging("WARNING")
        return run_check(settings_from_arguments(arguments), arguments.repair)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
