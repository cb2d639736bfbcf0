"""Initial schema: resources, attachments, metadata, changes, identifiers.

Revision ID: 0001
Revises:
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "resources",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("level", sa.SmallInteger, nullable=False),
        sa.Column("public_id", sa.String(44), nullable=False, unique=True),
        sa.Column(
            "parent_id",
            sa.Integer,
            sa.ForeignKey("resources.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column("main_tags", sa.JSON, nullable=False),
        sa.Column("patient_tags", sa.JSON, nullable=True),
        sa.Column("last_update", sa.String(15), nullable=False),
        sa.Column("last_instance_time", sa.Float, nullable=False, server_default="0"),
        sa.Column("is_protected", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_resources_parent_id", "resources", ["parent_id"])
    op.create_index("ix_resources_level_id", "resources", ["level", "id"])

    op.create_table(
        "attachments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "resource_id",
            sa.Integer,
            sa.ForeignKey("resources.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("content_type", sa.SmallInteger, nullable=False),
        sa.Column("uuid", sa.String(36), nullable=False, unique=True),
        sa.Column("compressed_size", sa.BigInteger, nullable=False),
        sa.Column("uncompressed_size", sa.BigInteger, nullable=False),
        sa.Column("compression", sa.SmallInteger, nullable=False, server_default="0"),
        sa.Column("compressed_md5", sa.String(32), nullable=False),
        sa.Column("uncompressed_md5", sa.String(32), nullable=False),
        sa.UniqueConstraint("resource_id", "content_type"),
    )
    op.create_index("ix_attachments_resource_id", "attachments", ["resource_id"])

    op.create_table(
        "metadata",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "resource_id",
            sa.Integer,
            sa.ForeignKey("resources.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.UniqueConstraint("resource_id", "name"),
    )

    op.create_table(
        "changes",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("change_type", sa.String(32), nullable=False),
        sa.Column(
            "resource_id",
            sa.Integer,
            sa.ForeignKey("resources.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column("level", sa.SmallInteger, nullable=False),
        sa.Column("public_id", sa.String(44), nullable=False),
        sa.Column("date", sa.String(15), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_changes_resource_id", "changes", ["resource_id"])

    op.create_table(
        "dicom_identifiers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "resource_id",
            sa.Integer,
            sa.ForeignKey("resources.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("tag", sa.Integer, nullable=False),
        sa.Column("value", sa.String(256), nullable=False),
    )
    op.create_index(
        "ix_dicom_identifiers_resource_id", "dicom_identifiers", ["resource_id"]
    )
    op.create_index("ix_dicom_identifiers_tag_value", "dicom_identifiers", ["tag", "value"])

    op.create_table(
        "global_properties",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "global_properties",
        "dicom_identifiers",
        "changes",
        "metadata",
        "attachments",
        "resources",
    ):
        op.drop_table(table)
