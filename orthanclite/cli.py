"""Command line: ``orthanclite serve`` runs the HTTP server, ``check`` checks its data."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from orthanclite import __version__
from orthanclite.config import Settings
from orthanclite.logs import configure_logging
from orthanclite.orthanc_config import load_orthanc_config

logger = logging.getLogger(__name__)

# Seconds to wait for the data folder while the processes of a server that
# used it exit.
DATA_FOLDER_WAIT = 10.0


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
        "--orthanc-version", help="Orthanc release reported by /system (default 1.12.0)"
    )
    serve.add_argument(
        "--stable-age",
        type=int,
        help="seconds without new instances before a resource is stable (default 60)",
    )
    serve.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    serve.add_argument(
        "--workers",
        type=int,
        help="server processes sharing the port (default 0: one per CPU core)",
    )
    serve.add_argument(
        "--config",
        type=Path,
        help="Orthanc configuration file (JSON) whose supported options are applied",
    )
    serve.add_argument("--ssl-certfile", help="PEM certificate to serve HTTPS")
    serve.add_argument("--ssl-keyfile", help="PEM private key, if not in the certificate")

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
    """Combine the settings sources, the first one winning.

    The order is: command-line options, ORTHANCLITE_* variables, the Orthanc
    configuration file, then the defaults.
    """
    values: dict[str, Any] = {}
    config_path = getattr(arguments, "config", None)
    if config_path is not None:
        values = {
            name: value
            for name, value in load_orthanc_config(config_path).items()
            if f"ORTHANCLITE_{name.upper()}" not in os.environ
        }
    values.update(
        (name, value)
        for name, value in vars(arguments).items()
        if value is not None and name in Settings.model_fields
    )
    return Settings(**values)


def check_listening_address(settings: Settings) -> None:
    """Refuse to serve other hosts without authentication, unless allowed.

    Raises
    ------
    SystemExit
        If the address is not a loopback one, no user is registered and
        remote access without authentication was not allowed explicitly.
    """
    if is_loopback(settings.host):
        return
    if settings.authentication_required:
        return
    if settings.remote_access_allowed:
        logger.warning(
            "Listening on %s without authentication: anybody who reaches this port "
            "can read and delete every instance",
            settings.host,
        )
        return
    raise SystemExit(
        f"Refusing to listen on {settings.host} without authentication: register users "
        "(ORTHANCLITE_REGISTERED_USERS or RegisteredUsers in --config), or set "
        "ORTHANCLITE_REMOTE_ACCESS_ALLOWED=true to accept anybody"
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(settings: Settings) -> int:
    import uvicorn

    from orthanclite.app import create_app
    from orthanclite.context import ServerContext
    from orthanclite.locks import FileLock
    from orthanclite.shared import SharedSettings
    from orthanclite.workers import Supervisor, worker_count

    configure_logging(settings.log_level)
    check_listening_address(settings)
    # Past a file size limit (RLIMIT_FSIZE), a write then fails with EFBIG and
    # the upload gets an error, instead of SIGXFSZ killing the server.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    workers = worker_count(settings.workers)
    # The lock is held until the last process of this server exits: the
    # workers inherit it. Waiting a little lets the workers of a server that
    # was just killed exit first.
    settings.data.mkdir(parents=True, exist_ok=True)
    folder_lock = FileLock(settings.data / "server.lock")
    deadline = time.monotonic() + DATA_FOLDER_WAIT
    while not folder_lock.try_acquire():
        if time.monotonic() > deadline:
            logger.error(
                "Another server is using the data folder %s; stop it or choose another folder",
                settings.data.resolve(),
            )
            return 1
        time.sleep(0.1)
    logger.info(
        "Starting on %s://%s:%d with data folder %s and %d worker process(es)",
        "https" if settings.ssl_certfile else "http",
        settings.host,
        settings.port,
        settings.data.resolve(),
        workers,
    )
    # The data folder is prepared once, before any worker starts, and the
    # connections used for it are closed so that no worker inherits them.
    shared = SharedSettings(settings.default_encoding)
    context = ServerContext(settings, shared)
    try:
        context.prepare_data_folder()
    finally:
        context.close()
    config = uvicorn.Config(
        create_app(settings, shared),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        server_header=False,
        ssl_certfile=settings.ssl_certfile,
        ssl_keyfile=settings.ssl_keyfile or settings.ssl_certfile,
        timeout_keep_alive=5,
    )
    if workers == 1:
        uvicorn.Server(config).run()
        return 0
    return Supervisor(config, workers).run()


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    # Reading the configuration may log warnings before the level is known.
    configure_logging()
    if arguments.command == "serve":
        try:
            settings = settings_from_arguments(arguments)
        except (ValueError, OSError) as error:
            logger.error("Invalid configuration: %s", error)
            return 2
        return serve(settings)
    if arguments.command == "check":
        from orthanclite.check import run_check

        configure_logging("WARNING")
        return run_check(settings_from_arguments(arguments), arguments.repair)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
