"""Server settings, read from command-line options and ORTHANCLITE_* variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# The REST API version that Orthanc reports for each release orthanclite can
# present itself as. Clients such as pyorthanc gate features on these values.
API_VERSIONS = {"1.10.1": 16, "1.11.0": 17, "1.12.0": 20, "1.12.1": 21}


class Settings(BaseSettings):
    """Effective configuration of one server.

    Every field can be set by an environment variable named ``ORTHANCLITE_``
    plus the field name in capitals, for example ``ORTHANCLITE_PORT=8043``.
    """

    model_config = SettingsConfigDict(env_prefix="ORTHANCLITE_", extra="ignore")

    host: str = Field("127.0.0.1", description="Address the HTTP server listens on.")
    port: int = Field(8042, ge=1, le=65535, description="HTTP port (Orthanc's HttpPort).")
    data: Path = Field(
        Path("orthanclite-data"),
        description="Folder holding the storage area and the SQLite index.",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the index; default: SQLite file in the data folder.",
    )
    orthanc_version: str = Field(
        "1.10.1",
        description="Orthanc release whose REST API is reported in /system.",
    )
    name: str = Field("orthanclite", description="Server name shown in /system.")
    stable_age: int = Field(
        60, ge=1, description="Seconds without new instances before a resource is stable."
    )
    overwrite_instances: bool = Field(
        False, description="Replace an instance uploaded again instead of keeping the first."
    )
    fsync: bool = Field(
        True, description="Flush each stored file to disk before indexing it."
    )
    log_level: str = Field("INFO", description="Logging level of the server.")
    archive_compression: Literal["deflated", "stored"] = Field(
        "deflated",
        description="How ZIP archives and media store their members: deflated (as "
        "Orthanc) or stored (no compression, faster).",
    )
    archive_compression_level: int = Field(
        1, ge=0, le=9, description="zlib level of deflated archive members (1: fastest)."
    )

    @property
    def storage_dir(self) -> Path:
        return self.data / "storage"

    @property
    def staging_dir(self) -> Path:
        return self.data / "staging"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data / 'index.sqlite').resolve()}"

    @property
    def api_version(self) -> int:
        return API_VERSIONS.get(self.orthanc_version, API_VERSIONS["1.10.1"])
