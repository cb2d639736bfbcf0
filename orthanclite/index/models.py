"""Tables of the index (SQLAlchemy 2 typed models)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Content type of the DICOM attachment, as Orthanc numbers it.
DICOM_ATTACHMENT = 1


class Base(DeclarativeBase):
    pass


class Resource(Base):
    """A patient, study, series or instance; ``id`` order is insertion order."""

    __tablename__ = "resources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    level: Mapped[int] = mapped_column(SmallInteger)
    public_id: Mapped[str] = mapped_column(String(44), unique=True)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("resources.id", ondelete="CASCADE"), index=True
    )
    main_tags: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Patient main tags as read from a study's first instance (studies only).
    patient_tags: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    last_update: Mapped[str] = mapped_column(String(15))
    # Seconds since the epoch of the last instance received below this resource.
    last_instance_time: Mapped[float] = mapped_column(default=0.0)
    is_protected: Mapped[bool] = mapped_column(Boolean, default=False)
    # ``last_instance_time`` for which a Stable* change was logged; the
    # resource awaits its Stable* change while the two differ.
    stable_time: Mapped[float] = mapped_column(default=0.0)

    __table_args__ = (Index("ix_resources_level_id", "level", "id"),)


class Attachment(Base):
    """A file of the storage area attached to a resource."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_id: Mapped[int] = mapped_column(
        ForeignKey("resources.id", ondelete="CASCADE"), index=True
    )
    content_type: Mapped[int] = mapped_column(SmallInteger)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    compressed_size: Mapped[int] = mapped_column(BigInteger)
    uncompressed_size: Mapped[int] = mapped_column(BigInteger)
    compression: Mapped[int] = mapped_column(SmallInteger, default=0)
    compressed_md5: Mapped[str] = mapped_column(String(32))
    uncompressed_md5: Mapped[str] = mapped_column(String(32))

    __table_args__ = (UniqueConstraint("resource_id", "content_type"),)


class Metadata(Base):
    """A named text value of a resource; ``id`` order is insertion order."""

    __tablename__ = "metadata"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_id: Mapped[int] = mapped_column(
        ForeignKey("resources.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("resource_id", "name"),)


class Change(Base):
    """One event of the change log read by ``GET /changes``.

    The rows of a resource go away with it (foreign key cascade), as Orthanc
    erases the changes of deleted resources.
    """

    __tablename__ = "changes"
    __table_args__ = {"sqlite_autoincrement": True}

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    change_type: Mapped[str] = mapped_column(String(32))
    resource_id: Mapped[int | None] = mapped_column(
        ForeignKey("resources.id", ondelete="CASCADE"), index=True
    )
    level: Mapped[int] = mapped_column(SmallInteger)
    public_id: Mapped[str] = mapped_column(String(44))
    date: Mapped[str] = mapped_column(String(15))


class DicomIdentifier(Base):
    """A normalized identifying value of a resource, for lookups and searches.

    ``value`` is upper-cased without accents, so that case-insensitive
    matching uses the index.
    """

    __tablename__ = "dicom_identifiers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_id: Mapped[int] = mapped_column(
        ForeignKey("resources.id", ondelete="CASCADE"), index=True
    )
    tag: Mapped[int] = mapped_column(Integer)
    value: Mapped[str] = mapped_column(String(256))

    __table_args__ = (
        Index("ix_dicom_identifiers_search", "tag", "value", "resource_id"),
    )


class Label(Base):
    """A label attached to a resource (Orthanc 1.12 labels)."""

    __tablename__ = "labels"

    resource_id: Mapped[int] = mapped_column(
        ForeignKey("resources.id", ondelete="CASCADE"), primary_key=True
    )
    label: Mapped[str] = mapped_column(String(64), primary_key=True)

    __table_args__ = (Index("ix_labels_label", "label"),)


class GlobalProperty(Base):
    """A server-wide setting changed at run time (such as the default encoding)."""

    __tablename__ = "global_properties"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
