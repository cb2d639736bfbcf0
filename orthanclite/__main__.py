"""Entry point for ``python -m orthanclite``."""

from orthanclite.cli import main

raise SystemExit(main())
