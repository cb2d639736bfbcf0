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
    port: int = Field(
        8042, ge=0, le=65535, description="HTTP port (Orthanc's HttpPort); 0 picks a free one."
    )
    data: Path = Field(
        Path("orthanclite-data"),
        description="Folder holding the storage area and the SQLite index.",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the index; default: SQLite file in the data folder.",
    )
    # 1.12.0 is the first Orthanc release with every feature offered here
    # (labels are new in 1.12.0), so clients that gate on it enable them.
    orthanc_version: str = Field(
        "1.12.0",
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
    workers: int = Field(
        0,
        ge=0,
        le=64,
        description="Server processes sharing the HTTP port; 0 means one per CPU core.",
    )
    remote_access_allowed: bool = Field(
        False,
        description="Accept clients from other hosts without authentication "
        "(Orthanc's RemoteAccessAllowed).",
    )
    authentication_enabled: bool | None = Field(
        None,
        description="Require HTTP Basic credentials; unset means enabled when "
        "users are registered (Orthanc's AuthenticationEnabled).",
    )
    registered_users: dict[str, str] = Field(
        default_factory=dict,
        description="User names and passwords for HTTP Basic authentication "
        "(Orthanc's RegisteredUsers).",
    )
    ssl_certfile: Path | None = Field(
        None, description="PEM certificate (may also hold the key) to serve HTTPS."
    )
    ssl_keyfile: Path | None = Field(
        None, description="PEM private key, when not in the certificate file."
    )
    max_request_size: int = Field(
        4 * 1024**3, ge=1, description="Largest request body accepted, in bytes."
    )
    body_timeout: float = Field(
        60.0, gt=0, description="Seconds to wait for the next part of a request body."
    )
    maximum_storage_size: int = Field(
        0, ge=0, description="Storage quota in MB, 0 for none (Orthanc's MaximumStorageSize)."
    )
    maximum_patient_count: int = Field(
        0, ge=0, description="Most patients kept, 0 for no limit (MaximumPatientCount)."
    )
    maximum_storage_mode: Literal["Recycle", "Reject"] = Field(
        "Recycle",
        description="When a quota is reached: delete the oldest unprotected "
        "patients, or reject the upload.",
    )

    storage_directory: Path | None = Field(
        None, description="Folder of the stored files; default: storage/ in the data folder."
    )
    index_directory: Path | None = Field(
        None, description="Folder of the SQLite index; default: the data folder."
    )
    default_encoding: str = Field(
        "Latin1",
        description="Character set of files without Specific Character Set (Orthanc's "
        "DefaultEncoding); PUT /tools/default-encoding overrides it at run time.",
    )
    user_metadata: dict[str, int] = Field(
        default_factory=dict,
        description="Names of user metadata and their numbers, from 1024 to 65535 "
        '(Orthanc\'s UserMetadata), for example {"Sample": 1024}.',
    )
    dicom_dictionary: Path | None = Field(
        None,
        description="Folder of DCMTK's dicom.dic and private.dic, which name the tags "
        "as Orthanc does. By default DCMDICTPATH is read, then the folders where "
        "Linux packages install DCMTK.",
    )
    max_frame_size: int = Field(
        256 * 1024 * 1024,
        ge=1,
        description="Maximum bytes of one decoded frame; larger frames get 415.",
    )
    zip_max_members: int = Field(
        100_000, ge=1, description="Maximum number of members of an uploaded ZIP archive."
    )
    zip_max_uncompressed: int = Field(
        64 * 1024**3,
        ge=1,
        description="Maximum total uncompressed size, in bytes, of an uploaded ZIP archive.",
    )
    # Deflate cannot exceed about 1032:1, and a blank image nearly reaches it.
    # The default therefore stops bzip2 and LZMA bombs only, and the total
    # size limit above bounds Deflate bombs.
    zip_max_ratio: int = Field(
        2000,
        ge=1,
        description="Maximum ratio of uncompressed to compressed size of one ZIP member, "
        "checked once the member exceeds 1 MiB.",
    )
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
        return self.storage_directory or self.data / "storage"

    @property
    def staging_dir(self) -> Path:
        # Staged files are renamed into the storage tree, so they must live
        # on the same file system: beside the tree, or inside a custom one.
        if self.storage_directory:
            return self.storage_directory / "staging"
        return self.data / "staging"

    @property
    def pending_dir(self) -> Path:
        """Folder of the pending journals (see ``orthanclite.storage``)."""
        return self.data / "pending"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        folder = self.index_directory or self.data
        return f"sqlite:///{(folder / 'index.sqlite').resolve()}"

    @property
    def authentication_required(self) -> bool:
        if self.authentication_enabled is None:
            return bool(self.registered_users)
        return self.authentication_enabled

    @property
    def accepts_remote_clients(self) -> bool:
        return self.remote_access_allowed or self.authentication_required

    @property
    def reports_labels(self) -> bool:
        """Tell whether resources show ``Labels``, as Orthanc does from 1.12.0."""
        return self.api_version >= API_VERSIONS["1.12.0"]

    @property
    def api_version(self) -> int:
        return API_VERSIONS.get(self.orthanc_version, API_VERSIONS["1.10.1"])
